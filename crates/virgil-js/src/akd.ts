/**
 * akd 0.13's lookup-proof verification (docs/format.md §15), in TypeScript: the same
 * checks as `akd_core::verify::lookup_verify` with `WhatsAppV1Configuration` (BLAKE3),
 * over @noble's BLAKE3, SHA-512 and Ed25519 point arithmetic. The proof arrives as akd's
 * protobuf `LookupProof` (types.proto), decoded here with a small reader that refuses
 * what akd's conversion refuses (missing fields, wrong lengths, a bad direction).
 *
 * - VRF: ECVRF-EDWARDS25519-SHA512-TAI as akd implements it (suite byte 3, try-and-
 *   increment encode-to-curve, 16-byte challenges, an 80-byte proof).
 * - Tree: a Merkle–Patricia tree of 256-bit node labels; membership walks sibling
 *   proofs up to the root; non-membership shows the longest prefix's two children.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE } from "@noble/curves/utils.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { concat, equalBytes } from "./encoding.js";
import { VirgilError } from "./errors.js";

const bad = (detail: string): VirgilError => new VirgilError("malformed", `lookup proof: ${detail}`);
const failed = (detail: string): VirgilError => new VirgilError("directory_proof", `lookup proof did not verify: ${detail}`);

// ---- protobuf (proto2), just what types.proto needs ----

type Fields = Map<number, (bigint | Uint8Array)[]>;

function readVarint(bytes: Uint8Array, at: { i: number }): bigint {
  let value = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    const byte = bytes[at.i++];
    if (byte === undefined) throw bad("truncated");
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return value;
  }
  throw bad("varint too long");
}

function fields(bytes: Uint8Array): Fields {
  const out: Fields = new Map();
  const at = { i: 0 };
  while (at.i < bytes.length) {
    const key = readVarint(bytes, at);
    const number = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: bigint | Uint8Array;
    if (wire === 0) value = readVarint(bytes, at);
    else if (wire === 2) {
      const length = Number(readVarint(bytes, at));
      if (at.i + length > bytes.length) throw bad("truncated");
      value = bytes.subarray(at.i, at.i + length);
      at.i += length;
    } else if (wire === 1 || wire === 5) {
      at.i += wire === 1 ? 8 : 4;
      if (at.i > bytes.length) throw bad("truncated");
      continue;
    } else throw bad(`wire type ${wire}`);
    const list = out.get(number) ?? [];
    list.push(value);
    out.set(number, list);
  }
  return out;
}

function bytesField(f: Fields, n: number, what: string): Uint8Array {
  const value = f.get(n)?.at(-1);
  if (!(value instanceof Uint8Array)) throw bad(`required field ${what} missing`);
  return value;
}

function intField(f: Fields, n: number, what: string): bigint {
  const value = f.get(n)?.at(-1);
  if (typeof value !== "bigint") throw bad(`required field ${what} missing`);
  return value;
}

function messages(f: Fields, n: number): Uint8Array[] {
  return (f.get(n) ?? []).map((value) => {
    if (!(value instanceof Uint8Array)) throw bad("a message field is not length-delimited");
    return value;
  });
}

// ---- akd's types ----

/** A tree node's label: up to 256 bits, most significant first. */
export interface NodeLabel {
  val: Uint8Array;
  len: number;
}

interface AzksElement {
  label: NodeLabel;
  value: Uint8Array;
}

interface MembershipProof {
  label: NodeLabel;
  hashVal: Uint8Array;
  siblings: { label: NodeLabel; sibling: AzksElement; right: boolean }[];
}

interface NonMembershipProof {
  label: NodeLabel;
  longestPrefix: NodeLabel;
  children: [AzksElement, AzksElement];
  prefixProof: MembershipProof;
}

/** akd's `LookupProof`, decoded. */
export interface LookupProof extends Existence {
  markerVrf: Uint8Array;
  marker: MembershipProof;
  freshnessVrf: Uint8Array;
  freshness: NonMembershipProof;
  commitmentNonce: Uint8Array;
}

