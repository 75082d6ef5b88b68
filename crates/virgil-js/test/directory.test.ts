// The key directory on the client, offline: the checkpoint vector (§14), the checkpoint
// log (rollback, fork, VRF-key change, time going back), entries (§15) and labels.
// test/live.test.ts checks real lookup proofs from a running cards service, and their
// forgeries.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { PrivateKey, PublicKey, VirgilError, akd, concat, directory, fromBase64, fromHex, parseVerificationCode, toBase64, toHex, verificationCode } from "../src/index.js";

const vectors = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "docs", "vectors");
const vector = JSON.parse(readFileSync(join(vectors, "checkpoint.json"), "utf8")) as Record<string, string | number>;

test("the checkpoint vector parses and verifies; a flipped bit does not", () => {
  const signed = directory.parseCheckpoint(Buffer.from(String(vector["signed_base64"]), "base64"));
  const key = PublicKey.fromBytes(fromHex(String(vector["service_public_key"])));
  const checkpoint = directory.verifyCheckpoint(signed, [key]);
  assert.equal(checkpoint.directory, vector["directory"]);
  assert.equal(checkpoint.epoch, BigInt(vector["epoch"]!));
  assert.equal(toHex(checkpoint.root), vector["root"]);
  assert.equal(toHex(checkpoint.vrfKey), vector["vrf_key"]);
  assert.equal(toHex(signed.statement), vector["statement"]);
  const flipped = signed.bytes.slice();
  flipped[20]! ^= 1;
  assert.throws(() => directory.verifyCheckpoint(directory.parseCheckpoint(flipped), [key]), (e: VirgilError) => e.kind === "directory_proof");
  assert.throws(() => directory.parseCheckpoint(signed.bytes.subarray(0, 100)), (e: VirgilError) => e.kind === "malformed");
});

function checkpoint(service: PrivateKey, epoch: number, root: number, publishedAt: number, vrf = 7): string {
  const id = new TextEncoder().encode("cards.example");
  const u64 = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), false);
    return b;
  };
  const statement = concat(new Uint8Array([0x56, 0x47, 0x4c, 0x4b, 1, id.length]), id, u64(epoch), new Uint8Array(32).fill(root), new Uint8Array(32).fill(vrf), u64(publishedAt));
  return toBase64(concat(statement, service.sign("virgil/directory-checkpoint", statement)));
}

test("the newest checkpoint is kept; a rollback, a fork, a new VRF key and time going back are refused", async () => {
  const service = PrivateKey.generate(1);
  const keys = [service.publicKey];
  const store = directory.memoryCheckpoints();
  const refused = (pattern: RegExp) => (e: VirgilError) => e.kind === "directory_proof" && pattern.test(e.message);
  await directory.acceptCheckpoint(store, keys, checkpoint(service, 5, 1, 100));
  await directory.acceptCheckpoint(store, keys, checkpoint(service, 5, 1, 100)); // the same: fine
  await assert.rejects(directory.acceptCheckpoint(store, keys, checkpoint(service, 5, 2, 100)), refused(/fork/));
  await directory.acceptCheckpoint(store, keys, checkpoint(service, 6, 3, 110));
  await assert.rejects(directory.acceptCheckpoint(store, keys, checkpoint(service, 5, 1, 100)), refused(/rollback/));
  await assert.rejects(directory.acceptCheckpoint(store, keys, checkpoint(service, 7, 4, 120, 9)), refused(/VRF key changed/));
  await assert.rejects(directory.acceptCheckpoint(store, keys, checkpoint(service, 7, 4, 105)), refused(/dated before/));
  await assert.rejects(directory.acceptCheckpoint(store, keys, checkpoint(PrivateKey.generate(1), 8, 4, 130)), refused(/not signed/));
  assert.equal(directory.parseCheckpoint((await store.read())!).checkpoint.epoch, 6n);
});

test("entries and labels are §15's", () => {
  const entry = concat(
    new Uint8Array([0x56, 0x47, 0x4c, 0x45, 1, 0, 2]),
    new Uint8Array(32).fill(1), new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0, 7]),
    new Uint8Array(32).fill(3), new Uint8Array([0]),
  );
  const cards = directory.decodeEntry(entry);
  assert.deepEqual(cards.map((c) => c.pendingUntil), [7n, null]);
  for (const broken of [entry.subarray(0, entry.length - 1), concat(entry, new Uint8Array([0]))]) {
    assert.throws(() => directory.decodeEntry(broken), (e: VirgilError) => e.kind === "malformed");
  }
  const unordered = entry.slice();
  unordered.set(new Uint8Array(32).fill(9), 7);
  assert.throws(() => directory.decodeEntry(unordered), /strictly ascending/);
  assert.equal(toHex(directory.label("ab", "c")), toHex(new Uint8Array([0x56, 0x47, 0x4c, 0x49, 1, 0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 1, 0x63])));
});

