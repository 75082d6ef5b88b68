/**
 * The key directory on the client (docs/format.md §14–§15): signed checkpoints, the log
 * of the newest one a client accepted (rollback, fork, VRF-key change and time going
 * back refused), labels and entries, and the check of a lookup answer — every card
 * served is exactly what the directory's proven entry lists for its identity.
 */
import { decodeHistoryProof, decodeLookupProof, keyHistoryVerify, lookupVerify } from "./akd.js";
import { concat, equalBytes, fromBase64, toHex, utf8 } from "./encoding.js";
import { VirgilError } from "./errors.js";
import { committed, openStore, request } from "./idb.js";
import type { PublicKey } from "./keys.js";
import type { CardStatus } from "./status.js";

const MAGIC = new Uint8Array([0x56, 0x47, 0x4c, 0x4b, 0x01]); // "VGLK" 1
/** The most a signed checkpoint can be. */
export const MAX_SIGNED_CHECKPOINT = 5 + 1 + 64 + 8 + 32 + 32 + 8 + 64;
/** The most a client decodes of one lookup proof. */
export const MAX_LOOKUP_PROOF = 64 * 1024;
/** The most a client decodes of one history proof. */
export const MAX_HISTORY_PROOF = 4 * 1024 * 1024;

const malformed = (detail: string): VirgilError => new VirgilError("malformed", detail);
const refused = (detail: string): VirgilError => new VirgilError("directory_proof", detail);

/** One epoch of the directory, as the service signed it (§14). */
export interface Checkpoint {
  directory: string;
  epoch: bigint;
  root: Uint8Array;
  vrfKey: Uint8Array;
  publishedAt: bigint;
}

/** A checkpoint and the service's signature. */
export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  statement: Uint8Array;
  signature: Uint8Array;
  bytes: Uint8Array;
}

/** Parses a signed checkpoint (§14); signatures are checked by `verifyCheckpoint`. */
export function parseCheckpoint(bytes: Uint8Array): SignedCheckpoint {
  if (bytes.length > MAX_SIGNED_CHECKPOINT) throw malformed("checkpoint too long");
  if (!equalBytes(bytes.subarray(0, 5), MAGIC)) throw malformed("not a checkpoint (magic or version)");
  const idLength = bytes[5] ?? 0;
  if (idLength === 0 || idLength > 64) throw malformed("checkpoint: directory id of 0 or over 64 bytes");
  const end = 6 + idLength + 8 + 32 + 32 + 8;
  if (bytes.length !== end + 64) throw malformed("checkpoint: not one 64-byte signature after the checkpoint");
  let directory: string;
  try {
    directory = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(6, 6 + idLength));
  } catch {
    throw malformed("checkpoint: directory id is not UTF-8");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 6 + idLength;
  const epoch = view.getBigUint64(at, false);
  at += 8;
  const root = bytes.slice(at, at + 32);
  const vrfKey = bytes.slice(at + 32, at + 64);
  const publishedAt = view.getBigUint64(at + 64, false);
  return {
    checkpoint: { directory, epoch, root, vrfKey, publishedAt },
    statement: bytes.slice(0, end),
    signature: bytes.slice(end),
    bytes: bytes.slice(),
  };
}

/** The checkpoint, if one of `serviceKeys` signed it (context `virgil/directory-checkpoint`). */
export function verifyCheckpoint(signed: SignedCheckpoint, serviceKeys: PublicKey[]): Checkpoint {
  if (!serviceKeys.some((key) => key.verify("virgil/directory-checkpoint", signed.statement, signed.signature))) {
    throw refused("the key directory's checkpoint is not signed by the pinned service key");
  }
  return signed.checkpoint;
}

/** Where a client keeps the newest checkpoint it accepted (the signed bytes). */
export interface CheckpointStorage {
  read(): Promise<Uint8Array | null>;
  write(bytes: Uint8Array): Promise<void>;
}

