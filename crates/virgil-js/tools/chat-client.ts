// A JavaScript user of a real deployment, run by test/live.test.ts in its own node
// process (so NODE_EXTRA_CA_CERTS can name the deployment's CA). Phase "send": alice
// registers, publishes a card, finds bob's and sends him a signed, encrypted message.
// Phase "read": alice logs in again, reads bob's reply and verifies it.
import { readFileSync, writeFileSync } from "node:fs";
import { Card, Client, PrivateKey, PublicKey, envelope, fromBase64, keyblob } from "../src/index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

// Phase "tampered": a man in the middle drops bob's card from every search answer.
const dropCards: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  if (!String(input).endsWith("/v1/cards/actions/search")) return response;
  const answer = (await response.json()) as { cards: unknown[] };
  answer.cards = [];
  return new Response(JSON.stringify(answer), { status: response.status, headers: response.headers });
};

const client = new Client({
  appId: "chat",
  appKey: PublicKey.fromBytes(fromBase64(env("APP_KEY"))),
  serviceKey: PublicKey.fromBytes(fromBase64(env("SERVICE_KEY"))),
  cardsService: env("CARDS_URL"),
  appServer: env("APP_URL"),
  ...(process.argv[2] === "tampered" ? { fetch: dropCards } : {}),
});
const keyFile = env("KEY_FILE");
const password = "alice's account password";
const decoder = new TextDecoder();

async function send(): Promise<void> {
  await client.register("alice", password);
  const session = await client.login("alice", password);
  const key = PrivateKey.generate(2);
  writeFileSync(keyFile, await keyblob.lock(key, "alice's key password", keyblob.MIN_ITERATIONS));
  const published = await client.publishCard(session, Card.request(key, { identity: "alice", appId: "chat" }));
  const bob = await client.findCards(session, "bob");
  if (bob.length === 0) throw new Error("bob has no card");
  const ciphertext = await envelope.signThenEncrypt(
    new TextEncoder().encode(env("MESSAGE")),
    key,
    [...bob.map((card) => card.content.publicKey), key.publicKey],
  );
  const id = await client.send(session, "bob", ciphertext);
  console.log(`sent ${id} with card ${published.card.idHex()}`);
}

async function read(): Promise<void> {
  const key = await keyblob.unlock(new Uint8Array(readFileSync(keyFile)), "alice's key password");
  const session = await client.login("alice", password);
  const bob = await client.findCards(session, "bob");
  const { messages } = await client.inbox(session);
  for (const message of messages) {
    const opened = await envelope.decryptThenVerify(
      message.body,
      key,
      bob.map((card) => card.content.publicKey),
    );
    console.log(`from ${message.from}: ${decoder.decode(opened.plaintext)}`);
  }
}

async function tampered(): Promise<void> {
  const session = await client.login("alice", password);
  try {
    await client.findCards(session, "bob");
    console.log("accepted a tampered answer");
  } catch (error) {
    console.log(`refused: ${String(error)}`);
  }
}

const phase = process.argv[2];
await (phase === "read" ? read() : phase === "tampered" ? tampered() : send());
