/**
 * Safety numbers (docs/format.md §13): 60 digits two people compare to know each has the
 * other's real keys. Each half comes from one owner and a set of its cards' public keys.
 */
import { sha512 } from "@noble/hashes/sha2.js";
import { concat, utf8 } from "./encoding.js";
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