/** Checkpoints in memory (the default: a page load starts afresh). */
export function memoryCheckpoints(): CheckpointStorage {
  let kept: Uint8Array | null = null;
  return {
    read: async () => kept,
    write: async (bytes) => {
      kept = bytes.slice();
    },
  };
}

/** Checkpoints in IndexedDB (database `virgil-checkpoints` by default), kept across page loads. */
export async function browserCheckpoints(name = "virgil-checkpoints", factory: IDBFactory = globalThis.indexedDB): Promise<CheckpointStorage> {
  const db = await openStore(factory, name, "checkpoints");
  return {
    read: async () => {
      const kept = await request(db.transaction("checkpoints").objectStore("checkpoints").get("newest"));
      return kept instanceof Uint8Array ? kept : null;
    },
    write: async (bytes) => {
      const tx = db.transaction("checkpoints", "readwrite");
      tx.objectStore("checkpoints").put(bytes.slice(), "newest");
      await committed(tx);
    },
  };
}

const sameCheckpoint = (a: Checkpoint, b: Checkpoint): boolean =>
  a.directory === b.directory &&
  a.epoch === b.epoch &&
  equalBytes(a.root, b.root) &&
  equalBytes(a.vrfKey, b.vrfKey) &&
  a.publishedAt === b.publishedAt;

/**
 * Accepts `encoded` (base64) if the service signed it and it is consistent with the
 * newest checkpoint kept: same directory, not older (a rollback), not a second one for
 * the same epoch (a fork), same VRF key, not dated before. Keeps it if newer.
 */
export async function acceptCheckpoint(storage: CheckpointStorage, serviceKeys: PublicKey[], encoded: string): Promise<Checkpoint> {
  const signed = parseCheckpoint(fromBase64(encoded));
  const checkpoint = verifyCheckpoint(signed, serviceKeys);
  const keptBytes = await storage.read();
  if (keptBytes === null) {
    await storage.write(signed.bytes);
    return checkpoint;
  }
  const seen = parseCheckpoint(keptBytes).checkpoint;
  if (checkpoint.directory !== seen.directory) {
    throw refused(`a checkpoint of directory ${JSON.stringify(checkpoint.directory)}, but this client follows ${JSON.stringify(seen.directory)}`);
  }
  if (checkpoint.epoch < seen.epoch) {
    throw refused(`rollback: the service showed epoch ${checkpoint.epoch}, older than epoch ${seen.epoch} this client already saw`);
  }
  if (checkpoint.epoch === seen.epoch) {
    if (!sameCheckpoint(checkpoint, seen)) throw refused(`fork: two different signed roots for epoch ${checkpoint.epoch}`);
    return checkpoint;
  }
  if (!equalBytes(checkpoint.vrfKey, seen.vrfKey)) throw refused(`the directory's VRF key changed at epoch ${checkpoint.epoch}`);
  if (checkpoint.publishedAt < seen.publishedAt) throw refused(`epoch ${checkpoint.epoch} is dated before epoch ${seen.epoch}`);
  await storage.write(signed.bytes);
  return checkpoint;
}

const str = (text: string): Uint8Array => {
  const bytes = utf8(text);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, bytes.length, false);
  return concat(length, bytes);
};

/** An identity's label in the directory (§15): `"VGLI" ‖ 0x01 ‖ str(app_id) ‖ str(identity)`. */
export function label(appId: string, identity: string): Uint8Array {
  return concat(new Uint8Array([0x56, 0x47, 0x4c, 0x49, 0x01]), str(appId), str(identity));
}

/** One card an entry lists: active, or a reset pending until `activatesAt`. */
export interface EntryCard {
  id: Uint8Array;
  pendingUntil: bigint | null;
}