function digest(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length !== 32) throw bad(`${what} is not 32 bytes`);
  return bytes;
}

function nodeLabel(bytes: Uint8Array): NodeLabel {
  const f = fields(bytes);
  const val = bytesField(f, 1, "label_val");
  const len = intField(f, 2, "label_len");
  if (val.length > 32) throw bad("label value too long");
  if (len > 256n) throw bad("label length over 256");
  const padded = new Uint8Array(32);
  padded.set(val);
  return { val: padded, len: Number(len) };
}

function azksElement(bytes: Uint8Array): AzksElement {
  const f = fields(bytes);
  return { label: nodeLabel(bytesField(f, 1, "label")), value: digest(bytesField(f, 2, "value"), "a node value") };
}

/**
 * A `MembershipProof` as the service sends it (format.md §15): each `SiblingProof` leaves
 * out its `label` and `direction`, restored here from the proven node up: the parent is
 * the longest common prefix of the node and its sibling (the root when the sibling is
 * akd's empty node), the direction the node's bit at the parent's length. A sibling proof
 * that carries either is refused.
 */
function membershipProof(bytes: Uint8Array): MembershipProof {
  const f = fields(bytes);
  const label = nodeLabel(bytesField(f, 1, "label"));
  const siblings = messages(f, 3).map((encoded) => {
    const s = fields(encoded);
    if (s.has(1) || s.has(3)) throw bad("a sibling proof carries a label or direction the encoding leaves out");
    const first = messages(s, 2)[0];
    if (first === undefined) throw bad("required field siblings missing");
    return azksElement(first);
  });
  const steps: MembershipProof["siblings"] = [];
  let current = label;
  for (let i = siblings.length - 1; i >= 0; i--) {
    const sibling = siblings[i]!;
    const parent = sameLabel(sibling.label, EMPTY_LABEL) ? ROOT_LABEL : longestCommonPrefix(current, sibling.label);
    if (parent.len >= current.len) throw bad("a sibling is not beside the node");
    steps.unshift({ label: parent, sibling, right: bit(current, parent.len) === 1 });
    current = parent;
  }
  return { label, hashVal: digest(bytesField(f, 2, "hash_val"), "hash_val"), siblings: steps };
}

function nonMembershipProof(bytes: Uint8Array): NonMembershipProof {
  const f = fields(bytes);
  const children = messages(f, 3).map(azksElement);
  if (children.length !== 2) throw bad("longest_prefix_children must be 2 elements long");
  return {
    label: nodeLabel(bytesField(f, 1, "label")),
    longestPrefix: nodeLabel(bytesField(f, 2, "longest_prefix")),
    children: [children[0]!, children[1]!],
    prefixProof: membershipProof(bytesField(f, 4, "longest_prefix_membership_proof")),
  };
}

/** A value's existence at a version: what a `LookupProof` and an `UpdateProof` start with (fields 1–5). */
interface Existence {
  epoch: bigint;
  value: Uint8Array;
  version: bigint;
  existenceVrf: Uint8Array;
  existence: MembershipProof;
}

function existenceFields(f: Fields): Existence {
  return {
    epoch: intField(f, 1, "epoch"),
    value: bytesField(f, 2, "value"),
    version: intField(f, 3, "version"),
    existenceVrf: bytesField(f, 4, "existence_vrf_proof"),
    existence: membershipProof(bytesField(f, 5, "existence_proof")),
  };
}

/**
 * Decodes akd's protobuf `LookupProof` as the service sends it (format.md §15): sibling
 * labels and directions left out, and, when the marker is the proof's own version, the
 * marker proof and its VRF proof too (copies of fields 4 and 5; sending the copies is
 * refused).
 */
