// The package against docs/vectors/crypto.json (the Rust core's vectors), byte for byte.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { PrivateKey, PublicKey, VirgilError, fromHex, keyblob, toHex, type Suite } from "../src/index.js";

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
