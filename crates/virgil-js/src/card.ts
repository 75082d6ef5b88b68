/**
 * Cards (docs/format.md §6–§8): the snapshot (bincode, big-endian, fixed-int), its id,
 * signatures by role (`self`, `app:<id>`, `service`, `link:<card id>`), the exported
 * string, and a verifier with pinned application and service keys.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, equalBytes, fromBase64, fromHex, toBase64, toHex, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import { PrivateKey, PUBLIC_KEY_LEN, PublicKey } from "./keys.js";

const SNAPSHOT_MAGIC = utf8("VGLC");
const EXPORT_MAGIC = utf8("VGLX");
const MAX_SNAPSHOT = 32 * 1024;
const MAX_EXPORT = 64 * 1024;
const MAX_SIGNATURES = 16;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** The reserved data key of a reset card. */
export const RESET_DATA_KEY = "virgil.reset";

/** What a card says (§6). */
export interface CardContent {
  identity: string;
  identityType: string;
  publicKey: PublicKey;
  appId: string;
  data: [string, string][];
  info: [string, string] | null;
  createdAt: bigint;
  previousCardId: Uint8Array | null;
}

const bad = (why: string): VirgilError => new VirgilError("malformed", `card: ${why}`);

function characters(text: string): number {
  return [...text].length;
}

function printable(text: string, max: number, what: string, min = 0): void {
  const count = characters(text);
  if (count < min || count > max || /\p{Cc}/u.test(text)) throw bad(`${what} must be ${min}–${max} characters, no control characters`);
}

function checkContent(content: CardContent): void {
  printable(content.identity, 256, "identity", 1);
  if (!NAME.test(content.identityType)) throw bad("identity type");
  if (!NAME.test(content.appId)) throw bad("app id");
  if (content.data.length > 16) throw bad("more than 16 data entries");
  for (const [i, [key, value]] of content.data.entries()) {
    if (!NAME.test(key)) throw bad("data key");
    printable(value, 256, "data value");
    const previous = content.data[i - 1];
    if (previous !== undefined && compareBytes(utf8(previous[0]), utf8(key)) >= 0) throw bad("data keys not strictly ascending");
    if (key.startsWith("virgil.") && (key !== RESET_DATA_KEY || value !== "1")) throw bad("reserved data key");
  }
  if (content.info !== null) {
    printable(content.info[0], 256, "device");
    printable(content.info[1], 256, "device name");
  }
  if (content.previousCardId !== null && content.previousCardId.length !== 32) throw bad("previous card id");
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

function u64(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false);
  return out;
}

function str(text: string): Uint8Array {
  const bytes = utf8(text);
  return concat(u64(bytes.length), bytes);
}

/** The canonical snapshot of `content` (§6). */
export function encodeSnapshot(content: CardContent): Uint8Array {
  checkContent(content);
  const key = content.publicKey.toBytes();
  const version = content.publicKey.suite;
  const parts: Uint8Array[] = [
    SNAPSHOT_MAGIC,
    new Uint8Array([version]),
    str(content.identity),
    str(content.identityType),
    version === 1 ? key : concat(u64(key.length), key),
    str(content.appId),
    u64(content.data.length),
    ...content.data.flatMap(([k, v]) => [str(k), str(v)]),
    content.info === null ? new Uint8Array([0]) : concat(new Uint8Array([1]), str(content.info[0]), str(content.info[1])),
    u64(content.createdAt),
    content.previousCardId === null ? new Uint8Array([0]) : concat(new Uint8Array([1]), content.previousCardId),
  ];
  return concat(...parts);
}

/** A bounded reader of bincode fields. */
class Reader {
  at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  take(length: number | bigint): Uint8Array {
    const n = Number(length);
    if (!Number.isSafeInteger(n) || this.at + n > this.bytes.length) throw bad("truncated");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8(): number {
    return this.take(1)[0]!;
  }
  u64(): bigint {
    return new DataView(this.take(8).slice().buffer).getBigUint64(0, false);
  }
  string(): string {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.take(this.u64()));
    } catch (error) {
      if (error instanceof VirgilError) throw error;
      throw bad("invalid UTF-8");
    }
  }
  end(): void {
    if (this.at !== this.bytes.length) throw bad("trailing bytes");
  }
}