test("random and mutated proofs, checkpoints and entries are refused with a VirgilError, never anything else", () => {
  // A small deterministic generator: the same inputs on every run.
  let state = 0x9e3779b9;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const randomBytes = (length: number): Uint8Array => Uint8Array.from({ length }, () => next() & 0xff);
  // A well-formed protobuf skeleton of a LookupProof (every field present, wrong contents),
  // so that mutations reach past the first missing field.
  const field = (n: number, bytes: Uint8Array): Uint8Array => concat(new Uint8Array([(n << 3) | 2, bytes.length]), bytes);
  const varint = (n: number, value: number): Uint8Array => new Uint8Array([n << 3, value]);
  const label = concat(field(1, randomBytes(32)), varint(2, 200));
  const membership = concat(field(1, label), field(2, randomBytes(32)));
  const nonMembership = concat(field(1, label), field(2, label), field(3, concat(field(1, label), field(2, randomBytes(32)))), field(3, concat(field(1, label), field(2, randomBytes(32)))), field(4, membership));
  const skeleton = concat(
    varint(1, 3), field(2, randomBytes(20)), varint(3, 2), field(4, randomBytes(80)), field(5, membership),
    field(6, randomBytes(80)), field(7, membership), field(8, randomBytes(80)), field(9, nonMembership), field(10, randomBytes(32)),
  );
  const checkpointBytes = Buffer.from(String(vector["signed_base64"]), "base64");
  const inputs: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) inputs.push(randomBytes(next() % 300));
  for (const base of [skeleton, new Uint8Array(checkpointBytes)]) {
    for (let i = 0; i < 300; i++) {
      const mutated = base.slice();
      const at = next() % mutated.length;
      mutated[at] = (mutated[at] ?? 0) ^ (1 << (next() % 8));
      inputs.push(mutated, base.subarray(0, next() % base.length));
    }
  }
  const vrfKey = new Uint8Array(32).fill(9);
  for (const input of inputs) {
    for (const parse of [
      () => directory.parseCheckpoint(input),
      () => directory.decodeEntry(input),
      () => akd.lookupVerify(vrfKey, new Uint8Array(32), 10n, new Uint8Array([1]), akd.decodeLookupProof(input)),
      () => akd.keyHistoryVerify(vrfKey, new Uint8Array(32), 10n, new Uint8Array([1]), akd.decodeHistoryProof(input)),
    ]) {
      try {
        parse();
      } catch (error) {
        assert.ok(error instanceof VirgilError, `${String(error)} for ${toHex(input)}`);
      }
    }
  }
});

const tree = JSON.parse(readFileSync(join(vectors, "directory.json"), "utf8")) as {
  epoch: number;
  root: string;
  vrf_key: string;
  lookups: { identity: string; label: string; entry: string; proof_base64: string }[];
  history: { entries_newest_first: string[]; epochs_newest_first: number[]; proof_base64: string };
  refused: { identity: string; proof_base64: string }[];
};

