"""The SDK beyond the tutorial: interop with the Rust CLI both ways, every bad input the
Rust API rejects raising its exception, secrets kept out of reprs, the GIL released
during crypto, files streamed with flat memory, the relay, and key-change events."""

import hashlib
import io
import json
import subprocess
import sys
import threading
import time

import pytest

import virgil
from conftest import KEY_PASSWORD, PASSWORD
from virgil import VirgilBuffer


@pytest.fixture(scope="module")
def alice(deployment):
    return deployment.user("alice")


@pytest.fixture(scope="module")
def bob(deployment):
    return deployment.user("bob")


@pytest.fixture(scope="module")
def carol(deployment):
    return deployment.user("carol")


def logged_in_cli(deployment, name):
    deployment.cli(name, "login", name)
    return lambda *args, **kw: deployment.cli(name, *args, **kw)


# ---- interop with the Rust CLI ------------------------------------------------------

def test_python_encrypts_the_cli_decrypts(deployment, alice, bob, tmp_path):
    _, alice_key, _, alice_name = alice
    _, _, bob_card, bob_name = bob
    plain = b"from python \x00\xff" * 10_000
    sealed = tmp_path / "from-python.vgl"
    with io.BytesIO(plain) as src, open(sealed, "wb") as dst:
        assert alice_key.encrypt_file(src, dst, bob_card) == len(plain)
    bob_cli = logged_in_cli(deployment, bob_name)
    out = tmp_path / "out"
    bob_cli("decrypt", "--from", alice_name, "-o", str(out), str(sealed))
    assert out.read_bytes() == plain

    # The one-shot form, as base64 text on stdin.
    text = alice_key.sign_then_encrypt("one shot", bob_card).to_string("base64")
    sealed.write_bytes(VirgilBuffer.from_string(text, "base64").to_bytes())
    result = bob_cli("decrypt", "--from", alice_name, str(sealed))
    assert result.stdout == b"one shot"


def test_the_cli_encrypts_python_decrypts(deployment, alice, bob, tmp_path):
    alice_device, _, _, alice_name = alice
    _, bob_key, _, bob_name = bob
    alice_cli = logged_in_cli(deployment, alice_name)
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"from the cli\n" * 5000)
    for armor in ([], ["--armor"]):
        sealed = tmp_path / f"from-cli{len(armor)}.vgl"
        alice_cli("encrypt", "--to", bob_name, *armor, "-o", str(sealed), str(plain))
        alice_card = alice_device.cards.find(alice_name)
        opened = bob_key.decrypt_then_verify(sealed.read_bytes(), alice_card)
        assert opened.to_bytes() == plain.read_bytes()
        out = io.BytesIO()
        with open(sealed, "rb") as src:
            signer = bob_key.decrypt_file(src, out, alice_card)
        assert out.getvalue() == plain.read_bytes()
        assert signer.identity == alice_name


def test_errors_say_what_the_cli_says(deployment, alice, bob, carol, tmp_path):
    _, alice_key, alice_card, alice_name = alice
    _, _, bob_card, _ = bob
    _, carol_key, _, carol_name = carol
    sealed = tmp_path / "for-bob.vgl"
    sealed.write_bytes(alice_key.sign_then_encrypt("for bob", bob_card).to_bytes())
    result = logged_in_cli(deployment, carol_name)(
        "decrypt", "--from", alice_name, str(sealed), check=False)
    assert result.returncode != 0
    with pytest.raises(virgil.DecryptionError) as raised:
        carol_key.decrypt_then_verify(sealed.read_bytes(), alice_card)
    # The CLI names the key by its file name, the SDK by its id; the finding is the same.
    assert "not encrypted for this key" in str(raised.value)
    assert "not encrypted for key" in result.stderr.decode()


