/**
 * Keys (docs/format.md §1–§3): a 32-byte seed and a suite; the Ed25519 signing subkey and
 * the encryption subkey (suite 1: P-256 for HPKE; suite 2: X-Wing) are derived from it.
 * Every primitive is @noble's; this file is the glue the format specifies.
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { expand, extract } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { shake256 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { concat, equalBytes, fromBase64, toBase64, toHex, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";

/** 1: classic (Ed25519 + P-256); 2: post-quantum (Ed25519 + X-Wing). */
export type Suite = 1 | 2;

/** Length of a seed, the only secret ever stored. */
export const SEED_LEN = 32;
/** Public key lengths per suite (§2). */
export const PUBLIC_KEY_LEN = { 1: 100, 2: 1251 } as const;

const ML_KEM_EK_LEN = 1184;
const ML_KEM_Q = 3329;

function hkdfExpand(prk: Uint8Array, info: string, length: number): Uint8Array {
  return expand(sha256, prk, utf8(info), length);
}

function bigintOf(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** DeriveKeyPair of DHKEM(P-256, HKDF-SHA256), RFC 9180 §7.1.3. */
function p256DeriveKeyPair(ikm: Uint8Array): { secret: Uint8Array; public: Uint8Array } {
  const suiteId = concat(utf8("KEM"), new Uint8Array([0x00, 0x10]));
  const prk = extract(sha256, concat(utf8("HPKE-v1"), suiteId, utf8("dkp_prk"), ikm), new Uint8Array(0));
  for (let counter = 0; counter < 256; counter++) {
    const info = concat(
      new Uint8Array([0, 32]),
      utf8("HPKE-v1"),
      suiteId,
      utf8("candidate"),
      new Uint8Array([counter]),
    );
    const candidate = expand(sha256, prk, info, 32);
    const scalar = bigintOf(candidate);
    if (scalar !== 0n && scalar < p256.Point.Fn.ORDER) {
      return { secret: candidate, public: p256.getPublicKey(candidate, false) };
    }
  }
  throw new VirgilError("misuse", "DeriveKeyPair found no scalar");
}

/** `"virgil-sig-v1\0" ‖ u8(len(context)) ‖ context ‖ message` (§3). */
export function signedBytes(context: string, message: Uint8Array): Uint8Array {
  const contextBytes = utf8(context);
  if (contextBytes.length > 255) throw new VirgilError("misuse", "a signature context is at most 255 bytes");
  return concat(utf8("virgil-sig-v1\0"), new Uint8Array([contextBytes.length]), contextBytes, message);
}

/** A public key (§2): `"VK" ‖ suite ‖ ed25519_public ‖ encryption public key`. */
export class PublicKey {
  private constructor(
    readonly suite: Suite,
    private readonly encoded: Uint8Array,
  ) {}

  /** Decodes and checks a public key as §2 requires. */
  static fromBytes(bytes: Uint8Array): PublicKey {
    if (bytes.length < 3 || bytes[0] !== 0x56 || bytes[1] !== 0x4b) {
      throw new VirgilError("invalid_public_key", "no \"VK\" magic");
    }
    const suite = bytes[2];
    if (suite !== 1 && suite !== 2) throw new VirgilError("unsupported_version");
    if (bytes.length !== PUBLIC_KEY_LEN[suite]) {
      throw new VirgilError("invalid_public_key", `a suite-${suite} key is ${PUBLIC_KEY_LEN[suite]} bytes`);
    }
    const encryption = bytes.subarray(35);
    if (suite === 1) {
      if (encryption[0] !== 0x04) throw new VirgilError("invalid_public_key", "not an uncompressed P-256 point");
      try {
        p256.Point.fromBytes(encryption).assertValidity();
      } catch {
        throw new VirgilError("invalid_public_key", "not a P-256 point");
      }
    } else if (!mlKemModulusHolds(encryption.subarray(0, ML_KEM_EK_LEN))) {
      throw new VirgilError("invalid_public_key", "ML-KEM key fails the modulus check");
    }
    return new PublicKey(suite, bytes.slice());
  }

  /** `"vpk:" ‖ base64(public_key)`, as `virgil key export-public` prints it. */
  static fromString(text: string): PublicKey {
    if (!text.startsWith("vpk:")) throw new VirgilError("malformed", "a public key string starts with vpk:");
    return PublicKey.fromBytes(fromBase64(text.slice(4)));
  }

  /** @internal */
  static fromParts(suite: Suite, edPublic: Uint8Array, encryption: Uint8Array): PublicKey {
    return new PublicKey(suite, concat(new Uint8Array([0x56, 0x4b, suite]), edPublic, encryption));
  }

  /** The encoded key. */
  toBytes(): Uint8Array {
    return this.encoded.slice();
  }

  /** The public key string (`vpk:…`). */
  toString(): string {
    return `vpk:${toBase64(this.encoded)}`;
  }

  /** SHA-256 of the encoded key (§2). */
  keyId(): Uint8Array {
    return sha256(this.encoded);
  }

  /** The key id as 64 lowercase hex digits. */
  keyIdHex(): string {
    return toHex(this.keyId());
  }

  /** @internal The encryption subkey: P-256 point (suite 1) or X-Wing key (suite 2). */
  encryptionKey(): Uint8Array {
    return this.encoded.subarray(35);
  }

  /** The Ed25519 signing key. */
  signingKey(): Uint8Array {
    return this.encoded.subarray(3, 35);
  }

  /** Whether `signature` is this key's over `message` under `context` (§3). */
  verify(context: string, message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, signedBytes(context, message), this.signingKey(), { zip215: false });
    } catch {
      return false;
    }
  }

  /** Same encoded key. */
  equals(other: PublicKey): boolean {
    return equalBytes(this.encoded, other.encoded);
  }
}

