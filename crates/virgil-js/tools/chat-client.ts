// A JavaScript user of a real deployment, run by test/live.test.ts in its own node
// process (so NODE_EXTRA_CA_CERTS can name the deployment's CA), written with the
// facade's tutorial names. Phase "send": alice registers, makes and saves a key,
// publishes a card, finds bob's and sends him a signed, encrypted message. Phase "read":
// alice logs in again, loads her key, reads bob's reply and verifies it. The other
// phases are attacks on bob's search answer (see `network`), each to be refused.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type KeyStorage, type PrivateKey, Virgil, VirgilError, fromBase64, keyblob, toBase64 } from "../src/index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

/** Saved keys in one file (the phases run in separate processes): a §5 blob. */
class FileKeyStorage implements KeyStorage {
  constructor(private readonly path: string) {}
  async save(name: string, key: PrivateKey, password: string): Promise<void> {
    if (existsSync(this.path)) throw new VirgilError("misuse", `a key named ${name} exists`);
    writeFileSync(this.path, await keyblob.lock(key, password, keyblob.MIN_ITERATIONS), { flag: "wx" });
  }
  async load(_name: string, password: string): Promise<PrivateKey> {
    return keyblob.unlock(new Uint8Array(readFileSync(this.path)), password);
  }
  async names(): Promise<string[]> {
    return existsSync(this.path) ? ["alice"] : [];
  }
  async delete(): Promise<void> {}
}

const phase = process.argv[2] ?? "send";
let replay = false;

/**
 * The network as each phase wants it: "send" records bob's search answer (RECORD_FILE);
 * the attack phases change search answers on the way, as a man in the middle (or the
 * service itself) would: "tampered" drops bob's card, "forged-proof" flips one byte of
 * the directory's lookup proof, "no-proof" removes the proofs, "rollback" replays the
 * recorded, older answer after a fresh one.
 */
const network: typeof fetch = async (input, init) => {
  const search = String(input).endsWith("/v1/cards/actions/search");
  if (search && replay) {
    return new Response(readFileSync(env("RECORD_FILE")), { status: 200, headers: { "content-type": "application/json" } });
  }
  const response = await fetch(input, init);
  if (!search) return response;
  const answer = (await response.json()) as {
    cards: unknown[];
    directory?: { checkpoint: string; proofs: { identity: string; proof: string }[] };
  };
  if (phase === "send" && String(init?.body).includes('"bob"')) writeFileSync(env("RECORD_FILE"), JSON.stringify(answer));
  if (phase === "tampered") answer.cards = [];
  if (phase === "no-proof") delete answer.directory;
  const proof = answer.directory?.proofs[0];
  if (phase === "forged-proof" && proof !== undefined) {
    const bytes = fromBase64(proof.proof);
    const middle = bytes.length >> 1;
    bytes[middle] = (bytes[middle] ?? 0) ^ 0x01;
    proof.proof = toBase64(bytes);
  }
  return new Response(JSON.stringify(answer), { status: response.status, headers: response.headers });
};

const virgil = new Virgil({
  appId: "chat",
  appKey: env("APP_KEY"),
  serviceKey: env("SERVICE_KEY"),
  cardsService: env("CARDS_URL"),
  appServer: env("APP_URL"),
  keyStorage: new FileKeyStorage(env("KEY_FILE")),
  fetch: network,
});
const password = "alice's account password";

async function send(): Promise<void> {
  await virgil.account.register("alice", password);
  await virgil.account.login("alice", password);
  const key = virgil.keys.generate("pq");
  await key.save("alice", "alice's key password");
  const card = await virgil.account.publishCard(virgil.cards.create("alice", key));
  await virgil.selfCheck(key); // every card of alice's is this key's
  const id = await virgil.messages.send("bob", key, env("MESSAGE"));
  console.log(`sent ${id} with card ${card.idHex()}`);
}

async function read(): Promise<void> {
  await virgil.account.login("alice", password);
  const key = await virgil.keys.load("alice", "alice's key password");
  console.log(`monitored up to epoch ${await virgil.monitor(key)}`);
  const { received } = await virgil.messages.inbox(key);
  for (const message of received) {
    console.log(`from ${message.sender}: ${message.message?.toString() ?? `(${message.error})`}`);
  }
}

/** The attack phases: each must be refused. */
async function attacked(): Promise<void> {
  await virgil.account.login("alice", password);
  try {
    await virgil.cards.find("bob");
    if (phase === "rollback") {
      replay = true;
      await virgil.cards.find("bob");
    }
    console.log("accepted a tampered answer");
  } catch (error) {
    console.log(`refused: ${String(error)}`);
  }
}

/** Phase "monitor": alice's device checks her identity's history in the directory. */
async function monitor(): Promise<void> {
  await virgil.account.login("alice", password);
  const key = await virgil.keys.load("alice", "alice's key password");
  try {
    console.log(`monitored up to epoch ${await virgil.monitor(key)}`);
  } catch (error) {
    console.log(String(error));
  }
}

const phases: Record<string, () => Promise<void>> = { send, read, monitor };
await (phases[phase] ?? attacked)();
