/**
 * RFC 9180 base mode as the envelope uses it (docs/format.md §4.1): suite 1 is
 * DHKEM(P-256, HKDF-SHA256) + HKDF-SHA256 + AES-256-GCM; suite 2 is X-Wing in the same
 * key schedule (draft-ietf-hpke-pq). Glue over @noble; AES-GCM through WebCrypto.
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { concat, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import type { DecryptionKey } from "./keys.js";

const VERSION = utf8("HPKE-v1");
const KEM_P256 = concat(utf8("KEM"), new Uint8Array([0x00, 0x10]));
const SUITE_P256 = concat(utf8("HPKE"), new Uint8Array([0x00, 0x10, 0x00, 0x01, 0x00, 0x02]));
const SUITE_XWING = concat(utf8("HPKE"), new Uint8Array([0x64, 0x7a, 0x00, 0x01, 0x00, 0x02]));
const XWING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
/** `enc` lengths per suite. */
export const ENC_LEN = { 1: 65, 2: 1120 } as const;

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concat(VERSION, suiteId, utf8(label), ikm), salt);
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  const prefix = new Uint8Array([length >> 8, length & 0xff]);
  return expand(sha256, prk, concat(prefix, VERSION, suiteId, utf8(label), info), length);
}

function keySchedule(suiteId: Uint8Array, shared: Uint8Array, info: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const empty = new Uint8Array(0);
  const pskIdHash = labeledExtract(suiteId, empty, "psk_id_hash", empty);
  const infoHash = labeledExtract(suiteId, empty, "info_hash", info);
  const context = concat(new Uint8Array([0x00]), pskIdHash, infoHash);
  const secret = labeledExtract(suiteId, shared, "secret", empty);
  return {
    key: labeledExpand(suiteId, secret, "key", context, 32),
    nonce: labeledExpand(suiteId, secret, "base_nonce", context, 12),
  };
}

function p256Shared(dh: Uint8Array, enc: Uint8Array, recipientPublic: Uint8Array): Uint8Array {
  const prk = labeledExtract(KEM_P256, new Uint8Array(0), "eae_prk", dh);
  return labeledExpand(KEM_P256, prk, "shared_secret", concat(enc, recipientPublic), 32);
}

function xwingShared(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
  if (ssX.every((b) => b === 0)) throw new VirgilError("corrupted");
  return sha3_256(concat(ssM, ssX, ctX, pkX, XWING_LABEL));
}

/** AES-256-GCM seal through WebCrypto: ciphertext ‖ tag. */
export async function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const cryptoKey = await globalThis.crypto.subtle.importKey("raw", key as BufferSource, "AES-GCM", false, ["encrypt"]);
  return new Uint8Array(
    await globalThis.crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource },
      cryptoKey,
      data as BufferSource,
    ),
  );
}

/** AES-256-GCM open through WebCrypto; a failed tag is `corrupted`. */
export async function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
  const cryptoKey = await globalThis.crypto.subtle.importKey("raw", key as BufferSource, "AES-GCM", false, ["decrypt"]);
  try {
    return new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource },
        cryptoKey,
        sealed as BufferSource,
      ),
    );
  } catch {
    throw new VirgilError("corrupted");
  }
}

/** `SealBase(pkR, info, aad, plaintext)` in `suite`: `enc` and `ciphertext ‖ tag`. */
export async function sealBase(
  suite: 1 | 2,
  recipient: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<{ enc: Uint8Array; sealed: Uint8Array }> {
  let enc: Uint8Array;
  let shared: Uint8Array;
  let suiteId: Uint8Array;
  if (suite === 1) {
    const ephemeral = p256.utils.randomSecretKey();
    enc = p256.getPublicKey(ephemeral, false);
    const dh = p256.getSharedSecret(ephemeral, recipient, true).subarray(1);
    shared = p256Shared(dh, enc, recipient);
    suiteId = SUITE_P256;
  } else {
    const ekM = recipient.subarray(0, 1184);
    const pkX = recipient.subarray(1184);
    const { cipherText: ctM, sharedSecret: ssM } = ml_kem768.encapsulate(ekM);
    const ekX = x25519.utils.randomSecretKey();
    const ctX = x25519.getPublicKey(ekX);
    const ssX = x25519.getSharedSecret(ekX, pkX);
    if (ssX.every((b) => b === 0)) throw new VirgilError("invalid_public_key", "a low-order X25519 key");
    enc = concat(ctM, ctX);
    shared = xwingShared(ssM, ssX, ctX, pkX);
    suiteId = SUITE_XWING;
  }
  const { key, nonce } = keySchedule(suiteId, shared, info);
  return { enc, sealed: await aesGcmSeal(key, nonce, aad, plaintext) };
}

/** `OpenBase(enc, skR, info, aad, sealed)`; any failure is `corrupted`. */
export async function openBase(
  recipient: DecryptionKey,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Promise<Uint8Array> {
  let shared: Uint8Array;
  let suiteId: Uint8Array;
  try {
    if (recipient.suite === 1) {
      const dh = p256.getSharedSecret(recipient.p256, enc, true).subarray(1);
      shared = p256Shared(dh, enc, recipient.p256Public);
      suiteId = SUITE_P256;
    } else {
      const ctM = enc.subarray(0, 1088);
      const ctX = enc.subarray(1088);
      const ssM = ml_kem768.decapsulate(ctM, recipient.mlKem);
      const ssX = x25519.getSharedSecret(recipient.x25519, ctX);
      shared = xwingShared(ssM, ssX, ctX, recipient.x25519Public);
      suiteId = SUITE_XWING;
    }
  } catch {
    throw new VirgilError("corrupted");
  }
  const { key, nonce } = keySchedule(suiteId, shared, info);
  return aesGcmOpen(key, nonce, aad, sealed);
}
