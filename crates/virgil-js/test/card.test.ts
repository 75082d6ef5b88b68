// Cards against docs/vectors/cards.json: snapshots, ids, signatures, links, exports.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Card, PrivateKey, PublicKey, Verifier, VirgilError, decodeSnapshot, fromHex, safetyNumber, toHex, type Suite } from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const vectors = JSON.parse(readFileSync(join(root, "docs", "vectors", "cards.json"), "utf8"));
const seed = (n: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xa0 : n));
const appKey = PrivateKey.fromSeed(seed(5));
const serviceKey = PrivateKey.fromSeed(seed(6));
const suiteOf = (suite: number): Suite => (suite === 2 ? 2 : 1);

test("cards: every vector imports, re-exports and is made again byte for byte", () => {
  const verifier = new Verifier(new Map([["chat", [appKey.publicKey]]]), [serviceKey.publicKey]);
  for (const vector of vectors.cards) {
    const card = Card.import(vector.export);
    assert.equal(toHex(card.snapshot), vector.snapshot);
    assert.equal(card.idHex(), vector.id);
    assert.equal(card.export(), vector.export);
    for (const { signer, signature } of vector.signatures) {
      assert.equal(toHex(card.signatures.get(signer)!), signature, signer);
    }
    // Made again from its content with the owner's key: the same snapshot and self signature.
    const owner = PrivateKey.fromSeed(fromHex(vector.owner_seed), suiteOf(vector.owner_suite));
    const content = decodeSnapshot(card.snapshot);
    const again = Card.request(owner, {
      identity: content.identity,
      identityType: content.identityType,
      appId: content.appId,
      data: content.data,
      createdAt: content.createdAt,
      ...(content.previousCardId === null ? {} : { previousCardId: content.previousCardId }),
      ...(content.info === null ? {} : { info: content.info }),
    });
    assert.equal(toHex(again.snapshot), vector.snapshot);
    assert.equal(toHex(again.signatures.get("self")!), vector.signatures[0].signature);
    if (card.signatures.has("service")) {
      assert.equal(verifier.problem(card), null);
      // A flipped bit of any signature, or a missing one, is refused.
      for (const signer of ["self", "app:chat", "service"]) {
        const broken = Card.import(vector.export);
        const signature = broken.signatures.get(signer)!;
        signature[0] = signature[0]! ^ 1;
        assert.notEqual(verifier.problem(broken), null, signer);
      }
    } else {
      assert.ok(card.isSignedBy("self", card.content.publicKey));
      assert.notEqual(verifier.problem(card), null);
    }
  }
});

test("cards: the link vector", () => {
  const vector = vectors.links[0];
  const card = Card.import(vector.export);
  assert.equal(card.idHex(), vector.id);
  const from = Card.import(vectors.cards.find((c: { id: string }) => c.id === vector.linked_from).export);
  assert.ok(card.isLinkedFrom(from));
  assert.equal(toHex(card.signatures.get(vector.signer)!), vector.signature);
  // Made again: the same link signature.
  const relinked = Card.import(vector.export);
  relinked.signatures.delete(vector.signer);
  relinked.linkFrom(from, PrivateKey.fromSeed(fromHex(vector.linking_seed)));
  assert.equal(toHex(relinked.signatures.get(vector.signer)!), vector.signature);
  assert.ok(!from.isLinkedFrom(card));
});

test("cards: the negative snapshots, and what §6 rejects", () => {
  for (const vector of vectors.negative_snapshots) {
    assert.throws(() => decodeSnapshot(fromHex(vector.snapshot)), (e) => e instanceof VirgilError && e.kind === vector.error, vector.name);
  }
  const good = Card.import(vectors.cards[0].export).snapshot;
  assert.throws(() => decodeSnapshot(good.subarray(0, good.length - 1)), VirgilError);
  assert.throws(() => decodeSnapshot(Uint8Array.of(...good, 0)), VirgilError);
  const key = PrivateKey.generate();
  for (const options of [
    { identity: "", appId: "chat" },
    { identity: "a\u0007b", appId: "chat" },
    { identity: "alice", appId: "no spaces" },
    { identity: "alice", appId: "chat", data: [["b", "1"], ["a", "2"]] as [string, string][] },
    { identity: "alice", appId: "chat", data: [["virgil.other", "1"]] as [string, string][] },
  ]) {
    assert.throws(() => Card.request(key, options), VirgilError, JSON.stringify(options));
  }
});

test("safety numbers: the vector, whichever side computes it", () => {
  for (const vector of vectors.safety_numbers) {
    const side = (s: { app_id: string; identity: string; public_keys: string[] }) => ({
      appId: s.app_id,
      identity: s.identity,
      publicKeys: s.public_keys.map((k) => PublicKey.fromBytes(fromHex(k))),
    });
    assert.equal(safetyNumber(side(vector.ours), side(vector.theirs)), vector.number);
    assert.equal(safetyNumber(side(vector.theirs), side(vector.ours)), vector.number);
    const reordered = side(vector.ours);
    reordered.publicKeys.reverse();
    reordered.publicKeys.push(reordered.publicKeys[0]!);
    assert.equal(safetyNumber(reordered, side(vector.theirs)), vector.number, "order and duplicates do not matter");
    const swapped = side(vector.theirs);
    swapped.publicKeys = [PrivateKey.generate().publicKey];
    assert.notEqual(safetyNumber(side(vector.ours), swapped), vector.number);
  }
});