export function decodeLookupProof(bytes: Uint8Array): LookupProof {
  const f = fields(bytes);
  if (!f.has(6) && !f.has(7)) {
    f.set(6, [bytesField(f, 4, "existence_vrf_proof")]);
    f.set(7, [bytesField(f, 5, "existence_proof")]);
  } else if (
    equalBytes(bytesField(f, 6, "marker_vrf_proof"), bytesField(f, 4, "existence_vrf_proof")) &&
    equalBytes(bytesField(f, 7, "marker_proof"), bytesField(f, 5, "existence_proof"))
  ) {
    throw bad("the marker proof is a copy of the existence proof, which the encoding leaves out");
  }
  return {
    ...existenceFields(f),
    markerVrf: bytesField(f, 6, "marker_vrf_proof"),
    marker: membershipProof(bytesField(f, 7, "marker_proof")),
    freshnessVrf: bytesField(f, 8, "freshness_vrf_proof"),
    freshness: nonMembershipProof(bytesField(f, 9, "freshness_proof")),
    commitmentNonce: bytesField(f, 10, "commitment_nonce"),
  };
}

// ---- WhatsAppV1Configuration ----

const H = (...parts: Uint8Array[]): Uint8Array => blake3(concat(...parts));
const u64 = (value: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, false);
  return out;
};
const u32 = (value: number): Uint8Array => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
};
/** I2OSP: a u64 big-endian length, then the bytes. */
const i2osp = (bytes: Uint8Array): Uint8Array => concat(u64(BigInt(bytes.length)), bytes);

const labelValue = (label: NodeLabel): Uint8Array => H(u32(label.len), label.val);
const EMPTY_LABEL: NodeLabel = { val: new Uint8Array(32).fill(1), len: 0 };
const ROOT_LABEL: NodeLabel = { val: new Uint8Array(32), len: 0 };

function parentHash(leftVal: Uint8Array, leftLabel: NodeLabel, rightVal: Uint8Array, rightLabel: NodeLabel): Uint8Array {
  return H(H(leftVal, labelValue(leftLabel)), H(rightVal, labelValue(rightLabel)));
}

const sameLabel = (a: NodeLabel, b: NodeLabel): boolean => a.len === b.len && equalBytes(a.val, b.val);
const bit = (label: NodeLabel, i: number): number => (label.val[i >> 3]! >> (7 - (i & 7))) & 1;

function prefix(label: NodeLabel, len: number): NodeLabel {
  if (len >= 256) return label;
  const val = new Uint8Array(32);
  if (len === 0) return { val, len: 0 };
  const last = (len - 1) >> 3;
  val.set(label.val.subarray(0, last));
  const keep = 7 - ((len - 1) & 7);
  val[last] = (label.val[last]! >> keep) << keep;
  return { val, len };
}

function isPrefixOf(a: NodeLabel, b: NodeLabel): boolean {
  if (a.len > b.len) return false;
  for (let i = 0; i < a.len; i++) if (bit(a, i) !== bit(b, i)) return false;
  return true;
}

function longestCommonPrefix(a: NodeLabel, b: NodeLabel): NodeLabel {
  if (sameLabel(a, EMPTY_LABEL) || sameLabel(b, EMPTY_LABEL)) return EMPTY_LABEL;
  const shorter = Math.min(a.len, b.len);
  let n = 0;
  while (n < shorter && bit(a, n) === bit(b, n)) n++;
  return prefix(a, n);
}

function verifyMembership(root: Uint8Array, proof: MembershipProof): void {
  let value = proof.hashVal;
  let label = proof.label;
  for (const step of [...proof.siblings].reverse()) {
    const { sibling } = step;
    value = step.right
      ? parentHash(sibling.value, sibling.label, value, label)
      : parentHash(value, label, sibling.value, sibling.label);
    label = step.label;
  }
  if (!equalBytes(H(value, labelValue(ROOT_LABEL)), root)) throw failed("a membership proof does not lead to the root");
}

function verifyNonMembership(root: Uint8Array, proof: NonMembershipProof): void {
  const [left, right] = proof.children;
  if (sameLabel(proof.label, left.label) || sameLabel(proof.label, right.label)) {
    throw failed("the label is one of the longest prefix's children");
  }
  if (!isPrefixOf(proof.longestPrefix, proof.label)) throw failed("the longest prefix is not a prefix of the label");
  let lcp = longestCommonPrefix(left.label, right.label);
  if (sameLabel(lcp, EMPTY_LABEL)) lcp = ROOT_LABEL;
  if (!sameLabel(proof.longestPrefix, lcp)) throw failed("the longest prefix is not the children's");
  const lcpHash = parentHash(left.value, left.label, right.value, right.label);
  if (!sameLabel(lcp, proof.prefixProof.label) || !equalBytes(lcpHash, proof.prefixProof.hashVal)) {
    throw failed("the longest prefix's hash does not match");
  }
  verifyMembership(root, proof.prefixProof);
}