/** Decodes an entry (§15): `"VGLE" ‖ 0x01 ‖ u16be(n) ‖ (card_id ‖ state)×n`. */
export function decodeEntry(bytes: Uint8Array): EntryCard[] {
  if (!equalBytes(bytes.subarray(0, 5), new Uint8Array([0x56, 0x47, 0x4c, 0x45, 0x01]))) throw malformed("not a directory entry");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 7) throw malformed("directory entry truncated");
  const n = view.getUint16(5, false);
  if (n > 256) throw malformed("a directory entry lists at most 256 cards");
  const cards: EntryCard[] = [];
  let at = 7;
  for (let i = 0; i < n; i++) {
    if (at + 33 > bytes.length) throw malformed("directory entry truncated");
    const id = bytes.slice(at, at + 32);
    const state = bytes[at + 32];
    at += 33;
    let pendingUntil: bigint | null = null;
    if (state === 0x03) {
      if (at + 8 > bytes.length) throw malformed("directory entry truncated");
      pendingUntil = view.getBigUint64(at, false);
      at += 8;
    } else if (state !== 0x00) {
      throw malformed("a directory entry's card state is active (0) or pending (3)");
    }
    const previous = cards.at(-1);
    if (previous !== undefined && toHex(previous.id) >= toHex(id)) throw malformed("a directory entry's card ids are not strictly ascending");
    cards.push({ id, pendingUntil });
  }
  if (at !== bytes.length) throw malformed("trailing bytes after a directory entry");
  return cards;
}

/** A card served in an answer, with its status. */
export interface ServedCard {
  identity: string;
  id: Uint8Array;
  status: CardStatus;
}

function listedState(status: CardStatus): bigint | null | undefined {
  if (status.state === "active") return null;
  if (status.state === "pending") return status.activatesAt;
  return undefined; // revoked or replaced: must not be listed
}

/**
 * Checks a lookup answer's `directory` field against `served`: the checkpoint is
 * accepted (`acceptCheckpoint`), and for each identity asked for, the proven entry
 * lists exactly the cards served as usable, with their states (`complete`: a search,
 * where every listed card must be served). Returns the epoch.
 */
export async function checkAnswer(
  storage: CheckpointStorage,
  serviceKeys: PublicKey[],
  appId: string,
  identities: string[],
  served: ServedCard[],
  directory: { checkpoint: string; proofs: { identity: string; proof: string }[] } | undefined,
  complete: boolean,
): Promise<bigint | null> {
  if (directory === undefined) {
    if (served.length === 0) return null;
    throw refused("the answer carries cards but no key directory proof");
  }
  const checkpoint = await acceptCheckpoint(storage, serviceKeys, directory.checkpoint);
  for (const proof of directory.proofs) {
    if (!identities.includes(proof.identity)) throw malformed(`a proof for ${JSON.stringify(proof.identity)}, which was not asked for`);
  }
  for (const identity of new Set(identities)) {
    const cards = served.filter((card) => card.identity === identity);
    const proofs = directory.proofs.filter((proof) => proof.identity === identity);
    if (proofs.length > 1) throw malformed(`two proofs for ${JSON.stringify(identity)}`);
    const proof = proofs[0];
    if (proof === undefined) {
      if (cards.some((card) => listedState(card.status) !== undefined)) {
        throw refused(`${identity}: its cards are served without a key directory proof`);
      }
      continue;
    }
    const bytes = fromBase64(proof.proof);
    if (bytes.length > MAX_LOOKUP_PROOF) throw malformed("lookup proof too long");
    const proven = lookupVerify(checkpoint.vrfKey, checkpoint.root, checkpoint.epoch, label(appId, identity), decodeLookupProof(bytes));
    const entry = decodeEntry(proven.value);
    const differs = (what: string): VirgilError =>
      refused(`${identity} at epoch ${checkpoint.epoch}: the key directory does not list what was served: ${what}`);
    let seen = 0;
    for (const card of cards) {
      const expected = listedState(card.status);
      const listed = entry.find((e) => equalBytes(e.id, card.id));
      if (expected === undefined) {
        if (listed !== undefined) throw differs(`card ${toHex(card.id)} is served as revoked or replaced but listed as usable`);
        continue;
      }
      if (listed === undefined) throw differs(`card ${toHex(card.id)} is served as usable but not listed`);
      if (listed.pendingUntil !== expected) throw differs(`card ${toHex(card.id)} is served with another state than listed`);
      seen++;
    }
    if (complete && seen !== entry.length) throw differs(`${seen} of its ${entry.length} listed cards were served`);
  }
  return checkpoint.epoch;
}

