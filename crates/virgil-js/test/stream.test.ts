// Streaming envelopes: the same bytes and the same errors as one-shot, in pieces of any size.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  PrivateKey,
  VirgilError,
  decryptingStream,
  encryptingStream,
  envelope,
  fromBase64,
  fromHex,
  type Suite,
} from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const vectors = JSON.parse(readFileSync(join(root, "docs", "vectors", "crypto.json"), "utf8"));
const suiteOf = (suite: number | null): Suite => (suite === 2 ? 2 : 1);
const patterned = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => i % 251);

/** Writes `data` in pieces of `sizes` (cycled) through `stream`; the output, or the error. */
async function pipe(
  stream: TransformStream<Uint8Array, Uint8Array>,
  data: Uint8Array,
  sizes: number[],
): Promise<{ output: Uint8Array; error: unknown }> {
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      chunks.push(value);
    }
  })();
  let error: unknown = null;
  try {
    let at = 0;
    for (let i = 0; at < data.length; i++) {
      const size = sizes[i % sizes.length]!;
      await writer.write(data.slice(at, at + size));
      at += size;
    }
    await writer.close();
    await reading;
  } catch (e) {
    error = e;
    await reading.catch(() => undefined);
  }
  const output = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    output.set(chunk, at);
    at += chunk.length;
  }
  return { output, error };
}

const PIECES = [[1_000_000], [1, 7, 4096], [65_552], [65_553, 3]];

test("streaming decryption: every envelope vector, in pieces of any size", async () => {
  for (const vector of vectors.envelopes) {
    const ciphertext = fromBase64(vector.ciphertext);
    const key = PrivateKey.fromSeed(fromHex(vector.recipient_seeds[0]), suiteOf(vector.recipient_suites[0]));
    const senders =
      vector.sender_seed === null
        ? null
        : [PrivateKey.fromSeed(fromHex(vector.sender_seed), suiteOf(vector.sender_suite)).publicKey];
    for (const sizes of PIECES) {
      const { output, error } = await pipe(decryptingStream(key, senders), ciphertext, sizes);
      assert.equal(error, null, `${vector.name} ${sizes}`);
      assert.deepEqual(output, patterned(Number(vector.plaintext_len)), `${vector.name} ${sizes}`);
    }
  }
});

test("streaming decryption: every negative vector, its error, and nothing released when the sender is wrong", async () => {
  for (const vector of vectors.negative_envelopes) {
    const key = PrivateKey.fromSeed(fromHex(vector.recipient_seed), suiteOf(vector.recipient_suite));
    const sender = PrivateKey.fromSeed(fromHex(vector.sender_seed), suiteOf(vector.sender_suite));
    for (const sizes of [[1_000_000], [5, 65_552]]) {
      const { output, error } = await pipe(
        decryptingStream(key, [sender.publicKey]),
        fromBase64(vector.ciphertext),
        sizes,
      );
      assert.ok(error instanceof VirgilError, `${vector.name}: ${String(error)}`);
      assert.equal(error.kind, vector.error, vector.name);
      if (vector.error === "unknown_sender" || vector.name.startsWith("unexpected sender")) {
        assert.equal(output.length, 0, `${vector.name}: released plaintext`);
      }
    }
  }
});

test("streaming encryption agrees with one-shot decryption, and the reverse", async () => {
  const alice = PrivateKey.generate(1);
  const bob = PrivateKey.generate(2);
  for (const length of [0, 1, 65_536 - 97, 65_536 - 96, 65_536, 131_072 - 97, 300_000]) {
    const message = patterned(length);
    for (const sizes of [[1_000_000], [1, 65_535, 9]]) {
      const { output: sealed, error } = await pipe(
        encryptingStream([bob.publicKey, alice.publicKey], alice),
        message,
        sizes,
      );
      assert.equal(error, null);
      const opened = await envelope.decryptThenVerify(sealed, bob, [alice.publicKey]);
      assert.deepEqual(opened.plaintext, message, `${length} ${sizes}`);
      const oneShot = await envelope.encrypt(message, [bob.publicKey]);
      const back = await pipe(decryptingStream(bob, null), oneShot, sizes);
      assert.equal(back.error, null);
      assert.deepEqual(back.output, message);
    }
  }
});

test("streaming decryption: a stream cut at a chunk boundary is corrupted", async () => {
  const alice = PrivateKey.generate(1);
  const sealed = await envelope.signThenEncrypt(patterned(200_000), alice, [alice.publicKey]);
  // One suite-1 recipient: a 26 + 145-byte header and the 32-byte MAC; then 4 chunks.
  const cut = sealed.slice(0, 26 + 145 + 32 + 2 * 65_552);
  assert.ok(cut.length < sealed.length - 65_552);
  const { error } = await pipe(decryptingStream(alice, [alice.publicKey]), cut, [4096]);
  assert.ok(error instanceof VirgilError && error.kind === "corrupted", String(error));
});
