// The web chat (the tutorial in a browser): register and log in; generate a key in
// this browser, locked with the user's key password in IndexedDB; publish its card
// through the application server; find a contact's verified cards; send signed,
// encrypted messages and read them; a contact's key change stops sending until the user
// compares safety numbers and accepts. Served by the application server at /chat/
// (`[web] root`), with a Content-Security-Policy that allows this file and nothing inline.
import {
  BrowserKeyStore,
  browserCheckpoints,
  Card,
  Client,
  Contacts,
  PrivateKey,
  PublicKey,
  RESET_DATA_KEY,
  type Session,
  VirgilError,
  envelope,
  fromBase64,
  compareCheckpoints,
  grouped,
  historyAlarm,
  parseVerificationCode,
  verificationCode,
  isKeyChange,
  ownCardsCheck,
  safetyNumber,
} from "../src/index.js";

interface PageConfig {
  app_id: string;
  app_key: string;
  cards_url: string;
  cards_service_key: string;
}

const element = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
};
const input = (id: string): HTMLInputElement => element<HTMLInputElement>(id);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let config: PageConfig;
let client: Client;
let contacts: Contacts;
let session: Session;
let key: PrivateKey;
let me = "";
/** The open conversation: its identity, the cards accepted for it, cards awaiting acceptance. */
let peer: { identity: string; cards: Card[]; pending: Card[] | null } | null = null;
let cursor = 0;
let polling = false;

function say(text: string, error = false): void {
  const status = element("status");
  status.textContent = text;
  status.className = error ? "error" : "";
}