def test_messages_and_ciphertexts_in_every_form(alice, bob):
    _, alice_key, alice_card, _ = alice
    _, bob_key, bob_card, _ = bob
    text = "Grüße, Bob"
    for message in (text, text.encode(), bytearray(text.encode()), VirgilBuffer(text)):
        sealed = alice_key.sign_then_encrypt(message, [bob_card])
        for cipher in (sealed, sealed.to_bytes(), sealed.to_string("base64"),
                       sealed.to_string("base64") + "\n",
                       VirgilBuffer.from_string(sealed.to_string("base64"))):
            assert bob_key.decrypt_then_verify(cipher, [alice_card]).to_string() == text
    armored = io.BytesIO()
    alice_key.encrypt_file(io.BytesIO(text.encode()), armored, bob_card, armor=True)
    assert armored.getvalue().startswith(b"-----BEGIN VIRGIL MESSAGE-----")
    assert bob_key.decrypt_then_verify(armored.getvalue().decode(), alice_card).to_string() == text
    assert VirgilBuffer.from_string(text).to_string("hex") == text.encode().hex()
    with pytest.raises(ValueError):
        VirgilBuffer.from_string("not base64!", "base64")
    with pytest.raises(TypeError):
        alice_key.sign_then_encrypt(12345, bob_card)


def test_post_quantum_keys_talk_to_classic_ones(deployment, alice, bob):
    """Issue 15: a post-quantum (X-Wing) user and classic users, through the real
    servers, in both directions; the suite is visible and a bad suite name is refused."""
    _, alice_key, alice_card, _ = alice
    _, bob_key, bob_card, _ = bob
    dora_device, dora_key, dora_card, _ = deployment.user("dora", suite="pq")
    assert (dora_key.suite, alice_key.suite) == ("pq", "classic")
    to_dora = alice_key.sign_then_encrypt("to pq dora", [dora_card, bob_card])
    assert dora_key.decrypt_then_verify(to_dora, alice_card).to_string() == "to pq dora"
    assert bob_key.decrypt_then_verify(to_dora, alice_card).to_string() == "to pq dora"
    from_dora = dora_key.sign_then_encrypt("from pq dora", alice_card)
    assert alice_key.decrypt_then_verify(from_dora, dora_card).to_string() == "from pq dora"
    assert len(to_dora.to_bytes()) > 1201 + 145
    with pytest.raises(ValueError):
        dora_device.keys.generate("kyber")


def test_the_deployments_policy_guards_unsigned_messages_too(deployment, alice, tmp_path):
    """A deployment with `require_post_quantum` refuses a classic recipient on every
    way a Python device encrypts: signed or not, one-shot or streamed."""
    _, _, alice_card, _ = alice
    strict_toml = deployment.client_toml.with_name("client-strict.toml")
    strict_toml.write_text("require_post_quantum = true\n"
                           + deployment.client_toml.read_text())
    strict = virgil.Virgil.from_config(strict_toml, key_dir=tmp_path / "keys")
    pq_key = strict.keys.generate("pq")
    doors = {
        "Virgil.encrypt": lambda: strict.encrypt("x", alice_card),
        "sign_then_encrypt": lambda: pq_key.sign_then_encrypt("x", alice_card),
        "encrypt_file": lambda: pq_key.encrypt_file(io.BytesIO(b"x"), io.BytesIO(), alice_card),
        "encrypt_file(sign=False)": lambda: pq_key.encrypt_file(
            io.BytesIO(b"x"), io.BytesIO(), alice_card, sign=False),
    }
    for door, encrypt in doors.items():
        with pytest.raises(virgil.VirgilError, match="classic"):
            encrypt()
            pytest.fail(f"{door} encrypted to a classic card")
    # A post-quantum recipient passes.
    pq_card = strict.cards.create(strict.identities.create_user("pq-only"), pq_key)
    assert pq_key.decrypt(strict.encrypt("ok", pq_card)).to_string() == "ok"


# ---- every bad input raises its exception --------------------------------------------

