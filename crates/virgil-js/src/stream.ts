/**
 * Streaming envelopes (docs/format.md §4) as WHATWG `TransformStream`s: memory stays
 * bounded by one 64 KiB chunk (plus the header), whatever the message's size.
 *
 * A streaming reader releases plaintext chunk by chunk, before it has seen the end. If
 * the stream then errors (a later chunk fails, the message was cut, the signature does
 * not match), the reader must discard what it got. It releases nothing of a message whose
 * kind or sender is wrong (`not_signed`, `unknown_sender`); those errors, like every
 * other, come only after the whole payload has authenticated, in §4.6's order.
 */
import { blake3 } from "@noble/hashes/blake3.js";
import { concat, equalBytes, utf8 } from "./encoding.js";
import {
  CHUNK_LEN,
  chunkNonce,
  openHeader,
  parseHeaderPartial,
  writeHeader,
} from "./envelope.js";
import { VirgilError } from "./errors.js";
import { aesGcmOpen, aesGcmSeal } from "./hpke.js";
import type { PrivateKey, PublicKey } from "./keys.js";

const TAG_LEN = 16;
const WIRE_CHUNK = CHUNK_LEN + TAG_LEN;
const KEY_ID_LEN = 32;
const SIGNATURE_LEN = 64;
const MAX_HEADER = 26 + 1201 * 10_000 + 32;
const NO_AAD = new Uint8Array(0);

function digestHasher() {
  return blake3.create({ context: utf8("virgil-envelope-v1 plaintext digest") });
}

/** Signs (with `sender`, or unsigned with `null`) and encrypts what is written, for `to`. */
export function encryptingStream(
  to: PublicKey[],
  sender: PrivateKey | null,
): TransformStream<Uint8Array, Uint8Array> {
  let payloadKey: Uint8Array = new Uint8Array(0);
  let hash: Uint8Array = new Uint8Array(0);
  let pending: Uint8Array = new Uint8Array(0);
  let index = 0;
  const digest = digestHasher();
  const sealChunk = async (data: Uint8Array, last: boolean): Promise<Uint8Array> =>
    aesGcmSeal(payloadKey, chunkNonce(index++, last), NO_AAD, data);
  return new TransformStream({
    async start(controller) {
      const written = await writeHeader(to);
      payloadKey = written.payloadKey;
      hash = written.hash;
      controller.enqueue(concat(written.header, written.mac));
      pending = sender === null ? new Uint8Array([0x00]) : concat(new Uint8Array([0x01]), sender.publicKey.keyId());
    },
    async transform(data, controller) {
      digest.update(data);
      pending = concat(pending, data);
      // A chunk is sealed once more input follows it, so the last one is known at the end.
      let at = 0;
      while (pending.length - at > CHUNK_LEN) {
        controller.enqueue(await sealChunk(pending.subarray(at, at + CHUNK_LEN), false));
        at += CHUNK_LEN;
      }
      pending = pending.slice(at);
    },
    async flush(controller) {
      if (sender !== null) {
        pending = concat(pending, sender.sign("virgil/message", concat(hash, digest.digest())));
      }
      let at = 0;
      while (pending.length - at > CHUNK_LEN) {
        controller.enqueue(await sealChunk(pending.subarray(at, at + CHUNK_LEN), false));
        at += CHUNK_LEN;
      }
      controller.enqueue(await sealChunk(pending.subarray(at), true));
    },
  });
}

/**
 * Decrypts what is written with `key`; with `senders`, also requires a signature by one
 * of them (without: any message, signed or not, and no signature check).
 */
export function decryptingStream(
  key: PrivateKey,
  senders: PublicKey[] | null,
): TransformStream<Uint8Array, Uint8Array> {
  let buffer: Uint8Array = new Uint8Array(0);
  let payloadKey: Uint8Array | null = null;
  let hash: Uint8Array = new Uint8Array(0);
  let index = 0;
  // The inner stream: its head (kind and sender id) until known, then a withheld tail.
  let head: Uint8Array = new Uint8Array(0);
  let decided = false;
  let signed = false;
  let sender: PublicKey | undefined;
  let problem: VirgilError | null = null;
  let tail: Uint8Array = new Uint8Array(0);
  const digest = digestHasher();

  const release = (data: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>): void => {
    if (data.length === 0) return;
    digest.update(data);
    if (problem === null) controller.enqueue(data);
  };

  const decide = (last: boolean): void => {
    if (decided || head.length === 0) return;
    const kind = head[0];
    if (kind === 0x00) {
      signed = false;
    } else if (kind === 0x01 && head.length >= 1 + KEY_ID_LEN) {
      signed = true;
    } else if (kind === 0x01 && !last) {
      return; // the sender id is not all here yet
    } else {
      problem = new VirgilError("malformed", "bad inner kind");
    }
    decided = true;
    if (problem === null && senders !== null) {
      if (!signed) {
        problem = new VirgilError("not_signed");
      } else {
        const id = head.subarray(1, 1 + KEY_ID_LEN);
        sender = senders.find((candidate) => equalBytes(candidate.keyId(), id));
        if (sender === undefined) problem = new VirgilError("unknown_sender");
      }
    }
  };

  const inner = (data: Uint8Array, last: boolean, controller: TransformStreamDefaultController<Uint8Array>): void => {
    let rest = data;
    if (!decided) {
      head = concat(head, rest);
      decide(last);
      if (!decided) return;
      rest = head.subarray(signed ? 1 + KEY_ID_LEN : 1);
    }
    if (!signed) {
      release(rest, controller);
      return;
    }
    // Withhold the last 64 bytes seen: at the end they are the signature.
    const joined = concat(tail, rest);
    const cut = Math.max(0, joined.length - SIGNATURE_LEN);
    release(joined.subarray(0, cut), controller);
    tail = joined.slice(cut);
  };

  const openChunk = async (piece: Uint8Array, last: boolean): Promise<Uint8Array> => {
    if (payloadKey === null) throw new VirgilError("corrupted");
    return aesGcmOpen(payloadKey, chunkNonce(index++, last), NO_AAD, piece);
  };

  return new TransformStream({
    async transform(data, controller) {
      buffer = concat(buffer, data);
      if (payloadKey === null) {
        const header = parseHeaderPartial(buffer);
        if (header === null) {
          if (buffer.length > MAX_HEADER) throw new VirgilError("malformed", "header too long");
          return;
        }
        const opened = await openHeader(header, buffer, key);
        payloadKey = opened.payloadKey;
        hash = opened.hash;
        buffer = buffer.slice(header.bytes.length + 32);
      }
      let at = 0;
      while (buffer.length - at > WIRE_CHUNK) {
        inner(await openChunk(buffer.subarray(at, at + WIRE_CHUNK), false), false, controller);
        at += WIRE_CHUNK;
      }
      buffer = buffer.slice(at);
    },
    async flush(controller) {
      if (payloadKey === null) {
        if (parseHeaderPartial(buffer) === null) throw new VirgilError("malformed", "cut inside the header");
        throw new VirgilError("corrupted");
      }
      if (buffer.length <= TAG_LEN) throw new VirgilError("corrupted");
      inner(await openChunk(buffer, true), true, controller);
      decide(true);
      if (problem !== null) throw problem;
      if (signed && (head.length < 1 + KEY_ID_LEN || tail.length < SIGNATURE_LEN)) {
        throw new VirgilError("malformed", "bad inner kind");
      }
      if (signed && sender !== undefined) {
        const message = concat(hash, digest.digest());
        if (!sender.verify("virgil/message", message, tail)) throw new VirgilError("bad_signature");
      }
    },
  });
}
