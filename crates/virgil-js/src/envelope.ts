/**
 * The signed multi-recipient envelope (docs/format.md §4), one-shot: a header with one
 * HPKE stanza per recipient, a header MAC, and the inner stream (kind, sender key id,
 * plaintext, signature) in AES-256-GCM STREAM chunks of 64 KiB.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, equalBytes, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import { ENC_LEN, aesGcmOpen, aesGcmSeal, openBase, sealBase } from "./hpke.js";
import { PrivateKey, PublicKey } from "./keys.js";

/** The most recipients an envelope may have. */
export const MAX_RECIPIENTS = 10_000;
/** Bytes of `inner` per chunk. */
export const CHUNK_LEN = 65_536;
const TAG_LEN = 16;
const MAGIC = utf8("VGLE");
const INFO = utf8("virgil-envelope-v1 content key");
const KEY_ID_LEN = 32;
const SEALED_KEY_LEN = 48;
const SIGNATURE_LEN = 64;

interface Stanza {
  kind: 1 | 2;
  keyId: Uint8Array;
  enc: Uint8Array;
  sealedKey: Uint8Array;
}

/** @internal */
export interface Header {
  bytes: Uint8Array;
  nonce: Uint8Array;
  stanzas: Stanza[];
}

/** @internal */
export function keys(contentKey: Uint8Array, nonce: Uint8Array): { mac: Uint8Array; payload: Uint8Array } {
  const prk = extract(sha256, contentKey, nonce);
  return {
    mac: expand(sha256, prk, utf8("virgil-envelope-v1 header mac"), 32),
    payload: expand(sha256, prk, utf8("virgil-envelope-v1 payload"), 32),
  };
}

/** @internal */
export function headerHash(header: Uint8Array): Uint8Array {
  return blake3(header, { context: utf8("virgil-envelope-v1 header hash") });
}

/** @internal */
export function plaintextDigest(plaintext: Uint8Array): Uint8Array {
  return blake3(plaintext, { context: utf8("virgil-envelope-v1 plaintext digest") });
}

