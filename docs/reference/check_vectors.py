#!/usr/bin/env python3
"""An independent implementation of docs/format.md, used to check docs/vectors/*.json.

Written from format.md alone (not from the Rust code), in Python with the `cryptography`
(46 or later, for ML-KEM-768) and `blake3` packages: `pip install cryptography blake3`, then
`python3 docs/reference/check_vectors.py`. It derives every key from its seed, decrypts
and verifies every envelope, checks that every negative vector fails with the recorded
error, and unlocks every key blob. Exit status 0 means the spec and the vectors agree.
"""
import base64, hashlib, hmac, json, struct, sys
from pathlib import Path

import blake3
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Fail(Exception):
    def __init__(self, name):
        super().__init__(name)
        self.name = name


# --- HKDF (RFC 5869) and RFC 9180 labeled variants -------------------------------------
def extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def expand(prk, info, length):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


KEM_ID = b"KEM\x00\x10"
HPKE_ID = b"HPKE\x00\x10\x00\x01\x00\x02"


def labeled_extract(suite, salt, label, ikm):
    return extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite, prk, label, info, length):
    return expand(prk, struct.pack(">H", length) + b"HPKE-v1" + suite + label + info, length)


def derive_key_pair(ikm):
    dkp_prk = labeled_extract(KEM_ID, b"", b"dkp_prk", ikm)
    for counter in range(256):
        candidate = int.from_bytes(labeled_expand(KEM_ID, dkp_prk, b"candidate", bytes([counter]), 32), "big")
        if 0 < candidate < P256_ORDER:
            return ec.derive_private_key(candidate, ec.SECP256R1())
    raise Fail("derive_key_pair")


def point(public):
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


# --- §1, §2: keys ----------------------------------------------------------------------
def raw(public):
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class XWingKey:
    """§1 suite 2: GenerateKeyPairDerand of the X-Wing draft."""

    def __init__(self, xwing_seed):
        expanded = hashlib.shake_256(xwing_seed).digest(96)
        self.ml_kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])  # d ‖ z
        self.x25519 = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        self.pk_x = raw(self.x25519.public_key())
        self.public = self.ml_kem.public_key().public_bytes_raw() + self.pk_x

    def decap(self, enc):
        if len(enc) != 1120:
            raise Fail("corrupted")
        ct_m, ct_x = enc[:1088], enc[1088:]
        ss_m = self.ml_kem.decapsulate(ct_m)
        try:  # cryptography refuses an all-zero X25519 output, as §4.1 asks
            ss_x = self.x25519.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
        except ValueError:
            raise Fail("corrupted")
        return hashlib.sha3_256(ss_m + ss_x + ct_x + self.pk_x + b"\\.//^\\").digest()


class Key:
    def __init__(self, seed, suite=1):
        self.suite = suite
        prk = extract(b"virgil-key-v%d" % suite, seed)
        self.signing = ed25519.Ed25519PrivateKey.from_private_bytes(expand(prk, b"ed25519 signing seed", 32))
        ed_public = raw(self.signing.public_key())
        if suite == 1:
            self.decryption = derive_key_pair(expand(prk, b"p256 hpke ikm", 32))
            self.p256 = point(self.decryption.public_key())
            self.public_key = b"VK\x01" + ed_public + self.p256
        else:
            self.xwing = XWingKey(expand(prk, b"x-wing seed", 32))
            self.public_key = b"VK\x02" + ed_public + self.xwing.public
        self.key_id = hashlib.sha256(self.public_key).digest()

    def verify(self, context, message, signature):
        signed = b"virgil-sig-v1\x00" + bytes([len(context)]) + context + message
        try:
            self.signing.public_key().verify(signature, signed)
        except InvalidSignature:
            raise Fail("bad_signature")


# --- §4: envelope ----------------------------------------------------------------------
XWING_HPKE_ID = b"HPKE\x64\x7a\x00\x01\x00\x02"


