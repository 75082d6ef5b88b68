"""The customer's tutorial (docs/tutorial-python.md: its code blocks, verbatim from
"Encrypted Communication"), run block by block against a real deployment. The test only
fills in the placeholders and does what the tutorial leaves to the application: the
devices (`virgil` for Alice, then for Bob), the account, and `send_to_srv`."""

import re
from pathlib import Path

import pytest

from conftest import KEY_PASSWORD, PASSWORD
from virgil import VirgilBuffer

ROOT = Path(__file__).resolve().parents[3]
TUTORIAL = ROOT / "docs" / "tutorial-python.md"
SEED = ROOT.parent / "shared" / "seed" / "encrypted-communication.md"


def python_blocks(markdown: str) -> list:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


BLOCKS = python_blocks(TUTORIAL.read_text())


def test_the_blocks_are_the_tutorials_own():
    assert len(BLOCKS) == 4, "register, transmit, sign & encrypt, decrypt & verify"
    if not SEED.exists():
        pytest.skip(f"the customer's tutorial is not at {SEED} on this machine")
    assert BLOCKS == python_blocks(SEED.read_text())


def run(block: str, namespace: dict, **placeholders: str):
    for name, value in placeholders.items():
        block = block.replace(f'"[{name}]"', repr(value))
    assert "[" not in re.sub(r"\[[a-z_, ]*\]", "", block), f"a placeholder is left:\n{block}"
    exec(compile(block, str(TUTORIAL), "exec"), namespace)


def test_alice_and_bob_as_in_the_tutorial(deployment):
    register, transmit, sign_and_encrypt, decrypt_and_verify = BLOCKS
    alice, bob = deployment.name("alice"), deployment.name("bob")

    def device(who: str) -> dict:
        # "Set Up Clients": the SDK configured for the deployment, the user registered
        # at the application server and logged in; send_to_srv submits the card for
        # approval and publication.
        virgil = deployment.device(who)
        virgil.account.register(who, PASSWORD)
        virgil.account.login(who, PASSWORD)
        return {"virgil": virgil, "VirgilBuffer": VirgilBuffer,
                "send_to_srv": virgil.account.publish_card}

    alice_device, bob_device = device(alice), device(bob)
    # "Register Users", for Alice as written and for Bob the same way.
    for who, namespace in ((alice, alice_device), (bob, bob_device)):
        run(register.replace('"alice"', repr(who)), namespace,
            KEY_NAME=who, KEY_PASSWORD=KEY_PASSWORD)
        run(transmit, namespace)
    alice_card_id = alice_device["alice_card"].id

    # "Sign & Encrypt": Alice's device finds Bob's cards.
    run(sign_and_encrypt.replace('"bob"', repr(bob)), alice_device,
        KEY_NAME=alice, OPTIONAL_KEY_PASSWORD=KEY_PASSWORD)
    cipher_text = alice_device["cipher_text"]
    assert isinstance(cipher_text, str) and cipher_text.startswith("VkdMR")

    # Transmission (any channel), then "Decrypt & Verify" on Bob's device.
    bob_device["cipher_text"] = cipher_text
    run(decrypt_and_verify, bob_device,
        KEY_NAME=bob, OPTIONAL_KEY_PASSWORD=KEY_PASSWORD, ALICE_CARD_ID=alice_card_id)
    assert bob_device["original_message"] == "Hey Bob, how's it going?"

    # Alice included herself: she can read what she sent.
    alice_key = alice_device["alice_key"]
    mine = alice_key.decrypt_then_verify(VirgilBuffer.from_string(cipher_text, "base64"),
                                         alice_device["virgil"].cards.get(alice_card_id))
    assert mine.to_string() == "Hey Bob, how's it going?"


def test_the_tutorial_script_prints_bobs_message():
    """README's Python quick start: the installed wheel, then the tutorial script, which
    starts its own deployment."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "examples" / "tutorial.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "bob read, signed by alice: Hey Bob, how's it going?" in result.stdout


def test_the_backup_section_restores_alices_key(deployment):
    """docs/tutorial-python.md's `py` block beyond the tutorial: back up, restore."""
    [backup] = re.findall(r"```py\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    alice = deployment.name("alice")
    virgil = deployment.device(alice)
    virgil.account.register(alice, PASSWORD)
    virgil.account.login(alice, PASSWORD)
    alice_key = virgil.keys.generate()
    new_virgil = deployment.device(deployment.name("alice-new"))
    new_virgil.account.login(alice, PASSWORD)
    namespace = {"virgil": virgil, "new_virgil": new_virgil, "alice_key": alice_key}
    run(backup, namespace, BACKUP_PASSWORD="a backup password", KEY_NAME=alice,
        KEY_PASSWORD=KEY_PASSWORD)
    assert namespace["alice_key"] == alice_key
    assert new_virgil.keys.load(alice, KEY_PASSWORD) == alice_key