def test_tampered_ciphertext_is_a_decryption_error(alice, bob):
    _, alice_key, alice_card, _ = alice
    _, bob_key, bob_card, _ = bob
    sealed = bytearray(alice_key.sign_then_encrypt(b"x" * 1000, bob_card).to_bytes())
    for position in (len(sealed) // 2, len(sealed) - 1, 40):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(virgil.DecryptionError):
            bob_key.decrypt_then_verify(bytes(tampered), alice_card)
    with pytest.raises(virgil.DecryptionError):
        bob_key.decrypt_then_verify(bytes(sealed[: len(sealed) - 5]), alice_card)
    # Neither bytes nor text that is an envelope: the caller's mistake, said as such.
    with pytest.raises((ValueError, virgil.DecryptionError)):
        bob_key.decrypt_then_verify("hello", alice_card)


def test_wrong_key_is_a_decryption_error(alice, bob, carol):
    _, alice_key, alice_card, _ = alice
    _, _, bob_card, _ = bob
    _, carol_key, _, _ = carol
    sealed = alice_key.sign_then_encrypt("for bob", bob_card)
    with pytest.raises(virgil.DecryptionError, match="not encrypted for this key"):
        carol_key.decrypt_then_verify(sealed, alice_card)


def test_wrong_sender_is_a_verification_error(alice, bob, carol):
    _, alice_key, _, _ = alice
    _, bob_key, bob_card, _ = bob
    _, _, carol_card, _ = carol
    sealed = alice_key.sign_then_encrypt("from alice", bob_card)
    with pytest.raises(virgil.VerificationError):
        bob_key.decrypt_then_verify(sealed, carol_card)
    with pytest.raises(virgil.VerificationError):
        bob_key.decrypt_file(io.BytesIO(sealed.to_bytes()), io.BytesIO(), carol_card)
    # Unsigned files are refused by decrypt_file too.
    unsigned = io.BytesIO()
    alice_key.encrypt_file(io.BytesIO(b"anonymous"), unsigned, bob_card, sign=False)
    with pytest.raises(virgil.VerificationError):
        bob_key.decrypt_file(io.BytesIO(unsigned.getvalue()), io.BytesIO(), carol_card)
    # ...and readable without a sender by the recipients only: unsigned has no sender,
    # so no sender's copy, in both tiers.
    assert bob_key.decrypt(unsigned.getvalue()).to_bytes() == b"anonymous"
    with pytest.raises(virgil.DecryptionError):
        alice_key.decrypt(unsigned.getvalue())


def test_unsigned_one_shot_matches_the_streaming_tier(alice, bob):
    device, alice_key, _, _ = alice
    _, bob_key, bob_card, _ = bob
    sealed = device.encrypt("an anonymous tip", bob_card)
    assert bob_key.decrypt(sealed).to_string() == "an anonymous tip"
    with pytest.raises(virgil.DecryptionError):
        alice_key.decrypt(sealed)
    with pytest.raises(virgil.VerificationError):
        bob_key.decrypt_then_verify(sealed, alice[2])
    # A signed message reaches its sender in both tiers.
    signed = alice_key.sign_then_encrypt("hi", bob_card)
    assert alice_key.decrypt(signed).to_string() == "hi"


def test_key_store_errors(deployment, alice):
    device, _, _, name = alice
    with pytest.raises(virgil.WrongPassword):
        device.keys.load(name, "not the password")
    with pytest.raises(virgil.KeyNotFound):
        device.keys.load(deployment.name("nobody"), KEY_PASSWORD)
    with pytest.raises(virgil.KeyExists):
        device.keys.generate().save(name, KEY_PASSWORD)
    assert name in device.keys.list()
    # Still the original key: KeyExists did not replace it.
    assert device.keys.load(name, KEY_PASSWORD).id == alice[1].id


def test_unknown_card(alice):
    device = alice[0]
    with pytest.raises(virgil.VirgilError) as raised:
        device.cards.get("ab" * 32)
    assert isinstance(raised.value, (virgil.CardNotFound, virgil.ServiceError))
    if isinstance(raised.value, virgil.ServiceError):
        assert raised.value.code == "card_not_found" and raised.value.status == 404
    with pytest.raises(ValueError):
        device.cards.get("not a card id")
    assert device.cards.find("nobody-" + "0" * 8) == []


def test_ended_and_missing_sessions(deployment, tmp_path):
    device, key, _, name = deployment.user("dave")
    # A second login (the CLI, another device) ends the Python device's session.
    cli = logged_in_cli(deployment, name)
    sessions = json.loads(cli("session", "list", "--json").stdout)["sessions"]
    for session in sessions:
        if not session["current"]:
            cli("session", "revoke", session["id"])
    with pytest.raises(virgil.ServiceError) as raised:
        device.messages.send(name, key, "to myself")
    assert raised.value.code == "invalid_session" and raised.value.status == 401
    device.account.logout()
    assert device.account.username is None
    with pytest.raises(virgil.NotLoggedIn):
        device.messages.send(name, key, "to myself")
    with pytest.raises(virgil.ServiceError) as raised:
        device.account.login(name, "wrong password")
    assert raised.value.code == "invalid_credentials"


# ---- no secret in a repr --------------------------------------------------------------

def test_reprs_hold_no_secrets(deployment, alice):
    device, key, card, _ = alice
    config = deployment.client_toml.read_text()
    app_key = next(line.split("=", 1)[1].strip().strip('"')
                   for line in config.splitlines() if line.startswith("app_key"))
    secret = VirgilBuffer.from_string("attack at dawn")
    for text in (repr(key), str(key), repr(device), repr(secret), repr(card)):
        assert app_key not in text and "attack at dawn" not in text
    assert key.id in repr(key)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(key)


# ---- the GIL is released during crypto ------------------------------------------------

def test_crypto_releases_the_gil(alice, bob):
    _, alice_key, _, _ = alice
    _, _, bob_card, _ = bob
    message = b"\x00" * (128 << 20)
    ticks = 0
    done = threading.Event()

    def seal():
        try:
            alice_key.sign_then_encrypt(message, bob_card)
        finally:
            done.set()

    worker = threading.Thread(target=seal)
    started = time.monotonic()
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.monotonic() - started
    # With the GIL held for the whole call this thread could not run until it returned.
    assert elapsed < 0.02 or ticks >= 5, (ticks, elapsed)


# ---- 1 GiB through encrypt_file / decrypt_file with flat memory ----------------------

STREAM_GIB = r"""
import hashlib, io, resource, sys, tempfile
from pathlib import Path
import virgil

SIZE = 1 << 30
client_toml, keys = sys.argv[1], sys.argv[2]
device = virgil.Virgil.from_config(client_toml, key_dir=keys)
key = device.keys.generate()
card = device.cards.create(device.identities.create_user("streamer"), key)

class Pattern(io.RawIOBase):
    # SIZE bytes of a repeating pattern, never all in memory.
    def __init__(self):
        self.left, self.digest = SIZE, hashlib.sha256()
        self.block = bytes(range(256)) * 1024
    def readable(self): return True
    def readinto(self, buffer):
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.digest.update(self.block[:n])
        self.left -= n
        return n

class Digest(io.RawIOBase):
    def __init__(self): self.digest, self.size = hashlib.sha256(), 0
    def writable(self): return True
    def write(self, data):
        self.digest.update(data); self.size += len(data); return len(data)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
source, sink = Pattern(), Digest()
with tempfile.TemporaryFile() as sealed:
    assert key.encrypt_file(source, sealed, card) == SIZE
    sealed.seek(0)
    key.decrypt_file(sealed, sink, card)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert sink.size == SIZE and sink.digest.digest() == source.digest.digest()
print((after - before) // 1024)  # MiB of peak growth
"""


def test_one_gib_streams_with_flat_memory(deployment, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", STREAM_GIB, str(deployment.client_toml), str(tmp_path / "keys")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    growth_mib = int(result.stdout.strip())
    assert growth_mib < 64, f"peak memory grew by {growth_mib} MiB streaming 1 GiB"


# ---- the relay and key changes --------------------------------------------------------

def test_send_and_inbox(alice, bob):
    _, alice_key, _, alice_name = alice
    bob_device, bob_key, _, bob_name = bob
    alice[0].messages.send(bob_name, alice_key, "over the relay")
    received, cursor = bob_device.messages.inbox(bob_key)
    mine = [message for message in received if message.sender == alice_name]
    assert [m.message.to_string() for m in mine] == ["over the relay"]
    assert all(m.error is None for m in mine)
    again, _ = bob_device.messages.inbox(bob_key, cursor)
    assert again == []


def test_a_reset_key_is_a_key_change_warning(deployment, alice, tmp_path):
    alice_device = deployment.device(deployment.name("alice-watch"),
                                     contacts_file=tmp_path / "contacts.json")
    alice_device.account.login(alice[3], PASSWORD)
    _, _, erin_card, erin = deployment.user("erin")
    assert [card.id for card in alice_device.cards.find(erin)] == [erin_card.id]
    # Erin lost every key: a reset card for a new key (the CLI; the cards service has
    # no reset delay in this deployment).
    cli = logged_in_cli(deployment, erin)
    cli("key", "generate", erin + "-new")
    cli("card", "reset", "--key", erin + "-new")
    with pytest.raises(virgil.KeyChangeWarning) as raised:
        alice_device.cards.find(erin)
    assert raised.value.identity == erin
    alice_device.contacts.accept(erin)
    assert [card.id for card in alice_device.cards.find(erin)] != [erin_card.id]


def test_an_access_token_source_is_used(deployment, alice):
    calls = []

    def token():
        calls.append(1)
        return "not.a.jwt"

    device = deployment.device(deployment.name("tokens"), access_token=token)
    with pytest.raises(virgil.ServiceError) as raised:
        device.cards.find(alice[3])
    assert calls and raised.value.code == "malformed_token" and raised.value.status == 401

    def broken():
        raise RuntimeError("token endpoint down")

    device = deployment.device(deployment.name("tokens"), access_token=broken)
    with pytest.raises(virgil.VirgilError, match="token endpoint down"):
        device.cards.find(alice[3])
    with pytest.raises(TypeError):
        deployment.device(deployment.name("tokens"), access_token="a token")


def test_sending_to_someone_without_a_card(deployment, alice):
    device, key, _, _ = alice
    no_card = deployment.name("no-card")
    deployment.device(no_card).account.register(no_card, PASSWORD)
    for to in (no_card, deployment.name("unregistered")):
        with pytest.raises(virgil.CardNotFound, match="has no card"):
            device.messages.send(to, key, "hello?")


def test_change_password(deployment):
    device = deployment.device(deployment.name("rekey"))
    key = device.keys.generate()
    key.save("mine", "old password")
    device.keys.change_password("mine", "old password", "new password")
    with pytest.raises(virgil.WrongPassword):
        device.keys.load("mine", "old password")
    assert device.keys.load("mine", "new password") == key


def test_self_check_and_safety_numbers(alice, bob):
    alice_device, _, alice_card, alice_name = alice
    bob_device, _, _, bob_name = bob
    assert [card.id for card in alice_device.self_check()] == [alice_card.id]
    assert [card.id for card in alice_device.monitor()] == [alice_card.id]
    number = alice_device.contacts.safety_number(bob_name)
    assert len(number.replace(" ", "")) == 60
    assert bob_device.contacts.safety_number(alice_name) == number


def test_a_card_the_owner_did_not_make_is_a_self_check_alarm(deployment):
    device, _, card, name = deployment.user("dana")
    # Someone with dana's password resets her cards from another device.
    thief = deployment.name("thief")
    deployment.cli(thief, "key", "generate", thief)
    deployment.cli(thief, "login", name)
    deployment.cli(thief, "card", "reset", "--key", thief)
    with pytest.raises(virgil.SelfCheckAlarm) as raised:
        device.self_check()
    assert raised.value.identity == name
    assert len(raised.value.cards) == 1 and raised.value.cards[0] != card.id
    assert isinstance(raised.value, virgil.VerificationError)
    with pytest.raises(virgil.SelfCheckAlarm):
        device.contacts.safety_number(name)
    # The monitor raises it too, as a MonitorAlarm (a SelfCheckAlarm) naming the card.
    with pytest.raises(virgil.MonitorAlarm) as raised:
        device.monitor()
    assert raised.value.identity == name
    assert raised.value.cards and card.id not in raised.value.cards


def test_changing_the_account_password(deployment):
    device, _, _, name = deployment.user("frank")
    with pytest.raises(virgil.ServiceError) as raised:
        device.account.change_password("not the password", "a new password")
    assert raised.value.code == "invalid_credentials"
    device.account.change_password(PASSWORD, "a new password")
    other = deployment.device(deployment.name("frank-other"))
    with pytest.raises(virgil.ServiceError) as raised:
        other.account.login(name, PASSWORD)
    assert raised.value.code == "invalid_credentials"
    other.account.login(name, "a new password")


def test_a_key_backup_restores_on_a_new_device(deployment, bob):
    device, key, _, name = deployment.user("gina")
    _, bob_key, _, _ = bob
    status = device.backups.status()
    assert status["stored_at"] is None and status["guesses"]["total"] == 0
    stored_at = device.backups.backup(key, "a backup password")
    bob[0].messages.send(name, bob_key, "while the phone was lost")

    # A new device of gina's: log in, restore with the backup password, read.
    new_device = deployment.device(deployment.name("gina-new"))
    new_device.account.login(name, PASSWORD)
    with pytest.raises(virgil.WrongPassword):
        new_device.backups.restore("not the backup password")
    restored = new_device.backups.restore("a backup password")
    assert restored == key
    restored.save(name, KEY_PASSWORD)
    received, _ = new_device.messages.inbox(restored)
    assert received[-1].message.to_bytes() == b"while the phone was lost"

    status = new_device.backups.status()
    assert status["stored_at"] == stored_at
    assert status["guesses"]["total"] == 3  # the backup, the wrong and the right restore

    # Replacing or deleting needs the account password.
    with pytest.raises(virgil.ServiceError) as raised:
        device.backups.backup(key, "another backup password")
    assert raised.value.code == "reauthentication_required"
    device.backups.change_password("a backup password", "a newer one", PASSWORD)
    assert new_device.backups.restore("a newer one") == key
    device.backups.delete(PASSWORD)
    with pytest.raises(virgil.ServiceError) as raised:
        new_device.backups.restore("a newer one")
    assert raised.value.code == "no_backup"


def test_a_new_device_pairs_with_a_code(deployment, bob):
    import threading

    phone, phone_key, phone_card, name = deployment.user("hana")
    laptop = deployment.device(deployment.name("hana-laptop"))
    laptop.account.login(name, PASSWORD)
    laptop_key = laptop.keys.generate()

    shown = {}
    ready = threading.Event()

    def show(code, uri, fingerprint):
        shown.update(code=code, uri=uri, fingerprint=fingerprint)
        ready.set()

    joined = {}
    new_device = threading.Thread(
        target=lambda: joined.update(card=laptop.devices.join(laptop_key, show, timeout=30))
    )
    new_device.start()
    assert ready.wait(30)
    assert shown["uri"].startswith(f"virgil-pair:1:{name}:")
    seen = []
    card = phone.devices.pair(
        shown["code"], phone_key, confirm=lambda fp: seen.append(fp) or True, timeout=30
    )
    new_device.join(30)
    assert seen == [shown["fingerprint"]]
    assert joined["card"].id == card.id
    assert card.key_id == laptop_key.id

    # A wrong code: the new device refuses the answer and ends the pairing.
    second_key = laptop.keys.generate()
    ready.clear()
    failed = {}

    def join_again():
        try:
            laptop.devices.join(second_key, show, timeout=30)
        except virgil.PairingError as error:
            failed["new"] = error

    new_device = threading.Thread(target=join_again)
    new_device.start()
    assert ready.wait(30)
    code = shown["code"]
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(virgil.PairingError):
        phone.devices.pair(wrong, phone_key, timeout=30)
    new_device.join(30)
    assert "does not confirm" in str(failed["new"])
