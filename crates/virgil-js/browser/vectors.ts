// The vector checks, run in a real browser (test/browser.test.ts bundles this with
// esbuild and loads it in Chromium). Results go to `window.virgilResults`.
import {
  BrowserKeyStore,
  Card,
  PrivateKey,
  PublicKey,
  armor,
  decryptingStream,
  envelope,
  fromBase64,
  fromHex,
  keyblob,
  safetyNumber,
  status,
  akd,
  directory,
  toHex,
  type Suite,
} from "../src/index.js";

type Result = { name: string; ok: boolean; detail: string };
const results: Result[] = [];
const suiteOf = (suite: number | null): Suite => (suite === 2 ? 2 : 1);
const patterned = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => i % 251);
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

async function check(name: string, run: () => Promise<void> | void): Promise<void> {
  try {
    await run();
    results.push({ name, ok: true, detail: "" });
  } catch (error) {
    results.push({ name, ok: false, detail: String(error) });
  }
  const row = document.createElement("li");
  const last = results[results.length - 1]!;
  row.textContent = `${last.ok ? "✓" : "✗"} ${name} ${last.detail}`;
  document.getElementById("results")!.append(row);
}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

async function main(): Promise<void> {
  const crypto = await (await fetch("/vectors/crypto.json")).json();
  const cards = await (await fetch("/vectors/cards.json")).json();
  const statuses = await (await fetch("/vectors/status.json")).json();
  const checkpoints = await (await fetch("/vectors/checkpoint.json")).json();
  const tree = await (await fetch("/vectors/directory.json")).json();

  await check("keys of both suites", () => {
    for (const v of crypto.keys) {
      const key = PrivateKey.fromSeed(fromHex(v.seed), suiteOf(v.suite));
      expect(toHex(key.publicKey.toBytes()) === v.public_key && key.publicKey.keyIdHex() === v.key_id, v.seed);
    }
  });
  await check("signatures", () => {
    for (const v of crypto.signatures) {
      expect(toHex(PrivateKey.fromSeed(fromHex(v.seed)).sign(v.context, fromHex(v.message))) === v.signature, v.context);
    }
  });
  await check("key blobs (WebCrypto PBKDF2 and AES-GCM)", async () => {
    for (const v of crypto.key_blobs) {
      const blob = fromHex(v.blob);
      const key = v.hardened ? await keyblob.unlockHardened(blob, fromHex(v.hardened)) : await keyblob.unlock(blob, v.password);
      expect(toHex(key.toSeed()) === v.seed, v.blob.slice(0, 16));
    }
  });
  await check("envelopes, one-shot and streaming", async () => {
    for (const v of crypto.envelopes) {
      const ciphertext = fromBase64(v.ciphertext);
      const key = PrivateKey.fromSeed(fromHex(v.recipient_seeds[0]), suiteOf(v.recipient_suites[0]));
      const senders = v.sender_seed === null ? null : [PrivateKey.fromSeed(fromHex(v.sender_seed), suiteOf(v.sender_suite)).publicKey];
      const plaintext = senders === null ? (await envelope.decrypt(ciphertext, key)).plaintext : (await envelope.decryptThenVerify(ciphertext, key, senders)).plaintext;
      expect(same(plaintext, patterned(Number(v.plaintext_len))), v.name);
      const streamed = new Uint8Array(await new Response(new Blob([ciphertext as BlobPart]).stream().pipeThrough(decryptingStream(key, senders))).arrayBuffer());
      expect(same(streamed, patterned(Number(v.plaintext_len))), `${v.name} (streamed)`);
    }
  });
  await check("negative envelopes fail with their errors", async () => {
    for (const v of crypto.negative_envelopes) {
      const key = PrivateKey.fromSeed(fromHex(v.recipient_seed), suiteOf(v.recipient_suite));
      const sender = PrivateKey.fromSeed(fromHex(v.sender_seed), suiteOf(v.sender_suite)).publicKey;
      let kind = "none";
      try {
        await envelope.decryptThenVerify(fromBase64(v.ciphertext), key, [sender]);
      } catch (error) {
        kind = (error as { kind?: string }).kind ?? String(error);
      }
      expect(kind === v.error, `${v.name}: ${kind}`);
    }
  });
  await check("armor", () => {
    const data = patterned(1000);
    expect(same(armor.dearmor(armor.armor(data)), data), "round trip");
  });
  await check("cards and links", () => {
    for (const v of cards.cards) {
      const card = Card.import(v.export);
      expect(card.idHex() === v.id && card.export() === v.export, v.id);
    }
    const link = cards.links[0];
    const from = Card.import(cards.cards.find((c: { id: string }) => c.id === link.linked_from).export);
    expect(Card.import(link.export).isLinkedFrom(from), "link");
  });
  await check("status and search statements", () => {
    for (const v of statuses.statuses) {
      expect(toHex(status.statusStatement(fromHex(v.card_id), status.statusFromJson(v.status), BigInt(v.as_of))) === v.statement, v.name);
    }
    const s = statuses.search;
    const statements = statuses.statuses.slice(0, 2).map((x: { statement: string }) => fromHex(x.statement));
    expect(toHex(status.searchStatement(s.app_id, s.identities, BigInt(s.as_of), statements)) === s.statement, "search");
  });
  await check("keys at rest in IndexedDB, locked; never in localStorage", async () => {
    const store = await BrowserKeyStore.open("virgil-test-keys");
    const key = PrivateKey.generate(2);
    await store.save("alice", key, "alice's password", keyblob.MIN_ITERATIONS);
    let refused = "";
    try {
      await store.save("alice", PrivateKey.generate(), "other", keyblob.MIN_ITERATIONS);
    } catch (error) {
      refused = (error as { kind?: string }).kind ?? "";
    }
    expect(refused === "misuse", "an existing key is never replaced");
    expect((await store.load("alice", "alice's password")).publicKey.equals(key.publicKey), "load");
    let wrong = "";
    try {
      await store.load("alice", "wrong");
    } catch (error) {
      wrong = (error as { kind?: string }).kind ?? "";
    }
    expect(wrong === "wrong_password", "a wrong password");
    expect(localStorage.length === 0, "nothing in localStorage");
    expect((await store.names()).includes("alice"), "names");
    await store.delete("alice");
    store.close();
  });
  await check("directory checkpoints", () => {
    const signed = directory.parseCheckpoint(fromBase64(checkpoints.signed_base64));
    const key = PublicKey.fromBytes(fromHex(checkpoints.service_public_key));
    expect(directory.verifyCheckpoint(signed, [key]).epoch === BigInt(checkpoints.epoch), "epoch");
  });
  await check("directory lookup and history proofs (akd, in the browser)", () => {
    const [root, vrf, epoch] = [fromHex(tree.root), fromHex(tree.vrf_key), BigInt(tree.epoch)];
    for (const v of tree.lookups) {
      const proven = akd.lookupVerify(vrf, root, epoch, fromHex(v.label), akd.decodeLookupProof(fromBase64(v.proof_base64)));
      expect(toHex(proven.value) === v.entry, v.identity);
    }
    const bob = fromHex(tree.lookups[0].label);
    const history = akd.keyHistoryVerify(vrf, root, epoch, bob, akd.decodeHistoryProof(fromBase64(tree.history.proof_base64)));
    expect(history.map((h) => toHex(h.value)).join() === tree.history.entries_newest_first.join(), "history");
  });
  await check("safety numbers", () => {
    for (const v of cards.safety_numbers) {
      const side = (x: { app_id: string; identity: string; public_keys: string[] }) => ({
        appId: x.app_id,
        identity: x.identity,
        publicKeys: x.public_keys.map((k) => PublicKey.fromBytes(fromHex(k))),
      });
      expect(safetyNumber(side(v.ours), side(v.theirs)) === v.number, "number");
    }
  });
}

declare global {
  interface Window {
    virgilResults?: Result[];
  }
}

main()
  .catch((error) => results.push({ name: "loading the vectors", ok: false, detail: String(error) }))
  .finally(() => {
    window.virgilResults = results;
  });