// ---- ECVRF-EDWARDS25519-SHA512-TAI, as akd has it ----

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const ORDER = Point.Fn.ORDER;

function decompress(bytes: Uint8Array): EdPoint | null {
  try {
    return Point.fromBytes(bytes, true);
  } catch {
    return null;
  }
}

function encodeToCurve(publicKey: Uint8Array, alpha: Uint8Array): EdPoint {
  for (let counter = 0; counter < 256; counter++) {
    const hash = sha512(concat(new Uint8Array([3, 1]), publicKey, alpha, new Uint8Array([counter, 0]))).subarray(0, 32);
    const invalid =
      hash.subarray(1, 31).every((b) => b === 255) &&
      (hash[31] === 255 || hash[31] === 127) &&
      [1, 3, 4, 5, 9, 10, 13, 14, 15, 16].includes((256 - hash[0]!) & 0xff);
    const point = invalid ? null : decompress(hash);
    if (point !== null) {
      const cleared = point.clearCofactor();
      if (!cleared.is0()) return cleared;
    }
  }
  throw failed("no point for this input");
}

function challenge(publicKey: Uint8Array, hPoint: Uint8Array, points: EdPoint[]): bigint {
  const hash = sha512(concat(new Uint8Array([3, 2]), publicKey, hPoint, ...points.map((p) => p.toBytes()), new Uint8Array([0])));
  return bytesToNumberLE(hash.subarray(0, 16));
}

/** Verifies VRF `proof` of `alpha` under `publicKey`; returns the 32-byte node label it proves. */
export function vrfVerify(publicKey: Uint8Array, proof: Uint8Array, alpha: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw bad("a VRF key is 32 bytes");
  if (proof.length !== 80) throw bad("a VRF proof is 80 bytes");
  const y = decompress(publicKey);
  if (y === null || y.isSmallOrder()) throw failed("the VRF key is not a usable point");
  const gamma = decompress(proof.subarray(0, 32));
  if (gamma === null) throw failed("the VRF proof's point does not decode");
  const c = bytesToNumberLE(proof.subarray(32, 48));
  const s = bytesToNumberLE(proof.subarray(48, 80)) % ORDER;
  const h = encodeToCurve(publicKey, alpha);
  const hBytes = h.toBytes();
  const u = Point.BASE.multiplyUnsafe(s).subtract(y.multiplyUnsafe(c));
  const v = h.multiplyUnsafe(s).subtract(gamma.multiplyUnsafe(c));
  if (challenge(publicKey, hBytes, [gamma, u, v]) !== c) throw failed("a VRF proof does not verify");
  return sha512(concat(new Uint8Array([3, 3]), gamma.clearCofactor().toBytes(), new Uint8Array([0]))).subarray(0, 32);
}

function verifyLabel(vrfKey: Uint8Array, akdLabel: Uint8Array, fresh: boolean, version: bigint, vrfProof: Uint8Array, node: NodeLabel): void {
  const alpha = H(i2osp(akdLabel), new Uint8Array([fresh ? 1 : 0]), u64(version));
  const output = vrfVerify(vrfKey, vrfProof, alpha);
  if (!sameLabel({ val: output, len: 256 }, node)) throw failed("a VRF output does not match the proof's label");
}

