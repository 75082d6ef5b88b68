// The facade's tutorial names, offline: VirgilBuffer, keys.generate / key.save /
// keys.load, cards.create, signThenEncrypt and decryptThenVerify in every envelope form.
// (test/live.test.ts runs the rest — account, cards.find, messages — through real servers.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryKeyStorage, Virgil, VirgilBuffer, VirgilError, armored } from "../src/index.js";

const virgil = new Virgil({
  appId: "chat",
  appKey: "VksBeWLlhnVbUrZ2hVvLb6HmzKRTKxXMFialZqWBLmlOfugEfC4S4H1YiRFEJm0zhq+6Lkj035zQ31wvJDhkjXgmSIaP3RaOxFlqw80YqMk65535vzrVpLEW0S9BvDHTif0T/Q==",
  serviceKey: "VksBeWLlhnVbUrZ2hVvLb6HmzKRTKxXMFialZqWBLmlOfugEfC4S4H1YiRFEJm0zhq+6Lkj035zQ31wvJDhkjXgmSIaP3RaOxFlqw80YqMk65535vzrVpLEW0S9BvDHTif0T/Q==",
  cardsService: "https://127.0.0.1:1",
  appServer: "https://127.0.0.1:2",
  keyStorage: new MemoryKeyStorage(1000),
});

test("VirgilBuffer converts as the tutorial's does", () => {
  const buffer = VirgilBuffer.from("Hey Bob");
  assert.equal(buffer.length, 7);
  assert.equal(buffer.toString("hex"), "48657920426f62");
  assert.equal(VirgilBuffer.fromString(buffer.toString("base64"), "base64").toString(), "Hey Bob");
  assert.equal(VirgilBuffer.fromString("48657920426f62", "hex").toString(), "Hey Bob");
  assert.throws(() => VirgilBuffer.fromString("not hex", "hex"));
});

test("keys, cards and the signed envelope under the tutorial's names", async () => {
  const alice = virgil.keys.generate("pq");
  assert.equal(alice.suite, "pq");
  await alice.save("alice", "alice's key password");
  await assert.rejects(alice.save("alice", "again"), (e: VirgilError) => e.kind === "misuse");
  const loaded = await virgil.keys.load("alice", "alice's key password");
  assert.equal(loaded.id, alice.id);
  await assert.rejects(virgil.keys.load("alice", "wrong"), (e: VirgilError) => e.kind === "wrong_password");
  assert.deepEqual(await virgil.keys.list(), ["alice"]);

  const bob = virgil.keys.generate();
  const [aliceCard, bobCard] = [virgil.cards.create("alice", alice), virgil.cards.create("bob", bob)];
  const cipher = await virgil.signThenEncrypt("Hey Bob, how's it going?", [alice, [bobCard]]);
  for (const form of [cipher, cipher.toBytes(), cipher.toString("base64"), armored(cipher)]) {
    assert.equal((await bob.decryptThenVerify(form, aliceCard)).toString(), "Hey Bob, how's it going?");
  }
  // The sender can read what she sent; a message signed by someone else is refused.
  assert.equal((await alice.decryptThenVerify(cipher, [aliceCard])).toString(), "Hey Bob, how's it going?");
  await assert.rejects(bob.decryptThenVerify(cipher, bobCard), (e: VirgilError) => e.kind === "unknown_sender");
  await assert.rejects(virgil.signThenEncrypt("x", [bobCard]), (e: VirgilError) => e.kind === "misuse");
  await assert.rejects(virgil.signThenEncrypt("x", [alice, bob]), (e: VirgilError) => e.kind === "misuse");
  await assert.rejects(virgil.cards.find("bob"), (e: VirgilError) => e.kind === "misuse", "log in first");
});
