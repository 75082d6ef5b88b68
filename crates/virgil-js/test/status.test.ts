// Status and search statements, and revocation requests, against docs/vectors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { PrivateKey, VirgilError, fromHex, status, toHex } from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const statuses = JSON.parse(readFileSync(join(root, "docs", "vectors", "status.json"), "utf8"));
const cards = JSON.parse(readFileSync(join(root, "docs", "vectors", "cards.json"), "utf8"));
const service = PrivateKey.fromSeed(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xa0 : 6)));

test("status statements: every vector, byte for byte, signed; stale or future ones refused", () => {
  for (const vector of statuses.statuses) {
    const parsed = status.statusFromJson(vector.status);
    const asOf = BigInt(vector.as_of);
    const statement = status.statusStatement(fromHex(vector.card_id), parsed, asOf);
    assert.equal(toHex(statement), vector.statement, vector.name);
    assert.equal(toHex(service.sign("virgil/card-status", statement)), vector.signature, vector.name);
    const verify = (now: bigint) =>
      status.verifyStatus([service.publicKey], fromHex(vector.card_id), parsed, asOf, fromHex(vector.signature), now);
    assert.ok(verify(asOf + 60n), vector.name);
    assert.ok(!verify(asOf + 601n), `${vector.name}: stale`);
    assert.ok(!verify(asOf - 301n), `${vector.name}: from the future`);
    assert.ok(
      !status.verifyStatus([service.publicKey], fromHex(vector.card_id), { state: "active" }, asOf, fromHex(vector.signature), asOf) ||
        parsed.state === "active",
      `${vector.name}: another status`,
    );
  }
});

test("search statements: the vector, and a dropped or reordered answer refused", () => {
  const vector = statuses.search;
  const statements = statuses.statuses.slice(0, 2).map((s: { statement: string }) => fromHex(s.statement));
  const asOf = BigInt(vector.as_of);
  const rebuilt = status.searchStatement(vector.app_id, vector.identities, asOf, statements);
  assert.equal(toHex(rebuilt), vector.statement);
  const signature = fromHex(vector.signature);
  const check = (identities: string[], answer: Uint8Array[]) =>
    status.verifySearch([service.publicKey], vector.app_id, identities, asOf, answer, signature, asOf);
  assert.ok(check(vector.identities, statements));
  assert.ok(check(["alice", "bob", "bob"], statements), "order and duplicates of the query do not matter");
  assert.ok(!check(vector.identities, statements.slice(0, 1)), "a card dropped");
  assert.ok(!check(vector.identities, [...statements].reverse()), "reordered");
  assert.ok(!check(["alice"], statements), "another query");
});

test("revocation requests: round trip, and the negative vector", () => {
  const key = PrivateKey.generate();
  const request = { cardId: new Uint8Array(32).fill(7), reason: "compromised" as const, createdAt: 1_700_000_000n };
  const signed = status.signRevocation(request, key);
  assert.equal(signed.request.length, 46);
  assert.deepEqual(status.decodeRevocation(signed.request), request);
  assert.ok(key.publicKey.verify("virgil/card-revocation", signed.request, signed.signature));
  // The vector: decoded, re-encoded byte for byte, signed by the application key seed(5).
  const app = PrivateKey.fromSeed(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xa0 : 5)));
  const decoded = status.decodeRevocation(fromHex(cards.revocation.request));
  assert.equal(toHex(status.encodeRevocation(decoded)), cards.revocation.request);
  assert.equal(toHex(status.signRevocation(decoded, app).signature), cards.revocation.signature);
  for (const vector of cards.negative_revocations) {
    assert.throws(() => status.decodeRevocation(fromHex(vector.request)), (e) => e instanceof VirgilError && e.kind === vector.error);
  }
});