/** `verify_existence_with_val`: `proof.value` at `proof.version`, committed at `proof.epoch`, is in the tree. */
function verifyExistenceWithValue(vrfKey: Uint8Array, root: Uint8Array, akdLabel: Uint8Array, proof: Existence & { commitmentNonce: Uint8Array }): void {
  const commitment = H(i2osp(proof.value), i2osp(proof.commitmentNonce));
  if (!equalBytes(H(commitment, u64(proof.epoch)), proof.existence.hashVal)) {
    throw failed("a value's hash does not match its existence proof");
  }
  verifyLabel(vrfKey, akdLabel, true, proof.version, proof.existenceVrf, proof.existence.label);
  verifyMembership(root, proof.existence);
}

/** What a lookup proof proves: the label's value, its version and the epoch it was set. */
export interface LookupResult {
  value: Uint8Array;
  version: bigint;
  epoch: bigint;
}

/**
 * `akd_core::verify::lookup_verify::<WhatsAppV1Configuration>`: `proof` shows that
 * `akdLabel` has `proof.value` as its newest version at `epoch`, under the tree `root`
 * and the directory's `vrfKey` (from a signed checkpoint, §14).
 */
export function lookupVerify(vrfKey: Uint8Array, root: Uint8Array, epoch: bigint, akdLabel: Uint8Array, proof: LookupProof): LookupResult {
  if (proof.version > epoch) throw failed(`version ${proof.version} is past epoch ${epoch}`);
  if (proof.version === 0n) throw failed("version 0");
  verifyExistenceWithValue(vrfKey, root, akdLabel, proof);
  const marker = 1n << BigInt(proof.version.toString(2).length - 1);
  verifyLabel(vrfKey, akdLabel, true, marker, proof.markerVrf, proof.marker.label);
  verifyMembership(root, proof.marker);
  verifyLabel(vrfKey, akdLabel, false, proof.version, proof.freshnessVrf, proof.freshness.label);
  verifyNonMembership(root, proof.freshness);
  return { value: proof.value, version: proof.version, epoch: proof.epoch };
}

// ---- history proofs (`key_history_verify`, complete history) ----

interface UpdateProof extends Existence {
  previousVrf: Uint8Array | null;
  previous: MembershipProof | null;
  commitmentNonce: Uint8Array;
}

/** akd's `HistoryProof`, decoded. */
export interface HistoryProof {
  updates: UpdateProof[];
  pastMarkerVrfs: Uint8Array[];
  pastMarkers: MembershipProof[];
  futureMarkerVrfs: Uint8Array[];
  futureMarkers: NonMembershipProof[];
}

/** Decodes akd's protobuf `HistoryProof`. */
export function decodeHistoryProof(bytes: Uint8Array): HistoryProof {
  const f = fields(bytes);
  return {
    updates: messages(f, 1).map((encoded) => {
      const u = fields(encoded);
      const previousVrf = u.get(6)?.at(-1);
      const previous = u.get(7)?.at(-1);
      return {
        ...existenceFields(u),
        previousVrf: previousVrf instanceof Uint8Array ? previousVrf : null,
        previous: previous instanceof Uint8Array ? membershipProof(previous) : null,
        commitmentNonce: bytesField(u, 8, "commitment_nonce"),
      };
    }),
    pastMarkerVrfs: messages(f, 2),
    pastMarkers: messages(f, 3).map(membershipProof),
    futureMarkerVrfs: messages(f, 4),
    futureMarkers: messages(f, 5).map(nonMembershipProof),
  };
}

const SKIPLIST = [1n, 2n, 4n, 16n, 256n, 65536n, 1n << 32n];
const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);
const log2 = (n: bigint): number => bitLength(n) - 1;

function skiplistIndex(n: bigint): number {
  if (n < SKIPLIST[0]!) throw failed("a version below 1");
  let i = 0;
  while (i < SKIPLIST.length && n >= SKIPLIST[i]!) i++;
  return i - 1;
}

