"""The customer's tutorial, "Encrypted Communication", end to end in Python.

Starts a local deployment (the cards service and the application server, from the
`virgil` binary: $VIRGIL_BIN, `virgil` on PATH, or the workspace's target/debug/virgil),
then does what the tutorial shows: Alice and Bob generate and save keys, create cards
and submit them to the application server; Alice signs and encrypts a message for Bob;
Bob decrypts it and verifies Alice's signature. Prints Bob's decrypted message.

    python crates/virgil-py/examples/tutorial.py
"""

from virgil import VirgilBuffer
from virgil.local import LocalDeployment

ACCOUNT_PASSWORD = "correct horse battery staple"
KEY_PASSWORD = "a key password"


def register(local: LocalDeployment, name: str):
    """One user's device: the SDK for the deployment, an account at the application
    server, then the tutorial's "Register Users" and "Transmit the card"."""
    virgil = local.device(name)
    virgil.account.register(name, ACCOUNT_PASSWORD)
    virgil.account.login(name, ACCOUNT_PASSWORD)

    key = virgil.keys.generate()
    key.save(name, KEY_PASSWORD)
    identity = virgil.identities.create_user(name)
    card = virgil.cards.create(identity, key)

    exported_card = card.export()
    # send_to_srv: the application server approves the card, the cards service publishes it
    published = virgil.account.publish_card(exported_card)
    print(f"{name}: published card {published.id}")
    return virgil, published


def main() -> None:
    with LocalDeployment() as local:
        alice, alice_card = register(local, "alice")
        bob, _ = register(local, "bob")

        # Alice: sign & encrypt
        alice_key = alice.keys.load("alice", KEY_PASSWORD)
        bob_cards = alice.cards.find("bob")
        message = "Hey Bob, how's it going?"
        cipher_text = alice.sign_then_encrypt(message, [alice_key, bob_cards]).to_string("base64")
        print(f"alice -> bob: {cipher_text[:40]}... ({len(cipher_text)} base64 characters)")

        # Bob: decrypt & verify
        bob_key = bob.keys.load("bob", KEY_PASSWORD)
        alice_card = bob.cards.get(alice_card.id)
        cipher_buff = VirgilBuffer.from_string(cipher_text, "base64")
        original_message = bob_key.decrypt_then_verify(cipher_buff, alice_card).to_string()
        print(f"bob read, signed by alice: {original_message}")


if __name__ == "__main__":
    main()