/** FIPS 203 §7.2: every 12-bit coefficient of the encoded vector is below q. */
function mlKemModulusHolds(ek: Uint8Array): boolean {
  const polyBytes = ek.subarray(0, ek.length - 32);
  for (let i = 0; i + 2 < polyBytes.length; i += 3) {
    const b0 = polyBytes[i]!;
    const b1 = polyBytes[i + 1]!;
    const b2 = polyBytes[i + 2]!;
    const low = b0 | ((b1 & 0x0f) << 8);
    const high = (b1 >> 4) | (b2 << 4);
    if (low >= ML_KEM_Q || high >= ML_KEM_Q) return false;
  }
  return true;
}

/** @internal A private key's decryption subkey (§1). */
export type DecryptionKey =
  | { suite: 1; p256: Uint8Array; p256Public: Uint8Array }
  | { suite: 2; mlKem: Uint8Array; x25519: Uint8Array; x25519Public: Uint8Array };

/** A private key: a seed and its suite (§1). The subkeys are derived when needed. */
export class PrivateKey {
  readonly suite: Suite;
  readonly publicKey: PublicKey;
  readonly #seed: Uint8Array;
  readonly #signingSeed: Uint8Array;
  readonly #decryption: DecryptionKey;

  private constructor(seed: Uint8Array, suite: Suite) {
    this.suite = suite;
    this.#seed = seed.slice();
    const prk = extract(sha256, seed, utf8(suite === 1 ? "virgil-key-v1" : "virgil-key-v2"));
    this.#signingSeed = hkdfExpand(prk, "ed25519 signing seed", 32);
    const edPublic = ed25519.getPublicKey(this.#signingSeed);
    let encryption: Uint8Array;
    if (suite === 1) {
      const pair = p256DeriveKeyPair(hkdfExpand(prk, "p256 hpke ikm", 32));
      encryption = pair.public;
      this.#decryption = { suite: 1, p256: pair.secret, p256Public: pair.public };
    } else {
      const expanded = shake256(hkdfExpand(prk, "x-wing seed", 32), { dkLen: 96 });
      const { publicKey: ek, secretKey: dk } = ml_kem768.keygen(expanded.subarray(0, 64));
      const xSecret = expanded.slice(64, 96);
      const xPublic = x25519.getPublicKey(xSecret);
      encryption = concat(ek, xPublic);
      this.#decryption = { suite: 2, mlKem: dk, x25519: xSecret, x25519Public: xPublic };
    }
    this.publicKey = PublicKey.fromParts(suite, edPublic, encryption);
  }

  /** The key of `seed` (32 bytes) in `suite`. */
  static fromSeed(seed: Uint8Array, suite: Suite = 1): PrivateKey {
    if (seed.length !== SEED_LEN) throw new VirgilError("malformed", "a seed is 32 bytes");
    return new PrivateKey(seed, suite);
  }

  /** A new key from the platform's random generator. */
  static generate(suite: Suite = 1): PrivateKey {
    return new PrivateKey(globalThis.crypto.getRandomValues(new Uint8Array(SEED_LEN)), suite);
  }

  /** The seed: the only secret, for locking it (§5). Handle with care. */
  toSeed(): Uint8Array {
    return this.#seed.slice();
  }

  /** Ed25519 over §3's signed bytes. */
  sign(context: string, message: Uint8Array): Uint8Array {
    return ed25519.sign(signedBytes(context, message), this.#signingSeed);
  }

  /** @internal The decryption subkey, for the envelope reader. */
  decryptionKey(): DecryptionKey {
    return this.#decryption;
  }

  /** Never prints the seed. */
  toString(): string {
    return `PrivateKey(suite ${this.suite}, key id ${this.publicKey.keyIdHex()})`;
  }
}
