// The package against docs/vectors/crypto.json (the Rust core's vectors), byte for byte.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { PrivateKey, PublicKey, VirgilError, armor, envelope, fromBase64, fromHex, keyblob, toHex, type Suite } from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const vectors = JSON.parse(readFileSync(join(root, "docs", "vectors", "crypto.json"), "utf8")) as {
  keys: { seed: string; suite: number; public_key: string; key_id: string }[];
  signatures: { seed: string; context: string; message: string; signature: string }[];
  key_blobs: { blob: string; seed: string; suite: number; password: string | null; hardened?: string }[];
};

const suiteOf = (suite: number): Suite => (suite === 2 ? 2 : 1);

function kind(error: unknown): string {
  assert.ok(error instanceof VirgilError, String(error));
  return error.kind;
}

test("keys: public keys and key ids of both suites", () => {
  assert.ok(vectors.keys.length >= 6);
  for (const vector of vectors.keys) {
    const key = PrivateKey.fromSeed(fromHex(vector.seed), suiteOf(vector.suite));
    assert.equal(toHex(key.publicKey.toBytes()), vector.public_key);
    assert.equal(key.publicKey.keyIdHex(), vector.key_id);
    const decoded = PublicKey.fromBytes(fromHex(vector.public_key));
    assert.ok(decoded.equals(key.publicKey));
    assert.ok(PublicKey.fromString(key.publicKey.toString()).equals(key.publicKey));
  }
});

test("public keys: what §2 rejects is rejected", () => {
  const good = fromHex(vectors.keys[0]!.public_key);
  const cases: [Uint8Array, string][] = [
    [good.slice(0, 99), "invalid_public_key"],
    [Uint8Array.of(0x56, 0x4c, ...good.slice(2)), "invalid_public_key"],
    [Uint8Array.of(0x56, 0x4b, 3, ...good.slice(3)), "unsupported_version"],
    [Uint8Array.from(good, (b, i) => (i === 35 ? 0x02 : b)), "invalid_public_key"],
    [Uint8Array.from(good, (b, i) => (i === 99 ? b ^ 1 : b)), "invalid_public_key"],
  ];
  for (const [bytes, expected] of cases) {
    assert.throws(() => PublicKey.fromBytes(bytes), (e) => kind(e) === expected);
  }
  // Suite 2: a coefficient of q or more fails the ML-KEM modulus check.
  const pq = fromHex(vectors.keys.find((v) => v.suite === 2)!.public_key);
  const broken = pq.slice();
  broken[35] = 0xff;
  broken[36] = broken[36]! | 0x0f;
  assert.throws(() => PublicKey.fromBytes(broken), (e) => kind(e) === "invalid_public_key");
});

test("signatures: the vectors, and every flipped bit refused", () => {
  for (const vector of vectors.signatures) {
    const key = PrivateKey.fromSeed(fromHex(vector.seed));
    const message = fromHex(vector.message);
    const signature = key.sign(vector.context, message);
    assert.equal(toHex(signature), vector.signature);
    assert.ok(key.publicKey.verify(vector.context, message, signature));
    assert.ok(!key.publicKey.verify(`${vector.context}x`, message, signature));
    for (let bit = 0; bit < signature.length * 8; bit += 7) {
      const flipped = signature.slice();
      flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
      assert.ok(!key.publicKey.verify(vector.context, message, flipped), `bit ${bit}`);
    }
  }
});

test("key blobs: the vectors unlock to their seeds", async () => {
  for (const vector of vectors.key_blobs) {
    const blob = fromHex(vector.blob);
    const key = vector.hardened
      ? await keyblob.unlockHardened(blob, fromHex(vector.hardened))
      : await keyblob.unlock(blob, vector.password);
    assert.equal(toHex(key.toSeed()), vector.seed);
    assert.equal(key.suite, suiteOf(vector.suite));
  }
});

test("key blobs: wrong password, tampering, misuse and impossible headers", async () => {
  const vector = vectors.key_blobs.find((v) => v.password === "correct horse" && v.suite === 1)!;
  const blob = fromHex(vector.blob);
  await assert.rejects(keyblob.unlock(blob, "correct horsE"), (e) => kind(e) === "wrong_password");
  const sealed = blob.slice();
  sealed[60] = sealed[60]! ^ 1;
  await assert.rejects(keyblob.unlock(sealed, "correct horse"), (e) => kind(e) === "corrupted");
  // The suite byte is in the AAD: relabelling it is corruption, not another key.
  const relabelled = blob.slice();
  relabelled[4] = 2;
  await assert.rejects(keyblob.unlock(relabelled, "correct horse"), (e) => kind(e) === "corrupted");
  const hardened = fromHex(vectors.key_blobs.find((v) => v.hardened)!.blob);
  await assert.rejects(keyblob.unlock(hardened, "x"), (e) => kind(e) === "misuse");
  await assert.rejects(keyblob.unlockHardened(blob, new Uint8Array(32)), (e) => kind(e) === "misuse");
  // 2^32 − 1 iterations are refused before any work.
  const huge = blob.slice();
  huge.set([0xff, 0xff, 0xff, 0xff], 6);
  await assert.rejects(keyblob.unlock(huge, "correct horse"), (e) => kind(e) === "malformed");
  await assert.rejects(keyblob.unlock(blob.slice(0, 101), "x"), (e) => kind(e) === "malformed");
});