/** Decodes and checks a snapshot (§6), canonical encoding included. */
export function decodeSnapshot(snapshot: Uint8Array): CardContent {
  if (snapshot.length > MAX_SNAPSHOT) throw bad("snapshot over 32 KiB");
  const r = new Reader(snapshot);
  if (!equalBytes(r.take(4), SNAPSHOT_MAGIC)) throw bad("not a card snapshot");
  const version = r.u8();
  if (version !== 1 && version !== 2) throw new VirgilError("unsupported_version");
  const identity = r.string();
  const identityType = r.string();
  const keyBytes = version === 1 ? r.take(PUBLIC_KEY_LEN[1]) : r.take(r.u64());
  const publicKey = PublicKey.fromBytes(keyBytes.slice());
  if (publicKey.suite !== version) throw bad("the key's suite is not the snapshot's version");
  const appId = r.string();
  const count = r.u64();
  if (count > 16n) throw bad("more than 16 data entries");
  const data: [string, string][] = [];
  for (let i = 0n; i < count; i++) data.push([r.string(), r.string()]);
  const infoTag = r.u8();
  if (infoTag > 1) throw bad("option tag");
  const info: [string, string] | null = infoTag === 1 ? [r.string(), r.string()] : null;
  const createdAt = r.u64();
  const previousTag = r.u8();
  if (previousTag > 1) throw bad("option tag");
  const previousCardId = previousTag === 1 ? r.take(32).slice() : null;
  r.end();
  const content: CardContent = { identity, identityType, publicKey, appId, data, info, createdAt, previousCardId };
  if (!equalBytes(encodeSnapshot(content), snapshot)) throw bad("not the canonical encoding");
  return content;
}

/** A card: its snapshot, exactly as made, and its signatures by signer name. */
export class Card {
  readonly content: CardContent;
  readonly snapshot: Uint8Array;
  readonly id: Uint8Array;
  readonly signatures: Map<string, Uint8Array>;

  private constructor(snapshot: Uint8Array, signatures: Map<string, Uint8Array>) {
    this.content = decodeSnapshot(snapshot);
    this.snapshot = snapshot.slice();
    this.id = sha256(snapshot);
    this.signatures = signatures;
  }

  /** A self-signed card request for `key` (the owner's device). */
  static request(
    key: PrivateKey,
    options: {
      identity: string;
      appId: string;
      identityType?: string;
      data?: [string, string][];
      /** Device and device name. */
      info?: [string, string];
      createdAt?: bigint;
      previousCardId?: Uint8Array;
    },
  ): Card {
    const content: CardContent = {
      identity: options.identity,
      identityType: options.identityType ?? "user",
      publicKey: key.publicKey,
      appId: options.appId,
      data: options.data ?? [],
      info: options.info ?? null,
      createdAt: options.createdAt ?? BigInt(Math.floor(Date.now() / 1000)),
      previousCardId: options.previousCardId ?? null,
    };
    const card = new Card(encodeSnapshot(content), new Map());
    card.sign("self", key);
    return card;
  }

  /** A card from its snapshot and signatures (as the HTTP JSON carries them). */
  static fromParts(snapshot: Uint8Array, signatures: [string, Uint8Array][]): Card {
    if (signatures.length > MAX_SIGNATURES) throw bad("more than 16 signatures");
    const map = new Map<string, Uint8Array>();
    for (const [signer, signature] of signatures) {
      checkSigner(signer);
      if (signature.length !== 64) throw bad("a signature is 64 bytes");
      if (map.has(signer)) throw bad("duplicate signer");
      map.set(signer, signature.slice());
    }
    return new Card(snapshot, map);
  }

  /** The HTTP APIs' JSON form; `id` must be the snapshot's. */
  static fromJson(json: { id: string; content_snapshot: string; signatures: { signer: string; signature: string }[] }): Card {
    const card = Card.fromParts(
      fromBase64(json.content_snapshot),
      json.signatures.map((s) => [s.signer, fromBase64(s.signature)]),
    );
    if (!equalBytes(fromHex(json.id), card.id)) throw bad("id is not SHA-256 of the snapshot");
    return card;
  }