/** One version of an identity's entry, proven. */
export interface ProvenVersion {
  cards: EntryCard[];
  version: bigint;
  /** The epoch this version was published in. */
  since: bigint;
}

/**
 * Every version of `identity`'s entry, oldest first, from a history answer
 * (`{ checkpoint, proof }`, §15): the checkpoint accepted as for a lookup, the proof
 * verified as a complete history (`keyHistoryVerify`).
 */
export async function provenHistory(
  storage: CheckpointStorage,
  serviceKeys: PublicKey[],
  appId: string,
  identity: string,
  answer: { checkpoint: string; proof: string },
): Promise<{ epoch: bigint; versions: ProvenVersion[] }> {
  const checkpoint = await acceptCheckpoint(storage, serviceKeys, answer.checkpoint);
  const bytes = fromBase64(answer.proof);
  if (bytes.length > MAX_HISTORY_PROOF) throw malformed("history proof too long");
  const results = keyHistoryVerify(checkpoint.vrfKey, checkpoint.root, checkpoint.epoch, label(appId, identity), decodeHistoryProof(bytes));
  const versions = results.map((result) => ({ cards: decodeEntry(result.value), version: result.version, since: result.epoch }));
  return { epoch: checkpoint.epoch, versions: versions.reverse() };
}

/**
 * Monitoring one's own identity with the directory's history (one device's view):
 * from the first version that lists one of `mine` (the cards this device made, or
 * linked), every card any version listed must be one of `mine`. Returns what the user
 * must hear, or null. Versions before this device's first card are its past (cards of
 * lost devices, before a reset) and are not judged.
 */
export function historyAlarm(versions: ProvenVersion[], mine: Set<string>): string | null {
  const start = versions.findIndex((v) => v.cards.some((card) => mine.has(toHex(card.id))));
  if (start < 0) return versions.length === 0 ? null : "ALARM: the key directory never listed this device's card";
  const foreign = new Map<string, bigint>();
  for (const version of versions.slice(start)) {
    for (const card of version.cards) {
      const id = toHex(card.id);
      if (!mine.has(id) && !foreign.has(id)) foreign.set(id, version.since);
    }
  }
  if (foreign.size === 0) return null;
  const listed = [...foreign].map(([id, epoch]) => `${id.slice(0, 12)}… (epoch ${epoch})`).join(", ");
  return `ALARM: the key directory listed card(s) of yours that this device did not make: ${listed}`;
}

/**
 * Compares this device's newest checkpoint with another device's (from its
 * verification code, §13): both must be signed by the pinned service key and be of one
 * directory; for one epoch they must be the same checkpoint (else the service signed two
 * directories: a fork). Two different epochs cannot be tied to one chain without the
 * audit's append-only proof, which this client does not check yet: said, not judged.
 */
export function compareCheckpoints(ours: Uint8Array | null, theirs: Uint8Array | null, serviceKeys: PublicKey[]): string {
  if (ours === null || theirs === null) return "no key directory view to compare on one of the devices";
  const mine = verifyCheckpoint(parseCheckpoint(ours), serviceKeys);
  const other = verifyCheckpoint(parseCheckpoint(theirs), serviceKeys);
  if (mine.directory !== other.directory) throw refused(`the other device follows directory ${JSON.stringify(other.directory)}, this one ${JSON.stringify(mine.directory)}`);
  if (mine.epoch === other.epoch) {
    if (!sameCheckpoint(mine, other)) throw refused(`ALARM: the cards service signed two different directories for epoch ${mine.epoch}: one for each device (a split view)`);
    return `both devices see one key directory (epoch ${mine.epoch})`;
  }
  return `the devices saw epochs ${mine.epoch} and ${other.epoch}; compare again later, or run virgil audit to tie them to one chain`;
}
