/**
 * Safety numbers (docs/format.md §13): 60 digits two people compare to know each has the
 * other's real keys. Each half comes from one owner and a set of its cards' public keys.
 */
import { sha512 } from "@noble/hashes/sha2.js";
import { concat, fromBase64, toBase64, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import type { PublicKey } from "./keys.js";

/** One side: an owner and its cards' public keys. */
export interface SafetySide {
  appId: string;
  identity: string;
  publicKeys: PublicKey[];
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** One side's 30 digits. */
export function half(side: SafetySide): string {
  const keys = side.publicKeys.map((key) => key.toBytes()).sort(compare);
  const unique = keys.filter((key, i) => i === 0 || compare(keys[i - 1]!, key) !== 0);
  const app = utf8(side.appId);
  const identity = utf8(side.identity);
  const hash = sha512(
    concat(utf8("virgil/safety-number/v2"), u32(app.length), app, u32(identity.length), identity, u32(unique.length), ...unique),
  );
  let digits = "";
  for (let i = 0; i < 6; i++) {
    let value = 0n;
    for (const byte of hash.subarray(5 * i, 5 * i + 5)) value = (value << 8n) | BigInt(byte);
    digits += (value % 100_000n).toString().padStart(5, "0");
  }
  return digits;
}

/** The 60-digit number of two sides (the same on both devices). */
export function safetyNumber(ours: SafetySide, theirs: SafetySide): string {
  const [a, b] = [half(ours), half(theirs)].sort();
  return a! + b!;
}

/** The number in groups of five, as it is printed. */
export function grouped(number: string): string {
  return number.match(/.{1,5}/g)?.join(" ") ?? "";
}

/** The start of every verification code (§13). */
export const VERIFICATION_CODE_PREFIX = "virgil-verify:1:";

/**
 * The QR-ready verification code (§13): the safety number and this device's newest
 * signed directory checkpoint (§14, or nothing), so that comparing two devices' codes
 * also checks that both see one key directory.
 */
export function verificationCode(number: string, checkpoint: Uint8Array | null): string {
  return `${VERIFICATION_CODE_PREFIX}${number}:${checkpoint === null ? "" : toBase64(checkpoint)}`;
}

/** Reads a verification code (surrounding white space ignored); `malformed` otherwise. */
export function parseVerificationCode(text: string): { number: string; checkpoint: Uint8Array | null } {
  const trimmed = text.trim();
  if (!trimmed.startsWith(VERIFICATION_CODE_PREFIX)) throw new VirgilError("malformed", "not a verification code (virgil-verify:1:…)");
  const rest = trimmed.slice(VERIFICATION_CODE_PREFIX.length);
  const colon = rest.indexOf(":");
  if (colon < 0) throw new VirgilError("malformed", "a verification code has no checkpoint part");
  const number = rest.slice(0, colon);
  if (!/^[0-9]{60}$/.test(number)) throw new VirgilError("malformed", "a verification code's number is not 60 digits");
  const encoded = rest.slice(colon + 1);
  return { number, checkpoint: encoded === "" ? null : fromBase64(encoded) };
}
