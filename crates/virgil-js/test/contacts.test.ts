// The contact store's rule (the same as virgil_card::contact): known, linked (directly
// or through a chain, from a card the answer still holds) or unlinked — a key change.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Card, Contacts, PrivateKey, isKeyChange, ownCardsCheck } from "../src/index.js";

const card = (key: PrivateKey, identity = "bob"): Card => Card.request(key, { identity, appId: "chat" });

test("a linked device is taken without a warning; an unlinked card is a key change", async () => {
  const contacts = Contacts.inMemory("chat");
  const [laptop, phone, tablet, stranger] = [PrivateKey.generate(1), PrivateKey.generate(1), PrivateKey.generate(1), PrivateKey.generate(2)];
  const first = card(laptop);
  const firstReview = await contacts.review("bob", [first]);
  assert.ok(firstReview.first && !isKeyChange(firstReview));
  await contacts.pin("bob", [first]);
  await contacts.setVerified("bob", true);

  const second = card(phone);
  second.linkFrom(first, laptop);
  const third = card(tablet);
  third.linkFrom(second, phone);
  const chained = await contacts.review("bob", [first, second, third]);
  assert.deepEqual(
    [chained.known.length, chained.linked.length, chained.unlinked.length, isKeyChange(chained)],
    [1, 2, 0, false],
  );

  // A card linked from a pinned card the answer no longer holds is not vouched for.
  const orphan = await contacts.review("bob", [second]);
  assert.ok(isKeyChange(orphan));

  const unlinked = card(stranger);
  const changed = await contacts.review("bob", [first, unlinked]);
  assert.ok(isKeyChange(changed));
  assert.equal(changed.unlinked[0]!.idHex(), unlinked.idHex());
  // A link made with another identity's card does not count.
  const elsewhere = card(laptop, "carol");
  const forged = card(stranger);
  forged.sign(`link:${elsewhere.idHex()}`, laptop);
  assert.ok(isKeyChange(await contacts.review("bob", [first, forged])));

  // Accepting the key change pins it and ends the "verified" mark.
  await contacts.pin("bob", [first, unlinked]);
  const contact = await contacts.get("bob");
  assert.equal(contact!.cards.length, 2);
  assert.equal(contact!.verified, false);
  assert.ok(!isKeyChange(await contacts.review("bob", [first, unlinked])));
});

test("self-monitoring: every own card is this device's or linked from it", () => {
  const [device, other, thief] = [PrivateKey.generate(1), PrivateKey.generate(1), PrivateKey.generate(1)];
  const mine = card(device, "alice");
  const linked = card(other, "alice");
  linked.linkFrom(mine, device);
  assert.equal(ownCardsCheck([mine, linked], device.publicKey), null);
  assert.match(ownCardsCheck([mine, linked, card(thief, "alice")], device.publicKey) ?? "", /did not make or link/);
  assert.match(ownCardsCheck([card(thief, "alice")], device.publicKey) ?? "", /no longer active/);
  assert.match(ownCardsCheck([], device.publicKey) ?? "", /no active card/);
});