/** `akd_core::utils::get_marker_versions`: the marker versions that must exist before `start`, and must not exist after `end`, up to `epoch`. */
export function markerVersions(start: bigint, end: bigint, epoch: bigint): { past: bigint[]; future: bigint[] } {
  const past: bigint[] = [];
  const pastSkip = SKIPLIST[skiplistIndex(start)]!;
  if (pastSkip !== start) past.push(pastSkip);
  const startPower = 1n << BigInt(log2(start));
  if (startPower !== start && (past.length === 0 || startPower !== past.at(-1))) past.push(startPower);
  for (let i = bitLength(start) - 1; i >= 0; i--) {
    const shift = 1n << BigInt(i);
    if ((start & shift) !== 0n) {
      const version = start & ~((shift - 1n) | shift);
      if (version !== 0n && (past.length === 0 || version !== past.at(-1))) past.push(version);
    }
  }
  const future: bigint[] = [];
  let next = end;
  for (let i = 0; i < bitLength(end); i++) {
    const shift = 1n << BigInt(i);
    if ((end & shift) === 0n) {
      next |= shift;
      next &= ~(shift - 1n);
      if (next <= epoch) future.push(next);
    }
  }
  const slice = SKIPLIST.slice(skiplistIndex(end) + 1, skiplistIndex(epoch) + 1);
  for (let i = log2(end) + 1; i <= log2(epoch); i++) {
    const value = 1n << BigInt(i);
    if (slice.length > 0 && value >= slice[0]!) break;
    future.push(value);
  }
  future.push(...slice);
  return { past, future };
}

/**
 * `akd_core::verify::key_history_verify::<WhatsAppV1Configuration>` with a complete
 * history: every version of `akdLabel`'s value from 1, newest first, each proven to
 * have been set at its epoch and retired by the next; the markers around them too.
 */
export function keyHistoryVerify(vrfKey: Uint8Array, root: Uint8Array, epoch: bigint, akdLabel: Uint8Array, proof: HistoryProof): LookupResult[] {
  const updates = proof.updates;
  if (updates.length === 0) throw failed("a history proof with no update proofs");
  for (let i = 1; i < updates.length; i++) {
    if (updates[i]!.version + 1n !== updates[i - 1]!.version) throw failed("update proofs are not consecutive, newest first");
  }
  const end = updates[0]!.version;
  const start = updates.at(-1)!.version;
  if (start === 0n) throw failed("a history starting at version 0");
  if (end > epoch) throw failed("a version past the epoch");
  if (start !== 1n) throw failed("a complete history starts at version 1");
  const markers = markerVersions(start, end, epoch);
  if (markers.past.length !== proof.pastMarkerVrfs.length || proof.pastMarkerVrfs.length !== proof.pastMarkers.length) {
    throw failed("wrong number of past marker proofs");
  }
  if (markers.future.length !== proof.futureMarkerVrfs.length || proof.futureMarkerVrfs.length !== proof.futureMarkers.length) {
    throw failed("wrong number of future marker proofs");
  }
  const results: LookupResult[] = [];
  let previousEpoch: bigint | null = null;
  for (const update of updates) {
    if (previousEpoch !== null && update.epoch > previousEpoch) throw failed("versions go down but their epochs do not");
    previousEpoch = update.epoch;
    verifyExistenceWithValue(vrfKey, root, akdLabel, update);
    if (update.version > 1n) {
      if (update.previous === null || update.previousVrf === null) throw failed("missing the previous version's proof");
      const stale = H(new Uint8Array([0])); // the stale value: H(EMPTY_VALUE)
      if (!equalBytes(H(stale, u64(update.epoch)), update.previous.hashVal)) {
        throw failed("the previous version was not retired at this epoch");
      }
      verifyLabel(vrfKey, akdLabel, false, update.version - 1n, update.previousVrf, update.previous.label);
      verifyMembership(root, update.previous);
    }
    results.push({ value: update.value, version: update.version, epoch: update.epoch });
  }
  markers.past.forEach((version, i) => {
    verifyLabel(vrfKey, akdLabel, true, version, proof.pastMarkerVrfs[i]!, proof.pastMarkers[i]!.label);
    verifyMembership(root, proof.pastMarkers[i]!);
  });
  markers.future.forEach((version, i) => {
    verifyLabel(vrfKey, akdLabel, true, version, proof.futureMarkerVrfs[i]!, proof.futureMarkers[i]!.label);
    verifyNonMembership(root, proof.futureMarkers[i]!);
  });
  return results;
}