test("key blobs: lock and unlock round-trip in both suites", async () => {
  for (const suite of [1, 2] as const) {
    const key = PrivateKey.generate(suite);
    const blob = await keyblob.lock(key, "a password", keyblob.MIN_ITERATIONS);
    assert.equal(blob.length, keyblob.BLOB_LEN);
    const back = await keyblob.unlock(blob, "a password");
    assert.ok(back.publicKey.equals(key.publicKey));
    const open = await keyblob.lock(key, null);
    assert.equal(keyblob.isPasswordProtected(open), false);
    assert.ok((await keyblob.unlock(open, null)).publicKey.equals(key.publicKey));
  }
});

const envelopeVectors = JSON.parse(readFileSync(join(root, "docs", "vectors", "crypto.json"), "utf8")) as {
  envelopes: {
    name: string;
    ciphertext: string;
    plaintext_len: number;
    recipient_seeds: string[];
    recipient_suites: number[];
    sender_seed: string | null;
    sender_suite: number | null;
  }[];
  negative_envelopes: {
    name: string;
    ciphertext: string;
    error: string;
    recipient_seed: string;
    recipient_suite: number;
    sender_seed: string;
    sender_suite: number;
  }[];
};

const patterned = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => i % 251);

test("envelopes: every vector opens for every recipient, and verifies", async () => {
  assert.ok(envelopeVectors.envelopes.length >= 11);
  for (const vector of envelopeVectors.envelopes) {
    const ciphertext = fromBase64(vector.ciphertext);
    const expected = patterned(Number(vector.plaintext_len));
    for (const [i, seed] of vector.recipient_seeds.entries()) {
      const key = PrivateKey.fromSeed(fromHex(seed), suiteOf(vector.recipient_suites[i]!));
      if (vector.sender_seed === null) {
        const opened = await envelope.decrypt(ciphertext, key);
        assert.equal(opened.signed, null, vector.name);
        assert.deepEqual(opened.plaintext, expected, vector.name);
      } else {
        const sender = PrivateKey.fromSeed(fromHex(vector.sender_seed), suiteOf(vector.sender_suite ?? 1));
        const opened = await envelope.decryptThenVerify(ciphertext, key, [sender.publicKey]);
        assert.deepEqual(opened.plaintext, expected, vector.name);
      }
    }
  }
});

test("envelopes: every negative vector fails with its error", async () => {
  for (const vector of envelopeVectors.negative_envelopes) {
    const key = PrivateKey.fromSeed(fromHex(vector.recipient_seed), suiteOf(vector.recipient_suite));
    const sender = PrivateKey.fromSeed(fromHex(vector.sender_seed), suiteOf(vector.sender_suite));
    await assert.rejects(
      envelope.decryptThenVerify(fromBase64(vector.ciphertext), key, [sender.publicKey]),
      (e) => kind(e) === vector.error,
      vector.name,
    );
  }
});

test("envelopes: round trips across suites, sizes and chunk boundaries", async () => {
  const alice = PrivateKey.generate(1);
  const bob = PrivateKey.generate(2);
  const carol = PrivateKey.generate(1);
  for (const length of [0, 1, 65_535 - 96, 65_536 - 97, 65_536, 200_000]) {
    const message = patterned(length);
    const sealed = await envelope.signThenEncrypt(message, alice, [bob.publicKey, alice.publicKey, bob.publicKey]);
    assert.equal(envelope.recipients(sealed).length, 2);
    for (const reader of [bob, alice]) {
      const opened = await envelope.decryptThenVerify(sealed, reader, [alice.publicKey]);
      assert.deepEqual(opened.plaintext, message);
    }
    await assert.rejects(envelope.decrypt(sealed, carol), (e) => kind(e) === "not_a_recipient");
    await assert.rejects(
      envelope.decryptThenVerify(sealed, bob, [carol.publicKey]),
      (e) => kind(e) === "unknown_sender",
    );
  }
  const unsigned = await envelope.encrypt(utf8Bytes("hi"), [carol.publicKey]);
  await assert.rejects(envelope.decryptThenVerify(unsigned, carol, [alice.publicKey]), (e) => kind(e) === "not_signed");
});

test("envelopes: every flipped bit of a small envelope is refused", async () => {
  const alice = PrivateKey.generate(1);
  const sealed = await envelope.signThenEncrypt(utf8Bytes("Hey Bob"), alice, [alice.publicKey]);
  for (let bit = 0; bit < sealed.length * 8; bit += 3) {
    const flipped = sealed.slice();
    flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
    await assert.rejects(envelope.decryptThenVerify(flipped, alice, [alice.publicKey]), `bit ${bit}`);
  }
});

function utf8Bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

test("armor: round trip, CR LF, and what §11 rejects", () => {
  for (const length of [1, 47, 48, 49, 96, 1000]) {
    const data = Uint8Array.from({ length }, (_, i) => i & 255);
    const text = armor.armor(data);
    assert.ok(text.startsWith(`${armor.BEGIN}\n`) && text.endsWith(`${armor.END}\n`));
    assert.deepEqual(armor.dearmor(text), data);
    assert.deepEqual(armor.dearmor(text.replaceAll("\n", "\r\n")), data);
  }
  const good = armor.armor(new Uint8Array(100));
  const lines = good.split("\n");
  const rejected = [
    good.slice(1),
    good.replace(armor.END, "-----END OTHER-----"),
    lines.slice(0, 2).join("\n") + "\n",
    [lines[0], lines[3], lines[1], lines[2], ...lines.slice(4)].join("\n"),
    [lines[0], "!!!!", ...lines.slice(1)].join("\n"),
    [lines[0], "A".repeat(200), ...lines.slice(1)].join("\n"),
  ];
  for (const text of rejected) {
    assert.throws(() => armor.dearmor(text), (e) => kind(e) === "malformed", JSON.stringify(text.slice(0, 80)));
  }
});