function explain(error: unknown): string {
  if (error instanceof VirgilError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Runs `action` from a button: its errors are shown, never thrown away. */
function guarded(action: () => Promise<void>): () => void {
  return () => {
    action().catch((error: unknown) => say(explain(error), true));
  };
}

async function ownCards(): Promise<Card[]> {
  return client.findCards(session, me);
}

async function logIn(register: boolean): Promise<void> {
  const username = input("username").value.trim();
  const password = input("password").value;
  const keyPassword = input("key-password").value;
  if (register) {
    say("registering…");
    await client.register(username, password);
  }
  say("logging in…");
  session = await client.login(username, password);
  me = username;
  const keys = await BrowserKeyStore.open(`virgil-keys-${config.app_id}`);
  if ((await keys.names()).includes(me)) {
    say("unlocking your key…");
    key = await keys.load(me, keyPassword);
  } else {
    say("generating your key…");
    key = PrivateKey.generate(Number(element<HTMLSelectElement>("suite").value) === 1 ? 1 : 2);
    await keys.save(me, key, keyPassword);
  }
  keys.close();
  const own = await ownCards();
  if (!own.some((card) => card.content.publicKey.equals(key.publicKey))) {
    if (own.length > 0) {
      // The identity has cards on other devices: a new card must be linked from one of
      // them (device pairing), or replace them all (a reset, which every contact sees
      // as a key change).
      element("reset-text").textContent =
        `${me} already has ${own.length} card(s) on other devices, and this browser holds none of their keys. ` +
        `Pair this browser from one of them, or, if you lost them all, reset: your contacts will be warned.`;
      element("reset-offer").hidden = false;
      say("this browser is not linked to your other devices", true);
      return;
    }
    say("publishing your card…");
    await client.publishCard(session, Card.request(key, { identity: me, appId: config.app_id }));
  }
  await enterChat();
}

/** Publishes a reset card: the identity's other cards are revoked, contacts are warned. */
async function reset(): Promise<void> {
  say("publishing a reset card…");
  const request = Card.request(key, { identity: me, appId: config.app_id, data: [[RESET_DATA_KEY, "1"]] });
  await client.publishCard(session, request, { password: input("password").value });
  element("reset-offer").hidden = true;
  await enterChat();
}

async function enterChat(): Promise<void> {
  const cards = await ownCards();
  const mine = cards.find((card) => card.content.publicKey.equals(key.publicKey));
  if (mine === undefined) throw new Error("your card is not active yet (a reset waits for the service's delay)");
  await contacts.pin(me, [mine]); // this browser's own card, for monitoring
  element("who").textContent = `${me} · card ${mine.idHex().slice(0, 12)}… · ${cards.length} card(s)`;
  element("account").hidden = true;
  element("chat").hidden = false;
  say(`logged in as ${me}; your key never leaves this browser`);
  if (!polling) {
    polling = true;
    void poll();
  }
}

/** Looks `identity` up and compares the answer with what is pinned. */
async function openContact(identity: string, quiet = false): Promise<void> {
  const cards = await client.findCards(session, identity);
  if (cards.length === 0) throw new Error(`${identity} has no card yet`);
  const review = await contacts.review(identity, cards);
  if (review.first) {
    await contacts.pin(identity, cards);
    peer = { identity, cards, pending: null };
    if (!quiet) say(`first contact with ${identity}: ${cards.length} card(s) pinned; compare safety numbers to be sure`);
  } else if (isKeyChange(review)) {
    const accepted = [...review.known, ...review.linked];
    peer = { identity, cards: accepted, pending: cards };
    // Stop sending before anything else is shown (or awaited).
    element<HTMLButtonElement>("send").disabled = true;
    element("warning-text").textContent =
      `WARNING: ${identity}'s keys changed: ${review.unlinked.length} new card(s) not linked from any card you ` +
      `accepted. Someone may be impersonating them, or they set up a device without linking it.`;
    element("warning-number").textContent = grouped(await number(identity, cards));
    element("warning").hidden = false;
    say(`${identity}'s keys changed: sending is stopped until you accept`, true);
  } else {
    if (review.linked.length > 0) {
      await contacts.pin(identity, cards);
      if (!quiet) say(`${identity} added ${review.linked.length} device(s), linked from a card you know`);
    } else if (!quiet) {
      say(`chatting with ${identity}`);
    }
    peer = { identity, cards, pending: null };
  }
  if (peer.pending === null) element("warning").hidden = true;
  element("directory").textContent = `${identity}'s cards proven by the key directory at epoch ${client.lastEpoch ?? "?"}`;
  await showSafety();
  element<HTMLButtonElement>("send").disabled = peer.pending !== null;
}

async function number(identity: string, theirs: Card[]): Promise<string> {
  const ours = await ownCards();
  return safetyNumber(
    { appId: config.app_id, identity: me, publicKeys: ours.map((card) => card.content.publicKey) },
    { appId: config.app_id, identity, publicKeys: theirs.map((card) => card.content.publicKey) },
  );
}

async function showSafety(): Promise<void> {
  if (peer === null) return;
  // Everything computed first, then shown at once (a reader never sees a half update).
  const { identity, cards } = peer;
  const contact = await contacts.get(identity);
  const digits = await number(identity, cards);
  const code = verificationCode(digits, await client.newestCheckpoint());
  element("safety-number").textContent = grouped(digits);
  element("verified-mark").textContent = contact?.verified === true ? "✓ verified" : "not verified";
  element("verify-code").textContent = code;
  element("safety-peer").textContent = identity;
  element("safety").hidden = false;
}

/** Compares the contact's verification code with this device's: the number, and one key directory. */
async function compare(): Promise<void> {
  if (peer === null) return;
  const result = element("compare-result");
  result.className = "";
  try {
    const theirs = parseVerificationCode(input("their-code").value);
    if (theirs.number !== (await number(peer.identity, peer.cards))) {
      throw new Error(`the safety numbers differ: one of you is not using the other's real keys; do not trust ${peer.identity} until you find out why`);
    }
    const directories = compareCheckpoints(await client.newestCheckpoint(), theirs.checkpoint, [PublicKey.fromBytes(fromBase64(config.cards_service_key))]);
    result.textContent = `the safety numbers match, and ${directories}`;
  } catch (error) {
    result.className = "bad";
    result.textContent = explain(error);
  }
}

async function accept(): Promise<void> {
  if (peer?.pending == null) return;
  await contacts.pin(peer.identity, peer.pending);
  peer = { identity: peer.identity, cards: peer.pending, pending: null };
  element("warning").hidden = true;
  element<HTMLButtonElement>("send").disabled = false;
  say(`new key of ${peer.identity} accepted`);
  await showSafety();
}

function show(from: string, text: string, verified: boolean, note: string): void {
  const item = document.createElement("li");
  item.className = from === me ? "mine" : verified ? "" : "unverified";
  item.dataset["from"] = from;
  item.dataset["verified"] = String(verified);
  const who = document.createElement("strong");
  who.textContent = `${from}: `;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = note;
  item.append(who, body, badge);
  element("messages").append(item);
}

async function send(): Promise<void> {
  if (peer === null) throw new Error("open a conversation first");
  const text = input("message").value;
  // Look the contact up again: a key change since the conversation opened stops here.
  await openContact(peer.identity, true);
  if (peer.pending !== null) return;
  const ciphertext = await envelope.signThenEncrypt(encoder.encode(text), key, [
    ...peer.cards.map((card) => card.content.publicKey),
    key.publicKey,
  ]);
  await client.send(session, peer.identity, ciphertext);
  input("message").value = "";
  show(me, text, true, `sent to ${peer.cards.length} card(s)`);
}

/** The keys a message from `from` may be signed with: the cards accepted for them. */
async function acceptedKeys(from: string): Promise<PublicKey[]> {
  if (peer?.identity === from) return peer.cards.map((card) => card.content.publicKey);
  const cards = await client.findCards(session, from);
  const review = await contacts.review(from, cards);
  if (review.first) await contacts.pin(from, cards);
  const accepted = review.first ? cards : [...review.known, ...review.linked];
  return accepted.map((card) => card.content.publicKey);
}

async function readInbox(): Promise<void> {
  const { messages, nextCursor } = await client.inbox(session, cursor);
  cursor = nextCursor;
  for (const message of messages) {
    try {
      const opened = await envelope.decryptThenVerify(message.body, key, await acceptedKeys(message.from));
      show(message.from, decoder.decode(opened.plaintext), true, "✓ signed by their card");
    } catch (error) {
      const why =
        error instanceof VirgilError && error.kind === "unknown_sender"
          ? "signed by a key you have not accepted (their keys changed?)"
          : error instanceof VirgilError && error.kind === "not_a_recipient"
            ? "not encrypted for this browser's key"
            : explain(error);
      show(message.from, "(not shown)", false, `✗ ${why}`);
    }
  }
}

/**
 * Self-monitoring: every current card of the user is this browser's or linked from it,
 * and the key directory's history of the user lists no card this browser did not make
 * since its own first card (a history proof, §15).
 */
async function selfCheck(withHistory: boolean): Promise<void> {
  const alarms: string[] = [];
  const own = await ownCards();
  const today = ownCardsCheck(own, key.publicKey);
  if (today !== null) alarms.push(today);
  if (withHistory) {
    const mine = new Set(((await contacts.get(me))?.cards ?? []).map((card) => card.id));
    for (const card of own) if (card.content.publicKey.equals(key.publicKey)) mine.add(card.idHex());
    const history = await client.history(session, me);
    const alarm = history === null ? null : historyAlarm(history.versions, mine);
    if (alarm !== null) alarms.push(alarm);
    if (history !== null) element("monitor").textContent = `your cards' history checked up to epoch ${history.epoch}`;
  }
  element("alarm-text").textContent = alarms.join(" ");
  element("alarm").hidden = alarms.length === 0;
}

async function poll(): Promise<void> {
  for (let round = 0; ; round++) {
    try {
      if (round % 4 === 0) await selfCheck(round % 8 === 0);
      await readInbox();
    } catch (error) {
      say(`cannot read the inbox: ${explain(error)}`, true);
    }
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}

async function start(): Promise<void> {
  const answer = await fetch("/chat/config.json");
  if (!answer.ok) throw new Error(`the server has no chat configuration (${answer.status})`);
  config = (await answer.json()) as PageConfig;
  client = new Client({
    appId: config.app_id,
    appKey: PublicKey.fromBytes(fromBase64(config.app_key)),
    serviceKey: PublicKey.fromBytes(fromBase64(config.cards_service_key)),
    cardsService: config.cards_url,
    appServer: location.origin,
    checkpoints: await browserCheckpoints(`virgil-checkpoints-${config.app_id}`),
  });
  contacts = await Contacts.open(config.app_id);
  element("account-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => logIn(false))();
  });
  element("register").addEventListener("click", guarded(() => logIn(true)));
  element("contact-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => openContact(input("contact").value.trim()))();
  });
  element("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(send)();
  });
  element("accept").addEventListener("click", guarded(accept));
  element("reset").addEventListener("click", guarded(reset));
  element("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(compare)();
  });
  element("verify").addEventListener(
    "click",
    guarded(async () => {
      if (peer === null) return;
      await contacts.setVerified(peer.identity, true);
      await showSafety();
    }),
  );
  say("ready: register or log in");
  document.body.dataset["ready"] = "true";
}

start().catch((error: unknown) => say(explain(error), true));
