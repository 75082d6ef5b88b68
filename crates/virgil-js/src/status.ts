/**
 * What the cards service vouches for (docs/format.md §9, §12): a card's status statement,
 * a search answer signed as a whole, and revocation requests.
 */
import { concat, equalBytes, fromHex, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import type { PrivateKey, PublicKey } from "./keys.js";

/** A card's status. */
export type CardStatus =
  | { state: "active" }
  | { state: "superseded"; by: Uint8Array }
  | { state: "revoked"; reason: "unspecified" | "compromised" | "reset"; at: bigint }
  | { state: "pending"; activatesAt: bigint };

const REASONS = ["unspecified", "compromised", "reset"] as const;
/** How old a statement may be, and how far ahead of the clock, in seconds. */
export const MAX_AGE = 600;
export const MAX_AHEAD = 300;

function u64(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false);
  return out;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

function str32(text: string): Uint8Array {
  const bytes = utf8(text);
  return concat(u32(bytes.length), bytes);
}

/** `"VGLT" ‖ 0x01 ‖ card_id ‖ state ‖ u64be(as_of)` (§12). */
export function statusStatement(cardId: Uint8Array, status: CardStatus, asOf: bigint): Uint8Array {
  let state: Uint8Array;
  switch (status.state) {
    case "active":
      state = new Uint8Array([0x00]);
      break;
    case "superseded":
      state = concat(new Uint8Array([0x01]), status.by);
      break;
    case "revoked":
      state = concat(new Uint8Array([0x02, REASONS.indexOf(status.reason)]), u64(status.at));
      break;
    case "pending":
      state = concat(new Uint8Array([0x03]), u64(status.activatesAt));
      break;
  }
  return concat(utf8("VGLT"), new Uint8Array([0x01]), cardId, state, u64(asOf));
}

/** The status as the cards service's JSON carries it (`status`). */
export function statusFromJson(json: {
  state: string;
  by?: string;
  reason?: string;
  at?: number;
  activates_at?: number;
}): CardStatus {
  switch (json.state) {
    case "active":
      return { state: "active" };
    case "superseded":
      return { state: "superseded", by: fromHex(json.by ?? "") };
    case "revoked": {
      const reason = REASONS.find((r) => r === json.reason);
      if (reason === undefined || json.at === undefined) break;
      return { state: "revoked", reason, at: BigInt(json.at) };
    }
    case "pending":
      if (json.activates_at === undefined) break;
      return { state: "pending", activatesAt: BigInt(json.activates_at) };
  }
  throw new VirgilError("malformed", `card status ${JSON.stringify(json)}`);
}

function fresh(asOf: bigint, now: bigint): boolean {
  return asOf <= now + BigInt(MAX_AHEAD) && now <= asOf + BigInt(MAX_AGE);
}

/** Whether the service key `service` vouches for `status` of `cardId` at `asOf`, fresh at `now`. */
export function verifyStatus(
  service: PublicKey[],
  cardId: Uint8Array,
  status: CardStatus,
  asOf: bigint,
  signature: Uint8Array,
  now: bigint,
): boolean {
  const statement = statusStatement(cardId, status, asOf);
  return fresh(asOf, now) && service.some((key) => key.verify("virgil/card-status", statement, signature));
}

/** The signed search answer (§12), rebuilt from the query and the answer's statements. */
export function searchStatement(appId: string, identities: string[], asOf: bigint, statements: Uint8Array[]): Uint8Array {
  const sorted = [...new Set(identities)].sort((a, b) => {
    const x = utf8(a);
    const y = utf8(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
  return concat(
    utf8("VGLQ"),
    new Uint8Array([0x02]),
    u64(asOf),
    str32(appId),
    u32(sorted.length),
    ...sorted.map(str32),
    u32(statements.length),
    ...statements.flatMap((s) => [u32(s.length), s]),
  );
}

/** Whether a search answer is signed as a whole by a pinned service key, and fresh. */
export function verifySearch(
  service: PublicKey[],
  appId: string,
  identities: string[],
  asOf: bigint,
  statements: Uint8Array[],
  signature: Uint8Array,
  now: bigint,
): boolean {
  const statement = searchStatement(appId, identities, asOf, statements);
  return fresh(asOf, now) && service.some((key) => key.verify("virgil/search-status", statement, signature));
}

/** A revocation request (§9). */
export interface RevocationRequest {
  cardId: Uint8Array;
  reason: "unspecified" | "compromised";
  createdAt: bigint;
}

/** The 46-byte request. */
export function encodeRevocation(request: RevocationRequest): Uint8Array {
  return concat(
    utf8("VGLR"),
    new Uint8Array([0x01]),
    request.cardId,
    new Uint8Array([request.reason === "compromised" ? 1 : 0]),
    u64(request.createdAt),
  );
}

/** Decodes a request; a reason other than 0 or 1 is `malformed`. */
export function decodeRevocation(bytes: Uint8Array): RevocationRequest {
  if (bytes.length !== 46 || !equalBytes(bytes.subarray(0, 4), utf8("VGLR"))) {
    throw new VirgilError("malformed", "not a revocation request");
  }
  if (bytes[4] !== 0x01) throw new VirgilError("unsupported_version");
  const reason = bytes[37];
  if (reason !== 0 && reason !== 1) throw new VirgilError("malformed", "revocation reason");
  return {
    cardId: bytes.slice(5, 37),
    reason: reason === 1 ? "compromised" : "unspecified",
    createdAt: new DataView(bytes.buffer, bytes.byteOffset + 38, 8).getBigUint64(0, false),
  };
}

/** Signs a revocation request with the application's key or the owner's card key. */
export function signRevocation(request: RevocationRequest, key: PrivateKey): { request: Uint8Array; signature: Uint8Array } {
  const bytes = encodeRevocation(request);
  return { request: bytes, signature: key.sign("virgil/card-revocation", bytes) };
}
