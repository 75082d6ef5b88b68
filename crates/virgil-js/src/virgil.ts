/**
 * The facade: the tutorial's names, as the Rust `virgil` crate and the Python SDK have
 * them (`keys.generate`, `key.save`, `cards.create`, `cards.find`, `signThenEncrypt`,
 * `decryptThenVerify`, `VirgilBuffer`), over the layers below (keys, cards, envelopes,
 * the contact store and the `Client`).
 *
 * ```ts
 * const virgil = await Virgil.fromConfig();            // the page's /chat/config.json
 * await virgil.account.login("alice", password);
 * const key = virgil.keys.generate("pq");
 * await key.save("alice", keyPassword);
 * await virgil.account.publishCard(virgil.cards.create("alice", key));
 * const bob = await virgil.cards.find("bob");          // KeyChangeWarning on a key change
 * const cipher = await key.signThenEncrypt("Hey Bob", bob);
 * ```
 */
import { armor, dearmor, isArmored } from "./armor.js";
import { Card } from "./card.js";
import { Client, type Session } from "./client.js";
import { Contacts, isKeyChange, ownCardsCheck } from "./contacts.js";
import { historyAlarm } from "./directory.js";
import { fromBase64, fromHex, toBase64, toHex } from "./encoding.js";
import * as envelope from "./envelope.js";
import { VirgilError } from "./errors.js";
import { DEFAULT_ITERATIONS, lock, unlock } from "./keyblob.js";
import { PrivateKey, PublicKey } from "./keys.js";
import { grouped, safetyNumber } from "./safety.js";

/** Bytes with the tutorial's conversions (UTF-8, base64, hex). */
export class VirgilBuffer {
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** From text (UTF-8), bytes (copied) or another buffer. */
  static from(data: string | Uint8Array | VirgilBuffer): VirgilBuffer {
    if (data instanceof VirgilBuffer) return new VirgilBuffer(data.toBytes());
    if (typeof data === "string") return new VirgilBuffer(new TextEncoder().encode(data));
    return new VirgilBuffer(data.slice());
  }

  /** From text in `encoding` (`utf8`, `base64` or `hex`); bad base64 or hex throws `malformed`. */
  static fromString(text: string, encoding: "utf8" | "base64" | "hex" = "utf8"): VirgilBuffer {
    if (encoding === "base64") return new VirgilBuffer(fromBase64(text));
    if (encoding === "hex") return new VirgilBuffer(fromHex(text));
    return VirgilBuffer.from(text);
  }