  /** Parses an exported card (§8). Signatures are checked by a `Verifier`, not here. */
  static import(text: string): Card {
    if (text.length > Math.ceil(MAX_EXPORT / 3) * 4) throw bad("larger than 64 KiB");
    const r = new Reader(fromBase64(text.trim()));
    if (!equalBytes(r.take(4), EXPORT_MAGIC)) throw bad("not an exported card");
    if (r.u8() !== 0x01) throw new VirgilError("unsupported_version");
    const snapshot = r.take(r.u64()).slice();
    const count = r.u64();
    if (count > BigInt(MAX_SIGNATURES)) throw bad("more than 16 signatures");
    const signatures: [string, Uint8Array][] = [];
    for (let i = 0n; i < count; i++) signatures.push([r.string(), r.take(64).slice()]);
    r.end();
    return Card.fromParts(snapshot, signatures);
  }

  /** The exported string (§8). */
  export(): string {
    const parts: Uint8Array[] = [EXPORT_MAGIC, new Uint8Array([0x01]), u64(this.snapshot.length), this.snapshot, u64(this.signatures.size)];
    for (const [signer, signature] of this.signatures) parts.push(str(signer), signature);
    return toBase64(concat(...parts));
  }

  /** The card id as 64 lowercase hex digits. */
  idHex(): string {
    return toHex(this.id);
  }

  /** Adds (or replaces) `signer`'s signature, made with `key` (§7). */
  sign(signer: string, key: PrivateKey): void {
    checkSigner(signer);
    const context = signer.startsWith("link:") ? "virgil/card-link" : "virgil/card";
    this.signatures.set(signer, key.sign(context, concat(this.id, utf8(signer))));
  }

  /** Links this card from `existing`, one of the owner's cards, with its key. */
  linkFrom(existing: Card, key: PrivateKey): void {
    if (!existing.content.publicKey.equals(key.publicKey)) throw new VirgilError("misuse", "the key is not the existing card's");
    this.sign(`link:${existing.idHex()}`, key);
  }

  /** Whether `signer`'s signature holds for `key`. */
  isSignedBy(signer: string, key: PublicKey): boolean {
    const signature = this.signatures.get(signer);
    if (signature === undefined) return false;
    const context = signer.startsWith("link:") ? "virgil/card-link" : "virgil/card";
    return key.verify(context, concat(this.id, utf8(signer)), signature);
  }

  /** Whether `existing` (same owner, another card) links this one with a valid signature. */
  isLinkedFrom(existing: Card): boolean {
    return (
      existing.content.appId === this.content.appId &&
      existing.content.identity === this.content.identity &&
      !equalBytes(existing.id, this.id) &&
      this.isSignedBy(`link:${existing.idHex()}`, existing.content.publicKey)
    );
  }
}

function checkSigner(signer: string): void {
  if (signer === "self" || signer === "service") return;
  if (signer.startsWith("app:") && NAME.test(signer.slice(4))) return;
  if (/^link:[0-9a-f]{64}$/.test(signer)) return;
  throw bad(`unknown signer ${JSON.stringify(signer)}`);
}

/** Checks cards against pinned keys (§7's policy). */
export class Verifier {
  constructor(
    private readonly appKeys: Map<string, PublicKey[]>,
    private readonly serviceKeys: PublicKey[] = [],
    private readonly allowOtherSigners = false,
  ) {}

  /** Why `card` is not trusted, or `null` if it is. */
  problem(card: Card): string | null {
    if (!card.isSignedBy("self", card.content.publicKey)) return "the self signature does not verify";
    const appSigner = `app:${card.content.appId}`;
    const appKeys = this.appKeys.get(card.content.appId) ?? [];
    if (!appKeys.some((key) => card.isSignedBy(appSigner, key))) return `no valid signature of application ${card.content.appId}`;
    if (this.serviceKeys.length > 0 && !this.serviceKeys.some((key) => card.isSignedBy("service", key))) {
      return "no valid signature of the cards service";
    }
    if (!this.allowOtherSigners) {
      for (const signer of card.signatures.keys()) {
        const known =
          signer === "self" ||
          signer === appSigner ||
          signer.startsWith("link:") ||
          (signer === "service" && this.serviceKeys.length > 0);
        if (!known) {
          return `an unexpected signer ${signer}`;
        }
      }
    }
    return null;
  }

  /** Throws `VirgilError("bad_signature")` unless `card` is trusted. */
  verify(card: Card): void {
    const problem = this.problem(card);
    if (problem !== null) throw new VirgilError("bad_signature", `card ${card.idHex()}: ${problem}`);
  }
}
