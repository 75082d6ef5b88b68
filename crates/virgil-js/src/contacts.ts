/**
 * The contact store (docs/format.md §13, the rule of `virgil_card::contact`): the cards
 * a user has verified and used for each contact, and how a lookup's answer compares with
 * them. A card already pinned is *known*; a new card linked from a pinned card (or from
 * one linked from it, in a chain) is *linked* — another device, or a rotation — and is
 * taken without a warning; any other new card is *unlinked*: a key change the user must
 * hear about, and must accept (after comparing safety numbers) before it is used.
 *
 * What it does not track yet, unlike the Rust client: pinned cards' revocation and
 * supersession (a pinned card missing from an answer simply stops vouching).
 */
import type { Card } from "./card.js";
import { fromBase64, toBase64 } from "./encoding.js";
import { committed, openStore, request } from "./idb.js";
import { PublicKey } from "./keys.js";

/** At most this many cards are remembered per contact (the oldest are forgotten first). */
export const MAX_PINNED_CARDS = 64;

/** A card the user trusts: its id (hex) and public key (base64, §2). */
export interface PinnedCard {
  id: string;
  publicKey: string;
}

/** What the store remembers of one contact. */
export interface Contact {
  appId: string;
  identity: string;
  cards: PinnedCard[];
  /** Whether the user compared safety numbers and marked the contact verified. */
  verified: boolean;
}

/** How an owner's active cards compare with what the store remembers. */
export interface Review {
  /** No card of this contact was pinned before (trust on first use). */
  first: boolean;
  known: Card[];
  /** New cards linked from a pinned card, directly or through a chain. */
  linked: Card[];
  /** New cards not linked from any pinned card: a key change. */
  unlinked: Card[];
}

/** Whether `review` holds a card the user must hear about before it is used. */
export function isKeyChange(review: Review): boolean {
  return !review.first && review.unlinked.length > 0;
}

/** Sorts `cards` (one owner's active cards) against `contact` (undefined: never seen). */
export function review(contact: Contact | undefined, cards: Card[]): Review {
  const pinned = contact?.cards ?? [];
  const result: Review = { first: pinned.length === 0, known: [], linked: [], unlinked: [] };
  const present = new Set(cards.map((card) => card.idHex()));
  // A pinned card vouches only while the answer still holds it (a card missing from
  // the answer may have been revoked).
  const anchors: { id: string; key: PublicKey }[] = pinned
    .filter((card) => present.has(card.id))
    .map((card) => ({ id: card.id, key: PublicKey.fromBytes(fromBase64(card.publicKey)) }));
  let rest: Card[] = [];
  for (const card of cards) {
    if (pinned.some((p) => p.id === card.idHex())) result.known.push(card);
    else rest.push(card);
  }
  for (let grew = true; grew; ) {
    grew = false;
    const still: Card[] = [];
    for (const card of rest) {
      if (anchors.some((anchor) => card.isSignedBy(`link:${anchor.id}`, anchor.key))) {
        result.linked.push(card);
        anchors.push({ id: card.idHex(), key: card.content.publicKey });
        grew = true;
      } else {
        still.push(card);
      }
    }
    rest = still;
  }
  result.unlinked = rest;
  return result;
}

/**
 * Self-monitoring (the rule of `virgil_card::contact::OwnCards`, for one device): the
 * user's active cards (`own`, verified) must each be this device's card (of `key`) or
 * linked from it, directly or through a chain. Returns null when they are, else what
 * the user must hear: a card someone else added (with the password, a session or the
 * application's key), or this device's card gone (revoked or replaced by a reset).
 */
export function ownCardsCheck(own: Card[], key: PublicKey): string | null {
  const mine = own.find((card) => card.content.publicKey.equals(key));
  if (mine === undefined) {
    return own.length === 0
      ? "ALARM: you have no active card: this device's card was revoked"
      : `ALARM: this device's card is no longer active (revoked or replaced); ${own.length} other card(s) of yours are, none made here. ` +
          "Messages sent to you now are not encrypted for this device.";
  }
  const pinned: PinnedCard[] = [{ id: mine.idHex(), publicKey: toBase64(mine.content.publicKey.toBytes()) }];
  const foreign = review({ appId: mine.content.appId, identity: mine.content.identity, cards: pinned, verified: true }, own).unlinked;
  return foreign.length === 0
    ? null
    : `ALARM: ${foreign.length} card(s) of yours that this device did not make or link (${foreign.map((card) => card.idHex().slice(0, 12)).join(", ")}…). ` +
        "Someone with your password may have added them: revoke them from this device and change your password.";
}

/** Where contacts are kept: IndexedDB in a browser, memory in tests and in node. */
export interface ContactStorage {
  get(key: string): Promise<Contact | undefined>;
  put(key: string, contact: Contact): Promise<void>;
}

function storeKey(appId: string, identity: string): string {
  return JSON.stringify([appId, identity]);
}

const STORE = "contacts";


/** The contacts of one application, kept in `storage`. */
export class Contacts {
  constructor(
    readonly appId: string,
    private readonly storage: ContactStorage,
  ) {}

  /** Contacts in memory (lost when the page closes). */
  static inMemory(appId: string): Contacts {
    const map = new Map<string, Contact>();
    return new Contacts(appId, {
      get: async (key) => structuredClone(map.get(key)),
      put: async (key, contact) => void map.set(key, structuredClone(contact)),
    });
  }

  /** Contacts in an IndexedDB database (`virgil-contacts` by default). */
  static async open(appId: string, name = "virgil-contacts", factory: IDBFactory = globalThis.indexedDB): Promise<Contacts> {
    const db = await openStore(factory, name, STORE);
    return new Contacts(appId, {
      get: async (key) => (await request(db.transaction(STORE).objectStore(STORE).get(key))) as Contact | undefined,
      put: async (key, contact) => {
        const tx = db.transaction(STORE, "readwrite");
        tx.objectStore(STORE).put(contact, key);
        await committed(tx);
      },
    });
  }

  /** What is remembered of `identity`, if anything. */
  get(identity: string): Promise<Contact | undefined> {
    return this.storage.get(storeKey(this.appId, identity));
  }

  /** How `cards` (the owner's active cards, verified) compare with what is pinned. */
  async review(identity: string, cards: Card[]): Promise<Review> {
    return review(await this.get(identity), cards);
  }

  /**
   * Pins `cards` for `identity` (what the user has now accepted and used). Accepting an
   * unlinked card ends a "verified" mark: the user has to compare safety numbers again.
   */
  async pin(identity: string, cards: Card[]): Promise<Contact> {
    const contact = (await this.get(identity)) ?? { appId: this.appId, identity, cards: [], verified: false };
    const change = isKeyChange(review(contact, cards));
    for (const card of cards) {
      if (!contact.cards.some((pinned) => pinned.id === card.idHex())) {
        contact.cards.push({ id: card.idHex(), publicKey: toBase64(card.content.publicKey.toBytes()) });
      }
    }
    contact.cards = contact.cards.slice(-MAX_PINNED_CARDS);
    if (change) contact.verified = false;
    await this.storage.put(storeKey(this.appId, identity), contact);
    return contact;
  }

  /** Records that the user compared safety numbers with `identity` (or takes it back). */
  async setVerified(identity: string, verified: boolean): Promise<void> {
    const contact = await this.get(identity);
    if (contact === undefined) return;
    contact.verified = verified;
    await this.storage.put(storeKey(this.appId, identity), contact);
  }
}