def hpke_open(key, enc, info, aad, ct):
    if key.suite == 2:
        return key_schedule_open(XWING_HPKE_ID, key.xwing.decap(enc), info, aad, ct)
    try:
        pk_e = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), enc)
    except ValueError:
        raise Fail("corrupted")
    dh = key.decryption.exchange(ec.ECDH(), pk_e)
    eae_prk = labeled_extract(KEM_ID, b"", b"eae_prk", dh)
    shared = labeled_expand(KEM_ID, eae_prk, b"shared_secret", enc + key.p256, 32)
    return key_schedule_open(HPKE_ID, shared, info, aad, ct)


def key_schedule_open(HPKE_ID, shared, info, aad, ct):
    psk_id_hash = labeled_extract(HPKE_ID, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_ID, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = labeled_extract(HPKE_ID, shared, b"secret", b"")
    aead_key = labeled_expand(HPKE_ID, secret, b"key", context, 32)
    nonce = labeled_expand(HPKE_ID, secret, b"base_nonce", context, 12)
    try:
        return AESGCM(aead_key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise Fail("corrupted")


def decrypt_then_verify(data, key, senders):
    if len(data) < 26 or data[:4] != b"VGLE":
        raise Fail("malformed")
    if data[4] != 1 or data[5] not in (1, 2):
        raise Fail("unsupported_version")
    tagged = data[5] == 2
    nonce = data[6:22]
    (n,) = struct.unpack(">I", data[22:26])
    if n == 0 or n > 10_000:
        raise Fail("malformed")
    stanzas, at = [], 26  # (kind, key_id, enc, sealed_key)
    for _ in range(n):
        kind = data[at] if tagged and at < len(data) else 1
        if kind not in (1, 2):
            raise Fail("malformed")
        start = at + 1 if tagged else at
        enc_len = 65 if kind == 1 else 1120
        at = start + 32 + enc_len + 48
        if at > len(data):
            raise Fail("malformed")
        stanzas.append((kind, data[start : start + 32], data[start + 32 : at - 48], data[at - 48 : at]))
    if len(data) < at + 32:
        raise Fail("malformed")
    header, mac, payload = data[:at], data[at : at + 32], data[at + 32 :]
    mine = [s for s in stanzas if s[1] == key.key_id]
    if not mine:
        raise Fail("not_a_recipient")
    kind, key_id, enc, sealed_key = mine[0]
    if kind != key.suite:
        raise Fail("corrupted")
    content_key = hpke_open(key, enc, b"virgil-envelope-v1 content key", key_id, sealed_key)
    prk = extract(nonce, content_key)
    mac_key = expand(prk, b"virgil-envelope-v1 header mac", 32)
    payload_key = expand(prk, b"virgil-envelope-v1 payload", 32)
    header_hash = blake3.blake3(header, derive_key_context="virgil-envelope-v1 header hash").digest()
    if not hmac.compare_digest(hmac.new(mac_key, header_hash, hashlib.sha256).digest(), mac):
        raise Fail("corrupted")
    # §4.4 STREAM
    k = -(-len(payload) // 65552)
    if k == 0 or len(payload) - (k - 1) * 65552 <= 16:
        raise Fail("corrupted")
    aead, inner = AESGCM(payload_key), b""
    for i in range(k):
        chunk = payload[i * 65552 : (i + 1) * 65552]
        chunk_nonce = b"\x00" * 3 + struct.pack(">Q", i) + (b"\x01" if i == k - 1 else b"\x00")
        try:
            inner += aead.decrypt(chunk_nonce, chunk, b"")
        except InvalidTag:
            raise Fail("corrupted")
    # §4.5, §4.6
    if inner[:1] == b"\x00":
        if senders is not None:
            raise Fail("not_signed")
        return inner[1:]
    if inner[:1] != b"\x01" or len(inner) < 97:
        raise Fail("malformed")
    sender_id, plaintext, signature = inner[1:33], inner[33:-64], inner[-64:]
    if senders is None:
        return plaintext
    sender = next((s for s in senders if s.key_id == sender_id), None)
    if sender is None:
        raise Fail("unknown_sender")
    digest = blake3.blake3(plaintext, derive_key_context="virgil-envelope-v1 plaintext digest").digest()
    sender.verify(b"virgil/message", header_hash + digest, signature)
    return plaintext


# --- §5: key blob ----------------------------------------------------------------------
def unlock(blob, password):
    if blob[:4] != b"VGLK":
        raise Fail("malformed")
    if blob[4] not in (1, 2):  # the key's suite
        raise Fail("unsupported_version")
    if len(blob) != 102:
        raise Fail("malformed")
    kdf, (iterations,) = blob[5], struct.unpack(">I", blob[6:10])
    salt, check, nonce, sealed = blob[10:26], blob[26:42], blob[42:54], blob[54:]
    if kdf in (1, 2) and 1000 <= iterations <= 10_000_000:
        # kdf 2 (a key backup): `password` is the 32-byte hardened password (§16).
        master = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)
    elif kdf == 0 and iterations == 0:
        master = bytes(32)
    else:
        raise Fail("malformed")
    if not hmac.compare_digest(expand(master, b"virgil-keyblob-v1 check", 16), check):
        raise Fail("wrong_password")
    try:
        return AESGCM(expand(master, b"virgil-keyblob-v1 key", 32)).decrypt(nonce, sealed, blob[:54])
    except InvalidTag:
        raise Fail("corrupted")


# --- §6–§9: cards ----------------------------------------------------------------------
class Reader:
    """The bincode framing of §6: big-endian fixed-width integers, u64 length prefixes."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise Fail("malformed")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def bytes_(self):
        return self.take(self.u64())

    def string(self):
        return self.bytes_().decode("utf-8")

    def option(self, read):
        flag = self.u8()
        if flag not in (0, 1):
            raise Fail("malformed")
        return read() if flag else None


def decode_snapshot(snapshot):
    r = Reader(snapshot)
    if r.take(4) != b"VGLC":
        raise Fail("malformed")
    version = r.u8()
    if version not in (1, 2):
        raise Fail("unsupported_version")
    content = {
        "identity": r.string(),
        "identity_type": r.string(),
        "public_key": r.take(100) if version == 1 else r.bytes_(),
        "app_id": r.string(),
        "data": [(r.string(), r.string()) for _ in range(r.u64())],
        "info": r.option(lambda: (r.string(), r.string())),
        "created_at": r.u64(),
        "previous_card_id": r.option(lambda: r.take(32)),
    }
    if r.at != len(snapshot):
        raise Fail("malformed")
    keys = [k for k, _ in content["data"]]
    assert keys == sorted(set(keys), key=str.encode), "data keys strictly ascending"
    for key, value in content["data"]:
        # §7: the "virgil." prefix is reserved; its one entry is virgil.reset = "1".
        if key.startswith("virgil.") and (key, value) != ("virgil.reset", "1"):
            raise Fail("malformed")
    return content


def decode_export(text):
    r = Reader(base64.b64decode(text, validate=True))
    if r.take(4) != b"VGLX" or r.u8() != 1:
        raise Fail("malformed")
    snapshot = r.bytes_()
    signatures = [(r.string(), r.take(64)) for _ in range(r.u64())]
    if r.at != len(r.data):
        raise Fail("malformed")
    return snapshot, signatures


def verify_with_public_key(public_key, context, message, signature):
    ed = ed25519.Ed25519PublicKey.from_public_bytes(public_key[3:35])
    signed = b"virgil-sig-v1\x00" + bytes([len(context)]) + context + message
    try:
        ed.verify(signature, signed)
    except InvalidSignature:
        raise Fail("bad_signature")


def check_cards(vectors):
    checked = 0
    app, service = Key(bytes.fromhex(vectors["app_seed"])), Key(bytes.fromhex(vectors["service_seed"]))
    for v in vectors["cards"]:
        snapshot = bytes.fromhex(v["snapshot"])
        content = decode_snapshot(snapshot)
        owner = Key(bytes.fromhex(v["owner_seed"]), v["owner_suite"])
        assert content["public_key"] == owner.public_key, "card public key"
        assert content["identity"] == v["identity"]
        card_id = hashlib.sha256(snapshot).digest()
        assert card_id.hex() == v["id"], "card id"
        exported_snapshot, signatures = decode_export(v["export"])
        assert exported_snapshot == snapshot, "export holds the snapshot"
        keys = {"self": owner.public_key, "service": service.public_key, "app:" + content["app_id"]: app.public_key}
        for signer, signature in signatures:
            verify_with_public_key(keys[signer], b"virgil/card", card_id + signer.encode(), signature)
            checked += 1
        checked += 1
    ids = {v["id"] for v in vectors["cards"]}
    for v in vectors["links"]:
        snapshot, signatures = decode_export(v["export"])
        content = decode_snapshot(snapshot)
        assert content["public_key"] == Key(bytes.fromhex(v["owner_seed"])).public_key, "linked card key"
        card_id = hashlib.sha256(snapshot).digest()
        assert card_id.hex() == v["id"], "linked card id"
        assert v["linked_from"] in ids, "links to a card of the vectors"
        signer = "link:" + v["linked_from"]
        assert v["signer"] == signer
        by_signer = dict(signatures)
        assert by_signer[signer].hex() == v["signature"]
        linking = Key(bytes.fromhex(v["linking_seed"]))
        verify_with_public_key(linking.public_key, b"virgil/card-link", card_id + signer.encode(), by_signer[signer])
        verify_with_public_key(content["public_key"], b"virgil/card", card_id + b"self", by_signer["self"])
        checked += 1
    request = bytes.fromhex(vectors["revocation"]["request"])
    decode_revocation(request)
    verify_with_public_key(app.public_key, b"virgil/card-revocation", request, bytes.fromhex(vectors["revocation"]["signature"]))
    checked += 1
    for section, field, decode in (("negative_snapshots", "snapshot", decode_snapshot),
                                   ("negative_revocations", "request", decode_revocation)):
        for v in vectors[section]:
            try:
                decode(bytes.fromhex(v[field]))
                raise AssertionError(v["name"] + ": decoded")
            except Fail as failure:
                assert failure.name == v["error"], v["name"]
            checked += 1
    for v in vectors["safety_numbers"]:
        assert safety_number(v["ours"], v["theirs"]) == v["number"], "safety number"
        assert safety_number(v["theirs"], v["ours"]) == v["number"], "safety number, other side"
        checked += 1
    return checked


def decode_revocation(request):
    """§9: 46 bytes; reason 0 or 1 (2, reset, is the service's and never requested)."""
    if len(request) != 46 or request[:4] != b"VGLR":
        raise Fail("malformed")
    if request[4] != 1:
        raise Fail("unsupported_version")
    if request[37] not in (0, 1):
        raise Fail("malformed")
    return request[5:37], request[37], int.from_bytes(request[38:], "big")


def safety_number(ours, theirs):
    """§13: a half per side from its owner and its cards' public keys."""
    def half(side):
        keys = sorted(set(bytes.fromhex(k) for k in side["public_keys"]))
        h = hashlib.sha512(b"virgil/safety-number/v2")
        for field in (side["app_id"], side["identity"]):
            h.update(len(field.encode()).to_bytes(4, "big") + field.encode())
        h.update(len(keys).to_bytes(4, "big") + b"".join(keys))
        digest = h.digest()
        return "".join("%05d" % (int.from_bytes(digest[i : i + 5], "big") % 100000) for i in range(0, 30, 5))
    return "".join(sorted([half(ours), half(theirs)]))


def status_statement(card_id, status, as_of):
    out = b"VGLT\x01" + card_id
    state = status["state"]
    if state == "active":
        out += b"\x00"
    elif state == "superseded":
        out += b"\x01" + bytes.fromhex(status["by"])
    elif state == "revoked":
        out += b"\x02" + bytes([{"unspecified": 0, "compromised": 1, "reset": 2}[status["reason"]]]) + status["at"].to_bytes(8, "big")
    elif state == "pending":
        out += b"\x03" + status["activates_at"].to_bytes(8, "big")
    else:
        raise Fail("malformed")
    return out + as_of.to_bytes(8, "big")


def check_statuses(vectors):
    service = Key(bytes.fromhex(vectors["service_seed"]))
    checked = 0
    for v in vectors["statuses"]:
        statement = status_statement(bytes.fromhex(v["card_id"]), v["status"], v["as_of"])
        assert statement.hex() == v["statement"], "status statement " + v["name"]
        verify_with_public_key(service.public_key, b"virgil/card-status", statement, bytes.fromhex(v["signature"]))
        checked += 1
    # A search answer: the application, the identities asked for (sorted, without
    # duplicates), the answer's time and the first two statements, signed once.
    first_two = [
        status_statement(bytes.fromhex(v["card_id"]), v["status"], v["as_of"])
        for v in vectors["statuses"][:2]
    ]
    answer = vectors["search"]

    def string(text):
        return len(text.encode()).to_bytes(4, "big") + text.encode()

    names = sorted(set(answer["identities"]), key=str.encode)
    search = b"VGLQ\x02" + answer["as_of"].to_bytes(8, "big") + string(answer["app_id"])
    search += len(names).to_bytes(4, "big") + b"".join(string(name) for name in names)
    search += len(first_two).to_bytes(4, "big")
    for statement in first_two:
        search += len(statement).to_bytes(4, "big") + statement
    assert search.hex() == vectors["search"]["statement"], "search statement"
    verify_with_public_key(service.public_key, b"virgil/search-status", search, bytes.fromhex(vectors["search"]["signature"]))
    return checked + 1


def main():
    folder = Path(__file__).resolve().parent.parent / "vectors"
    vectors = json.loads((folder / "crypto.json").read_text())
    checked = 0
    for v in vectors["keys"]:
        key = Key(bytes.fromhex(v["seed"]), v["suite"])
        assert key.public_key.hex() == v["public_key"], "public key"
        assert key.key_id.hex() == v["key_id"], "key id"
        checked += 1
    for v in vectors["signatures"]:
        Key(bytes.fromhex(v["seed"])).verify(v["context"].encode(), bytes.fromhex(v["message"]), bytes.fromhex(v["signature"]))
        checked += 1
    for v in vectors["envelopes"]:
        data = base64.b64decode(v["ciphertext"], validate=True)
        expected = bytes(i % 251 for i in range(v["plaintext_len"]))
        senders = [Key(bytes.fromhex(v["sender_seed"]), v["sender_suite"])] if v["sender_seed"] else None
        for seed, suite in zip(v["recipient_seeds"], v["recipient_suites"]):
            assert decrypt_then_verify(data, Key(bytes.fromhex(seed), suite), senders) == expected, v["name"]
            checked += 1
    for v in vectors["negative_envelopes"]:
        data = base64.b64decode(v["ciphertext"], validate=True)
        try:
            recipient = Key(bytes.fromhex(v["recipient_seed"]), v["recipient_suite"])
            decrypt_then_verify(data, recipient, [Key(bytes.fromhex(v["sender_seed"]), v["sender_suite"])])
            raise AssertionError(f"{v['name']}: decrypted")
        except Fail as failure:
            assert failure.name == v["error"], f"{v['name']}: {failure.name} != {v['error']}"
        checked += 1
    for v in vectors["key_blobs"]:
        password = (v["password"] or "").encode()
        if v.get("hardened"):
            password = bytes.fromhex(v["hardened"])
        blob = bytes.fromhex(v["blob"])
        seed = unlock(blob, password)
        assert seed.hex() == v["seed"] and blob[4] == v["suite"], "key blob seed and suite"
        checked += 1
    checked += check_cards(json.loads((folder / "cards.json").read_text()))
    checked += check_statuses(json.loads((folder / "status.json").read_text()))
    print(f"{checked} passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, Fail) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        sys.exit(1)
