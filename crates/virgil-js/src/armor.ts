/**
 * ASCII armor (docs/format.md §11): an envelope as text, 48 bytes (64 base64 characters)
 * per line between BEGIN and END lines.
 */
import { concat, fromBase64, toBase64, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";

/** The first line of armor. */
export const BEGIN = "-----BEGIN VIRGIL MESSAGE-----";
/** The last line of armor. */
export const END = "-----END VIRGIL MESSAGE-----";
const BYTES_PER_LINE = 48;
const MAX_LINE = 128;

/** Whether `data` starts as armor (its first 30 bytes are the BEGIN line). */
export function isArmored(data: Uint8Array | string): boolean {
  const head = typeof data === "string" ? data.slice(0, BEGIN.length) : new TextDecoder().decode(data.subarray(0, BEGIN.length));
  return head === BEGIN;
}

/** Armors an envelope. */
export function armor(envelope: Uint8Array): string {
  const lines = [BEGIN];
  for (let at = 0; at < envelope.length; at += BYTES_PER_LINE) {
    lines.push(toBase64(envelope.subarray(at, at + BYTES_PER_LINE)));
  }
  lines.push(END, "");
  return lines.join("\n");
}

/** The envelope inside armor; anything §11 rejects is `malformed`. */
export function dearmor(text: Uint8Array | string): Uint8Array {
  const source = typeof text === "string" ? text : new TextDecoder("utf-8", { fatal: false }).decode(text);
  const bad = (why: string): VirgilError => new VirgilError("malformed", `armor: ${why}`);
  const parts: Uint8Array[] = [];
  let at = 0;
  let first = true;
  let short = false;
  for (;;) {
    const end = source.indexOf("\n", at);
    if (end < 0) throw bad(first ? "no BEGIN line" : "no END line");
    if (end + 1 - at > MAX_LINE) throw bad("a line over 128 bytes");
    let line = source.slice(at, end);
    if (line.endsWith("\r")) line = line.slice(0, -1);
    at = end + 1;
    if (first) {
      if (line !== BEGIN) throw bad("the first line is not the BEGIN line");
      first = false;
      continue;
    }
    if (line === END) break;
    if (short) throw bad("a data line after a shorter one");
    let bytes: Uint8Array;
    try {
      bytes = fromBase64(line);
    } catch {
      throw bad("a data line is not base64");
    }
    if (bytes.length > BYTES_PER_LINE || bytes.length === 0) throw bad("a data line of more than 48 bytes");
    if (bytes.length < BYTES_PER_LINE) short = true;
    parts.push(bytes);
  }
  return concat(...parts);
}

/** `utf8(armor(envelope))`. */
export function armorBytes(envelope: Uint8Array): Uint8Array {
  return utf8(armor(envelope));
}