  /** The bytes as text in `encoding` (under `utf8`, invalid bytes become U+FFFD). */
  toString(encoding: "utf8" | "base64" | "hex" = "utf8"): string {
    if (encoding === "base64") return toBase64(this.#bytes);
    if (encoding === "hex") return toHex(this.#bytes);
    return new TextDecoder().decode(this.#bytes);
  }

  /** A copy of the bytes. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** How many bytes. */
  get length(): number {
    return this.#bytes.length;
  }
}

type Message = string | Uint8Array | VirgilBuffer;
type Recipients = Card | Card[] | (Card | Card[])[];

function cardKeys(cards: Recipients): PublicKey[] {
  return [cards].flat(2).map((card) => card.content.publicKey);
}

/** An envelope in any of its forms: binary, armored, or base64 text. */
function envelopeBytes(cipher: Message): Uint8Array {
  if (cipher instanceof VirgilBuffer) return envelopeBytes(cipher.toBytes());
  if (isArmored(cipher)) return dearmor(cipher);
  if (typeof cipher === "string") return fromBase64(cipher.trim());
  return cipher;
}

/** Where saved keys live: each a §5 blob, by name. `BrowserKeyStore` in a browser. */
export interface KeyStorage {
  save(name: string, key: PrivateKey, password: string, iterations?: number): Promise<void>;
  load(name: string, password: string): Promise<PrivateKey>;
  names(): Promise<string[]>;
  delete(name: string): Promise<void>;
}

/** Keys in memory, still locked with their passwords (tests, node scripts). */
export class MemoryKeyStorage implements KeyStorage {
  readonly #blobs = new Map<string, Uint8Array>();

  constructor(private readonly iterations = DEFAULT_ITERATIONS) {}

  async save(name: string, key: PrivateKey, password: string, iterations = this.iterations): Promise<void> {
    if (this.#blobs.has(name)) throw new VirgilError("misuse", `a key named ${JSON.stringify(name)} exists; it was not replaced`);
    this.#blobs.set(name, await lock(key, password, iterations));
  }

  async load(name: string, password: string): Promise<PrivateKey> {
    const blob = this.#blobs.get(name);
    if (blob === undefined) throw new VirgilError("misuse", `no key named ${JSON.stringify(name)}`);
    return unlock(blob, password);
  }

  async names(): Promise<string[]> {
    return [...this.#blobs.keys()];
  }

  async delete(name: string): Promise<void> {
    this.#blobs.delete(name);
  }
}

/** A private key with the tutorial's methods. */
export class VirgilKey {
  constructor(
    /** The key itself. */
    readonly privateKey: PrivateKey,
    private readonly storage: KeyStorage,
  ) {}

  /** The key id (hex), as card listings show it. */
  get id(): string {
    return this.privateKey.publicKey.keyIdHex();
  }

  /** `classic` (P-256) or `pq` (X-Wing). */
  get suite(): "classic" | "pq" {
    return this.privateKey.suite === 2 ? "pq" : "classic";
  }

  /** Saves it under `name`, locked with `password`; an existing name is refused. */
  save(name: string, password: string): Promise<void> {
    return this.storage.save(name, this.privateKey, password);
  }

  /** Signs `message` and encrypts it for `recipients`' cards and for this key. */
  async signThenEncrypt(message: Message, recipients: Recipients): Promise<VirgilBuffer> {
    const plaintext = VirgilBuffer.from(message).toBytes();
    const to = [...cardKeys(recipients), this.privateKey.publicKey];
    return VirgilBuffer.from(await envelope.signThenEncrypt(plaintext, this.privateKey, to));
  }

  /** Decrypts `cipher` (binary, armored or base64) and checks it was signed by one of `senders`' cards. */
  async decryptThenVerify(cipher: Message, senders: Recipients): Promise<VirgilBuffer> {
    const opened = await envelope.decryptThenVerify(envelopeBytes(cipher), this.privateKey, cardKeys(senders));
    return VirgilBuffer.from(opened.plaintext);
  }
}

/** A known contact's cards changed without a link (under `keyChanges: "block"`). */
export class KeyChangeWarning extends VirgilError {
  constructor(
    readonly identity: string,
    /** The cards as the directory has them now (pass to `contacts.accept` once compared). */
    readonly cards: Card[],
  ) {
    super("bad_signature", `${identity}'s keys changed: a card not linked from any card you accepted; compare safety numbers, then contacts.accept("${identity}")`);
    this.name = "KeyChangeWarning";
  }
}

/** The user's own cards include one this device did not make or link, or this device's card is gone. */
export class SelfCheckAlarm extends VirgilError {
  constructor(
    readonly identity: string,
    readonly cards: Card[],
    detail: string,
  ) {
    super("bad_signature", detail);
    this.name = "SelfCheckAlarm";
  }
}

/** What the page's `/chat/config.json` (and the CLI's client.toml) hold. */
export interface VirgilConfig {
  app_id: string;
  app_key: string;
  cards_url: string;
  cards_service_key: string;
}

/** Options of `new Virgil`. */
export interface VirgilOptions {
  appId: string;
  /** The application's and the cards service's public keys: base64 or decoded. */
  appKey: string | PublicKey;
  serviceKey: string | PublicKey;
  cardsService: string;
  appServer: string;
  /** Saved keys [default: in memory]. `await BrowserKeyStore.open()` in a browser. */
  keyStorage?: KeyStorage;
  /** Pinned contacts [default: in memory]. `await Contacts.open(appId)` in a browser. */
  contacts?: Contacts;
  /** A contact's unlinked key change: throw `KeyChangeWarning` (default) or accept it. */
  keyChanges?: "block" | "accept";
  /** Another `fetch` (tests, proxies). */
  fetch?: typeof fetch;
}

const publicKey = (key: string | PublicKey): PublicKey =>
  typeof key === "string" ? PublicKey.fromBytes(fromBase64(key)) : key;

/** The facade: keys, cards, account, messages and contacts of one application. */
export class Virgil {
  readonly client: Client;
  readonly appId: string;
  readonly #storage: KeyStorage;
  readonly #contacts: Contacts;
  readonly #keyChanges: "block" | "accept";
  #session: Session | null = null;

  constructor(options: VirgilOptions) {
    this.appId = options.appId;
    this.client = new Client({
      appId: options.appId,
      appKey: publicKey(options.appKey),
      serviceKey: publicKey(options.serviceKey),
      cardsService: options.cardsService,
      appServer: options.appServer,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    this.#storage = options.keyStorage ?? new MemoryKeyStorage();
    this.#contacts = options.contacts ?? Contacts.inMemory(options.appId);
    this.#keyChanges = options.keyChanges ?? "block";
  }

  /** A facade for the page that loads it: its `config.json` (from the application server), its origin as the app server. */
  static async fromConfig(url = "/chat/config.json", options: Partial<VirgilOptions> = {}): Promise<Virgil> {
    const answer = await fetch(url);
    if (!answer.ok) throw new Error(`${url}: ${answer.status}`);
    const config = (await answer.json()) as VirgilConfig;
    return new Virgil({
      appId: config.app_id,
      appKey: config.app_key,
      serviceKey: config.cards_service_key,
      cardsService: config.cards_url,
      appServer: new URL(url, globalThis.location?.href).origin,
      ...options,
    });
  }

  #loggedIn(): Session {
    if (this.#session === null) throw new VirgilError("misuse", "log in first (virgil.account.login)");
    return this.#session;
  }

  /** Private keys: make, load, list, delete. */
  readonly keys = {
    /** A new key, not saved: `classic` (P-256, default) or `pq` (X-Wing). */
    generate: (suite: "classic" | "pq" = "classic"): VirgilKey =>
      new VirgilKey(PrivateKey.generate(suite === "pq" ? 2 : 1), this.#storage),
    /** A saved key (`wrong_password`, or `misuse` if there is none). */
    load: async (name: string, password: string): Promise<VirgilKey> =>
      new VirgilKey(await this.#storage.load(name, password), this.#storage),
    exists: async (name: string): Promise<boolean> => (await this.#storage.names()).includes(name),
    list: (): Promise<string[]> => this.#storage.names(),
    delete: (name: string): Promise<void> => this.#storage.delete(name),
  };

  /** Cards: requests, lookups (through the contact store), verification. */
  readonly cards = {
    /** A card request for `identity`, signed by `key` (publish it with `account.publishCard`). */
    create: (identity: string, key: VirgilKey): Card => Card.request(key.privateKey, { identity, appId: this.appId }),
    /**
     * The verified, active cards of `identity` (`[]` if none). First contact pins them;
     * a card linked from a pinned one is taken; any other new card is a key change:
     * `KeyChangeWarning` under `keyChanges: "block"`.
     */
    find: async (identity: string): Promise<Card[]> => {
      const cards = await this.client.findCards(this.#loggedIn(), identity);
      if (cards.length === 0) return [];
      const review = await this.#contacts.review(identity, cards);
      if (isKeyChange(review) && this.#keyChanges === "block") throw new KeyChangeWarning(identity, cards);
      await this.#contacts.pin(identity, cards);
      return cards;
    },
    /** An exported card, parsed (signatures checked by `find`, not here). */
    importCard: (text: string): Card => Card.import(text),
  };

  /** The account at the application server. */
  readonly account = {
    register: (username: string, password: string): Promise<void> => this.client.register(username, password),
    login: async (username: string, password: string): Promise<void> => {
      this.#session = await this.client.login(username, password);
    },
    logout: (): void => {
      this.#session = null;
    },
    /** The logged-in user, or null. */
    username: (): string | null => this.#session?.username ?? null,
    /**
     * The tutorial's `send_to_srv`: approved by the app server, published by the cards
     * service. The card is remembered as this device's own (for `monitor`).
     */
    publishCard: async (card: Card, options: { password?: string } = {}): Promise<Card> => {
      const session = this.#loggedIn();
      const published = (await this.client.publishCard(session, card, options)).card;
      await this.#contacts.pin(session.username, [published]);
      return published;
    },
  };

  /** Messages through the application server's relay. */
  readonly messages = {
    /** Signs with `key`, encrypts for `to`'s cards and your own, relays it; returns its id. */
    send: async (to: string, key: VirgilKey, message: Message): Promise<number> => {
      const cards = await this.cards.find(to);
      if (cards.length === 0) throw new VirgilError("misuse", `${to} has no card`);
      const cipher = await key.signThenEncrypt(message, cards);
      return this.client.send(this.#loggedIn(), to, cipher.toBytes());
    },
    /** Messages after `cursor`, each opened with `key` and verified against its sender's cards, or with the reason it was not. */
    inbox: async (
      key: VirgilKey,
      cursor = 0,
    ): Promise<{ received: { id: number; sender: string; sentAt: number; message?: VirgilBuffer; error?: string }[]; nextCursor: number }> => {
      const { messages, nextCursor } = await this.client.inbox(this.#loggedIn(), cursor);
      const received = [];
      for (const relayed of messages) {
        const base = { id: relayed.id, sender: relayed.from, sentAt: relayed.sentAt };
        try {
          received.push({ ...base, message: await key.decryptThenVerify(relayed.body, await this.cards.find(relayed.from)) });
        } catch (error) {
          received.push({ ...base, error: error instanceof Error ? error.message : String(error) });
        }
      }
      return { received, nextCursor };
    },
  };

  /** Key-change decisions and safety numbers. */
  readonly contacts = {
    /** Accepts `identity`'s current cards after a key change (compare safety numbers first). */
    accept: async (identity: string): Promise<void> => {
      await this.#contacts.pin(identity, await this.client.findCards(this.#loggedIn(), identity));
    },
    /** The 60-digit safety number of you and `identity` (groups of five). */
    safetyNumber: async (identity: string): Promise<string> => {
      const session = this.#loggedIn();
      const [ours, theirs] = [await this.client.findCards(session, session.username), await this.client.findCards(session, identity)];
      return grouped(
        safetyNumber(
          { appId: this.appId, identity: session.username, publicKeys: ours.map((card) => card.content.publicKey) },
          { appId: this.appId, identity, publicKeys: theirs.map((card) => card.content.publicKey) },
        ),
      );
    },
  };

  /**
   * Self-monitoring: the logged-in user's active cards, if each is `key`'s card or linked
   * from it (directly or through a chain); else `SelfCheckAlarm`. Call it after login
   * and now and then (the web chat does every few seconds). Directory proofs of the
   * history (the Rust `monitor`) are not in the JavaScript client yet.
   */
  async selfCheck(key: VirgilKey): Promise<Card[]> {
    const session = this.#loggedIn();
    const own = await this.client.findCards(session, session.username);
    const alarm = ownCardsCheck(own, key.privateKey.publicKey);
    if (alarm !== null) throw new SelfCheckAlarm(session.username, own, alarm);
    return own;
  }

  /**
   * `selfCheck`, then the key directory's complete history of your identity (a history
   * proof against a signed checkpoint): from this device's first card on, every card
   * any version listed must be one this device made or trusts. Else `SelfCheckAlarm`
   * naming the cards and the epochs they were listed at. Returns the epoch checked.
   */
  async monitor(key: VirgilKey): Promise<bigint | null> {
    const session = this.#loggedIn();
    const today = await this.selfCheck(key);
    const history = await this.client.history(session, session.username);
    if (history === null) return null;
    const mine = new Set([...today.map((card) => card.idHex()), ...((await this.#contacts.get(session.username))?.cards ?? []).map((c) => c.id)]);
    const alarm = historyAlarm(history.versions, mine);
    if (alarm !== null) throw new SelfCheckAlarm(session.username, today, alarm);
    return history.epoch;
  }

  /** The tutorial's form: `items` holds exactly one `VirgilKey` (the signer) and cards. */
  async signThenEncrypt(message: Message, items: (VirgilKey | Card | Card[])[]): Promise<VirgilBuffer> {
    const signers = items.filter((item): item is VirgilKey => item instanceof VirgilKey);
    if (signers.length !== 1) throw new VirgilError("misuse", "signThenEncrypt takes exactly one VirgilKey (the signer)");
    const cards = items.filter((item): item is Card | Card[] => !(item instanceof VirgilKey));
    return signers[0]!.signThenEncrypt(message, cards);
  }
}

/** The armored text of `cipher` (§11), for a text channel. */
export function armored(cipher: VirgilBuffer): string {
  return armor(cipher.toBytes());
}