test("the directory vector's lookup and history proofs verify, and nothing else does", () => {
  const [root, vrf, epoch] = [fromHex(tree.root), fromHex(tree.vrf_key), BigInt(tree.epoch)];
  for (const v of tree.lookups) {
    const proof = fromBase64(v.proof_base64);
    const proven = akd.lookupVerify(vrf, root, epoch, fromHex(v.label), akd.decodeLookupProof(proof));
    assert.equal(toHex(proven.value), v.entry, v.identity);
    assert.ok(proof.length < 4096, `a lookup proof is ${proof.length} bytes`);
  }
  const [bob, alice] = [tree.lookups[0]!, tree.lookups[1]!];
  const bobProof = fromBase64(bob.proof_base64);
  const verify = (label: Uint8Array, proof: Uint8Array, atRoot = root, atEpoch = epoch, key = vrf) =>
    akd.lookupVerify(key, atRoot, atEpoch, label, akd.decodeLookupProof(proof));
  // Another identity's label, another root, an earlier epoch, another VRF key: refused.
  const refusedKinds = (e: VirgilError) => e.kind === "directory_proof" || e.kind === "malformed";
  assert.throws(() => verify(fromHex(alice.label), bobProof), refusedKinds);
  assert.throws(() => verify(fromHex(bob.label), bobProof, new Uint8Array(32)), refusedKinds);
  assert.throws(() => verify(fromHex(bob.label), bobProof, root, 2n), refusedKinds);
  assert.throws(() => verify(fromHex(bob.label), bobProof, root, epoch, PrivateKey.generate(1).publicKey.toBytes().subarray(3, 35)), refusedKinds);
  // No flipped bit proves anything else (the existence proof's leaf hash is recomputed
  // from the value, so flipping it proves the same entry).
  let refused = 0;
  for (let i = 0; i < bobProof.length; i++) {
    const flipped = bobProof.slice();
    flipped[i] = (flipped[i] ?? 0) ^ 0x01;
    try {
      assert.equal(toHex(verify(fromHex(bob.label), flipped).value), bob.entry, `byte ${i}`);
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      assert.ok(error instanceof VirgilError, String(error));
      refused++;
    }
  }
  assert.ok(refused * 10 > bobProof.length * 9, `${refused} of ${bobProof.length}`);

  // akd's own encoding (the sibling proofs' labels and directions), and a version-1
  // proof with its marker copies: refused (one encoding per proof, format.md §15).
  assert.equal(tree.refused.length, 2);
  for (const refused of tree.refused) {
    const label = tree.lookups.find((v) => v.identity === refused.identity)!.label;
    assert.throws(() => verify(fromHex(label), fromBase64(refused.proof_base64)), refusedKinds, refused.identity);
  }

  const history = akd.keyHistoryVerify(vrf, root, epoch, fromHex(bob.label), akd.decodeHistoryProof(fromBase64(tree.history.proof_base64)));
  assert.deepEqual(history.map((h) => toHex(h.value)), tree.history.entries_newest_first);
  assert.deepEqual(history.map((h) => Number(h.epoch)), tree.history.epochs_newest_first);
  assert.throws(() => akd.keyHistoryVerify(vrf, root, epoch, fromHex(alice.label), akd.decodeHistoryProof(fromBase64(tree.history.proof_base64))), refusedKinds);
});

test("marker versions are akd's", () => {
  // The cases akd_core's own test of get_marker_versions checks.
  const cases: [number, number, number, number[], number[]][] = [
    [65, 65, 128, [16, 64], [66, 68, 72, 80, 96, 128]],
    [85, 85, 65537, [16, 64, 80, 84], [86, 88, 96, 128, 256, 65536]],
    [1, 5, 33, [], [6, 8, 16]],
    [2, 5, 33, [], [6, 8, 16]],
    [3, 5, 33, [2], [6, 8, 16]],
    [6, 12, 128, [4], [13, 14, 16]],
    [6, 12, 256, [4], [13, 14, 16, 256]],
    [130, 130, 256, [16, 128], [131, 132, 136, 144, 160, 192, 256]],
  ];
  for (const [start, end, epoch, past, future] of cases) {
    assert.deepEqual(akd.markerVersions(BigInt(start), BigInt(end), BigInt(epoch)), { past: past.map(BigInt), future: future.map(BigInt) }, `${start} ${end} ${epoch}`);
  }
});

test("verification codes carry the checkpoint; comparing them catches a fork", async () => {
  const service = PrivateKey.generate(1);
  const number = "0".repeat(30) + "1".repeat(30);
  const ours = fromBase64(checkpoint(service, 5, 1, 100));
  const code = verificationCode(number, ours);
  const parsed = parseVerificationCode(`  ${code}\n`);
  assert.equal(parsed.number, number);
  assert.equal(toHex(parsed.checkpoint!), toHex(ours));
  assert.equal(parseVerificationCode(verificationCode(number, null)).checkpoint, null);
  for (const bad of ["virgil-verify:2:" + number + ":", "virgil-verify:1:" + number.slice(1) + ":", "virgil-verify:1:" + number]) {
    assert.throws(() => parseVerificationCode(bad), (e: VirgilError) => e.kind === "malformed");
  }
  const keys = [service.publicKey];
  assert.match(directory.compareCheckpoints(ours, ours, keys), /one key directory \(epoch 5\)/);
  assert.match(directory.compareCheckpoints(ours, fromBase64(checkpoint(service, 6, 2, 110)), keys), /epochs 5 and 6/);
  assert.throws(() => directory.compareCheckpoints(ours, fromBase64(checkpoint(service, 5, 9, 100)), keys), /two different directories for epoch 5/);
  assert.throws(() => directory.compareCheckpoints(ours, fromBase64(checkpoint(PrivateKey.generate(1), 5, 1, 100)), keys), /not signed/);
});
