/**
 * Password-locked key blobs (docs/format.md §5): 102 bytes, PBKDF2-HMAC-SHA256 and
 * AES-256-GCM through WebCrypto (faster than JavaScript), HKDF-Expand through @noble.
 */
import { expand } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, equalBytes, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import { PrivateKey, type Suite } from "./keys.js";

/** The length of every blob. */
export const BLOB_LEN = 102;
/** Iteration bounds for kdf 1 and 2. */
export const MIN_ITERATIONS = 1_000;
export const MAX_ITERATIONS = 10_000_000;
/** The default iteration count of new blobs. */
export const DEFAULT_ITERATIONS = 600_000;

const MAGIC = utf8("VGLK");
const KDF_NONE = 0;
const KDF_PBKDF2 = 1;
const KDF_HARDENED = 2;
const HEADER_LEN = 54;

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

interface Blob {
  suite: Suite;
  kdf: number;
  iterations: number;
  salt: Uint8Array;
  check: Uint8Array;
  nonce: Uint8Array;
  header: Uint8Array;
  sealed: Uint8Array;
}

/** Checks magic, version, length and the kdf/iteration pair, in that order (§5). */
function decode(bytes: Uint8Array): Blob {
  if (bytes.length < 4 || !equalBytes(bytes.subarray(0, 4), MAGIC)) {
    throw new VirgilError("malformed", "not a key blob");
  }
  const suite = bytes[4];
  if (suite !== 1 && suite !== 2) throw new VirgilError("unsupported_version");
  if (bytes.length !== BLOB_LEN) throw new VirgilError("malformed", `a key blob is ${BLOB_LEN} bytes`);
  const kdf = bytes[5]!;
  const iterations = new DataView(bytes.buffer, bytes.byteOffset + 6, 4).getUint32(0, false);
  const plausible =
    kdf === KDF_NONE
      ? iterations === 0
      : (kdf === KDF_PBKDF2 || kdf === KDF_HARDENED) && iterations >= MIN_ITERATIONS && iterations <= MAX_ITERATIONS;
  if (!plausible) throw new VirgilError("malformed", "impossible kdf or iteration count");
  return {
    suite,
    kdf,
    iterations,
    salt: bytes.slice(10, 26),
    check: bytes.slice(26, 42),
    nonce: bytes.slice(42, 54),
    header: bytes.slice(0, HEADER_LEN),
    sealed: bytes.slice(HEADER_LEN),
  };
}

async function master(kdf: number, secret: Uint8Array, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  if (kdf === KDF_NONE) return new Uint8Array(32);
  const key = await subtle().importKey("raw", secret as BufferSource, "PBKDF2", false, ["deriveBits"]);
  const bits = await subtle().deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

async function open(blob: Blob, secret: Uint8Array): Promise<PrivateKey> {
  const prk = await master(blob.kdf, secret, blob.salt, blob.iterations);
  const aeadKey = expand(sha256, prk, utf8("virgil-keyblob-v1 key"), 32);
  const check = expand(sha256, prk, utf8("virgil-keyblob-v1 check"), 16);
  if (!equalBytes(check, blob.check)) throw new VirgilError("wrong_password");
  const key = await subtle().importKey("raw", aeadKey as BufferSource, "AES-GCM", false, ["decrypt"]);
  let seed: Uint8Array;
  try {
    seed = new Uint8Array(
      await subtle().decrypt(
        { name: "AES-GCM", iv: blob.nonce as BufferSource, additionalData: blob.header as BufferSource },
        key,
        blob.sealed as BufferSource,
      ),
    );
  } catch {
    throw new VirgilError("corrupted");
  }
  return PrivateKey.fromSeed(seed, blob.suite);
}

/** Whether the blob needs a password (kdf 1 or 2); `false` for an unprotected one. */
export function isPasswordProtected(bytes: Uint8Array): boolean {
  return decode(bytes).kdf !== KDF_NONE;
}

/** Whether the blob is a key backup (kdf 2): it opens only with a hardened password. */
export function isHardened(bytes: Uint8Array): boolean {
  return decode(bytes).kdf === KDF_HARDENED;
}

/** Unlocks a kdf-0 or kdf-1 blob with `password` (`null` for an unprotected blob). */
export async function unlock(bytes: Uint8Array, password: string | Uint8Array | null): Promise<PrivateKey> {
  const blob = decode(bytes);
  if (blob.kdf === KDF_HARDENED) {
    throw new VirgilError("misuse", "a key backup opens only with a hardened password (unlockHardened)");
  }
  if (blob.kdf === KDF_NONE) return open(blob, new Uint8Array(0));
  if (password === null) throw new VirgilError("wrong_password");
  return open(blob, typeof password === "string" ? utf8(password) : password);
}

/** Unlocks a key backup (kdf 2) with the 32-byte hardened password (§16). */
export async function unlockHardened(bytes: Uint8Array, hardened: Uint8Array): Promise<PrivateKey> {
  const blob = decode(bytes);
  if (blob.kdf !== KDF_HARDENED) throw new VirgilError("misuse", "not a key backup (unlock)");
  if (hardened.length !== 32) throw new VirgilError("misuse", "a hardened password is 32 bytes");
  return open(blob, hardened);
}

/** Locks `key` with `password` (`null`: unprotected, kdf 0) in a new 102-byte blob. */
export async function lock(
  key: PrivateKey,
  password: string | Uint8Array | null,
  iterations: number = DEFAULT_ITERATIONS,
): Promise<Uint8Array> {
  const kdf = password === null ? KDF_NONE : KDF_PBKDF2;
  const rounds = kdf === KDF_NONE ? 0 : iterations;
  if (kdf !== KDF_NONE && (rounds < MIN_ITERATIONS || rounds > MAX_ITERATIONS)) {
    throw new VirgilError("misuse", `iterations must be ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`);
  }
  const random = globalThis.crypto.getRandomValues(new Uint8Array(28));
  const salt = random.subarray(0, 16);
  const nonce = random.subarray(16, 28);
  const secret = password === null ? new Uint8Array(0) : typeof password === "string" ? utf8(password) : password;
  const prk = await master(kdf, secret, salt, rounds);
  const aeadKey = expand(sha256, prk, utf8("virgil-keyblob-v1 key"), 32);
  const check = expand(sha256, prk, utf8("virgil-keyblob-v1 check"), 16);
  const counts = new Uint8Array(4);
  new DataView(counts.buffer).setUint32(0, rounds, false);
  const header = concat(MAGIC, new Uint8Array([key.suite, kdf]), counts, salt, check, nonce);
  const cryptoKey = await subtle().importKey("raw", aeadKey as BufferSource, "AES-GCM", false, ["encrypt"]);
  const sealed = new Uint8Array(
    await subtle().encrypt(
      { name: "AES-GCM", iv: nonce as BufferSource, additionalData: header as BufferSource },
      cryptoKey,
      key.toSeed() as BufferSource,
    ),
  );
  return concat(header, sealed);
}