/** @internal */
export function chunkNonce(index: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(3, BigInt(index), false);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Thrown by `parseHeader` in partial mode when the input ends before header and MAC. */
class Incomplete extends Error {}

/**
 * @internal Parses the header (§4.1) at the start of `envelope`. With `partial`, input
 * that ends before the header and its MAC gives `null` (read more), not `malformed`.
 */
export function parseHeaderPartial(envelope: Uint8Array): Header | null {
  try {
    return parseHeader(envelope, true);
  } catch (error) {
    if (error instanceof Incomplete) return null;
    throw error;
  }
}

/** Parses the header (§4.1); returns it and where the MAC starts. */
function parseHeader(envelope: Uint8Array, partial = false): Header {
  const short = (why: string): Error => (partial ? new Incomplete() : new VirgilError("malformed", why));
  if (partial && envelope.length < 4 && equalBytes(envelope, MAGIC.subarray(0, envelope.length))) {
    throw new Incomplete();
  }
  if (envelope.length < 4 || !equalBytes(envelope.subarray(0, 4), MAGIC)) {
    throw new VirgilError("malformed", "not an envelope");
  }
  if (envelope.length < 26) throw short("shorter than a header");
  if (envelope[4] !== 0x01) throw new VirgilError("unsupported_version");
  const suite = envelope[5];
  if (suite !== 1 && suite !== 2) throw new VirgilError("unsupported_version");
  const nonce = envelope.slice(6, 22);
  const n = new DataView(envelope.buffer, envelope.byteOffset + 22, 4).getUint32(0, false);
  if (n === 0 || n > MAX_RECIPIENTS) throw new VirgilError("malformed", "bad recipient count");
  const stanzas: Stanza[] = [];
  let at = 26;
  const take = (length: number): Uint8Array => {
    if (at + length > envelope.length) throw short("cut inside the header");
    const part = envelope.subarray(at, at + length);
    at += length;
    return part;
  };
  for (let i = 0; i < n; i++) {
    let kind: 1 | 2 = 1;
    if (suite === 2) {
      const byte = take(1)[0];
      if (byte !== 1 && byte !== 2) throw new VirgilError("malformed", "unknown stanza kind");
      kind = byte;
    }
    stanzas.push({ kind, keyId: take(KEY_ID_LEN), enc: take(ENC_LEN[kind]), sealedKey: take(SEALED_KEY_LEN) });
  }
  if (at + 32 > envelope.length) throw short("no room for the header MAC");
  return { bytes: envelope.subarray(0, at), nonce, stanzas };
}

/** The key ids an envelope is encrypted for, read without any key. */
export function recipients(envelope: Uint8Array): Uint8Array[] {
  return parseHeader(envelope).stanzas.map((stanza) => stanza.keyId.slice());
}

/** @internal The header and MAC for `to`, and the keys the payload needs. */
export async function writeHeader(
  to: PublicKey[],
): Promise<{ header: Uint8Array; mac: Uint8Array; payloadKey: Uint8Array; hash: Uint8Array }> {
  const unique: PublicKey[] = [];
  for (const key of to) {
    if (!unique.some((seen) => equalBytes(seen.keyId(), key.keyId()))) unique.push(key);
  }
  if (unique.length === 0) throw new VirgilError("misuse", "an envelope needs at least one recipient");
  if (unique.length > MAX_RECIPIENTS) throw new VirgilError("misuse", `at most ${MAX_RECIPIENTS} recipients`);
  const suite = unique.every((key) => key.suite === 1) ? 1 : 2;
  const random = globalThis.crypto.getRandomValues(new Uint8Array(48));
  const nonce = random.slice(0, 16);
  const contentKey = random.slice(16, 48);
  const count = new Uint8Array(4);
  new DataView(count.buffer).setUint32(0, unique.length, false);
  const parts: Uint8Array[] = [MAGIC, new Uint8Array([0x01, suite]), nonce, count];
  for (const key of unique) {
    const keyId = key.keyId();
    const { enc, sealed } = await sealBase(key.suite, key.encryptionKey(), INFO, keyId, contentKey);
    if (suite === 2) parts.push(new Uint8Array([key.suite]));
    parts.push(keyId, enc, sealed);
  }
  const header = concat(...parts);
  const derived = keys(contentKey, nonce);
  const hash = headerHash(header);
  return { header, mac: hmac(sha256, derived.mac, hash), payloadKey: derived.payload, hash };
}

async function seal(plaintext: Uint8Array, to: PublicKey[], sender: PrivateKey | null): Promise<Uint8Array> {
  const { header, mac, payloadKey, hash } = await writeHeader(to);
  const inner =
    sender === null
      ? concat(new Uint8Array([0x00]), plaintext)
      : concat(
          new Uint8Array([0x01]),
          sender.publicKey.keyId(),
          plaintext,
          sender.sign("virgil/message", concat(hash, plaintextDigest(plaintext))),
        );
  const chunks: Uint8Array[] = [header, mac];
  const count_ = Math.max(1, Math.ceil(inner.length / CHUNK_LEN));
  for (let i = 0; i < count_; i++) {
    const data = inner.subarray(i * CHUNK_LEN, Math.min(inner.length, (i + 1) * CHUNK_LEN));
    chunks.push(await aesGcmSeal(payloadKey, chunkNonce(i, i === count_ - 1), new Uint8Array(0), data));
  }
  return concat(...chunks);
}

/** Signs `plaintext` with `sender` and encrypts it for `to` (include the sender's own key to read it later). */
export function signThenEncrypt(plaintext: Uint8Array, sender: PrivateKey, to: PublicKey[]): Promise<Uint8Array> {
  return seal(plaintext, to, sender);
}

/** Encrypts `plaintext` for `to`, unsigned. */
export function encrypt(plaintext: Uint8Array, to: PublicKey[]): Promise<Uint8Array> {
  return seal(plaintext, to, null);
}

/** What an envelope held: the plaintext, and the signer's key id if it was signed. */
export interface Opened {
  plaintext: Uint8Array;
  /** The signature, checked by `decryptThenVerify` only. */
  signed: { senderKeyId: Uint8Array; signature: Uint8Array; headerHash: Uint8Array } | null;
}

/** @internal Opens `header` with `key` and checks the MAC that follows it in `envelope`. */
export async function openHeader(
  header: Header,
  envelope: Uint8Array,
  key: PrivateKey,
): Promise<{ payloadKey: Uint8Array; hash: Uint8Array }> {
  const ownId = key.publicKey.keyId();
  const stanza = header.stanzas.find((s) => equalBytes(s.keyId, ownId));
  if (stanza === undefined) throw new VirgilError("not_a_recipient");
  if (stanza.kind !== key.suite) throw new VirgilError("corrupted");
  const contentKey = await openBase(key.decryptionKey(), stanza.enc, INFO, stanza.keyId, stanza.sealedKey);
  if (contentKey.length !== 32) throw new VirgilError("corrupted");
  const derived = keys(contentKey, header.nonce);
  const hash = headerHash(header.bytes);
  const macAt = header.bytes.length;
  const expected = hmac(sha256, derived.mac, hash);
  if (!equalBytes(expected, envelope.subarray(macAt, macAt + 32))) throw new VirgilError("corrupted");
  return { payloadKey: derived.payload, hash };
}

/** Decrypts with `key` and authenticates every chunk; the signature is not checked. */
export async function decrypt(envelope: Uint8Array, key: PrivateKey): Promise<Opened> {
  const header = parseHeader(envelope);
  const { payloadKey, hash } = await openHeader(header, envelope, key);
  const derived = { payload: payloadKey };
  const macAt = header.bytes.length;
  const payload = envelope.subarray(macAt + 32);
  const wire = CHUNK_LEN + TAG_LEN;
  if (payload.length === 0) throw new VirgilError("corrupted");
  const count = Math.ceil(payload.length / wire);
  if (payload.length - (count - 1) * wire <= TAG_LEN) throw new VirgilError("corrupted");
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const piece = payload.subarray(i * wire, Math.min(payload.length, (i + 1) * wire));
    pieces.push(await aesGcmOpen(derived.payload, chunkNonce(i, i === count - 1), new Uint8Array(0), piece));
  }
  const inner = concat(...pieces);
  if (inner[0] === 0x00) return { plaintext: inner.slice(1), signed: null };
  if (inner[0] !== 0x01 || inner.length < 1 + KEY_ID_LEN + SIGNATURE_LEN) {
    throw new VirgilError("malformed", "bad inner kind");
  }
  return {
    plaintext: inner.slice(1 + KEY_ID_LEN, inner.length - SIGNATURE_LEN),
    signed: {
      senderKeyId: inner.slice(1, 1 + KEY_ID_LEN),
      signature: inner.slice(inner.length - SIGNATURE_LEN),
      headerHash: hash,
    },
  };
}

/** Decrypts with `key` and checks the signature of one of `senders` (§4.6 order of errors). */
export async function decryptThenVerify(
  envelope: Uint8Array,
  key: PrivateKey,
  senders: PublicKey[],
): Promise<{ plaintext: Uint8Array; sender: PublicKey }> {
  const opened = await decrypt(envelope, key);
  if (opened.signed === null) throw new VirgilError("not_signed");
  const { senderKeyId, signature, headerHash: hash } = opened.signed;
  const sender = senders.find((candidate) => equalBytes(candidate.keyId(), senderKeyId));
  if (sender === undefined) throw new VirgilError("unknown_sender");
  if (!sender.verify("virgil/message", concat(hash, plaintextDigest(opened.plaintext)), signature)) {
    throw new VirgilError("bad_signature");
  }
  return { plaintext: opened.plaintext, sender };
}
