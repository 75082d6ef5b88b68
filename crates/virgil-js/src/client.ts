/**
 * Clients for both servers over `fetch` (docs/api.md): the application server (account,
 * card approval, relay) and the cards service (search). Every card returned is verified
 * against the pinned application and service keys, and a search answer only counts if
 * the service signed it as a whole (§12).
 *
 * Not yet: the key directory's lookup proofs (§15) that the Rust and Python clients
 * check on every search. This client trusts the service's signed answer; it does not yet
 * detect a directory that shows different cards to different people.
 */
import { type CheckpointStorage, type ProvenVersion, checkAnswer, memoryCheckpoints, provenHistory } from "./directory.js";
import { Card, Verifier } from "./card.js";
import { fromBase64, toBase64, toHex } from "./encoding.js";
import { VirgilError } from "./errors.js";
import type { PublicKey } from "./keys.js";
import { type CardStatus, statusFromJson, statusStatement, verifySearch } from "./status.js";

/** A server's refusal: `code` is the API's stable error code (docs/api.md). */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${message} (${code})`);
    this.name = "ServiceError";
  }
}

/** A logged-in session. */
export interface Session {
  username: string;
  sessionToken: string;
  accessToken: string;
  accessTokenExpiresAt: number;
}

/** A verified card and its signed status. */
export interface PublishedCard {
  card: Card;
  status: CardStatus;
  publishedAt: number;
}

/** A relayed message, still encrypted. */
export interface RelayedMessage {
  id: number;
  from: string;
  body: Uint8Array;
  sentAt: number;
}

type Json = Record<string, unknown>;

async function call(
  url: string,
  method: "GET" | "POST",
  token: string | null,
  body: Json | null,
  fetcher: typeof fetch,
): Promise<Json> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token !== null) headers["authorization"] = `Bearer ${token}`;
  if (body !== null) headers["content-type"] = "application/json";
  const response = await fetcher(url, { method, headers, ...(body === null ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  let json: Json = {};
  if (text.length > 0) {
    try {
      json = JSON.parse(text) as Json;
    } catch {
      throw new ServiceError(response.status, "invalid_json", `the server answered ${response.status} with something that is not JSON`);
    }
  }
  if (!response.ok) {
    throw new ServiceError(response.status, String(json["code"] ?? "http_error"), String(json["message"] ?? response.statusText));
  }
  return json;
}

/** Pinned keys and where the servers are. */
export interface ClientOptions {
  appId: string;
  appKey: PublicKey;
  serviceKey: PublicKey;
  cardsService: string;
  appServer: string;
  /** Another `fetch` (tests, proxies); the platform's by default. */
  fetch?: typeof fetch;
  /** Seconds since the Unix epoch; the clock by default. */
  now?: () => bigint;
  /** Where the newest key directory checkpoint accepted is kept [default: memory]. */
  checkpoints?: CheckpointStorage;
}

type CardJson = { id: string; content_snapshot: string; signatures: { signer: string; signature: string }[] };

/** Both servers' clients, with the cards they return verified. */
export class Client {
  readonly #options: ClientOptions;
  readonly #verifier: Verifier;
  readonly #fetch: typeof fetch;
  readonly #checkpoints: CheckpointStorage;
  /** The directory epoch the last search was proven at. */
  lastEpoch: bigint | null = null;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#checkpoints = options.checkpoints ?? memoryCheckpoints();
    this.#verifier = new Verifier(new Map([[options.appId, [options.appKey]]]), [options.serviceKey]);
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  #now(): bigint {
    return this.#options.now?.() ?? BigInt(Math.floor(Date.now() / 1000));
  }

  #app(path: string): string {
    return `${this.#options.appServer.replace(/\/$/, "")}${path}`;
  }

  /** Creates an account. */
  async register(username: string, password: string): Promise<void> {
    await call(this.#app("/v1/users"), "POST", null, { username, password }, this.#fetch);
  }

  /** Logs in: a session, and an access token for the cards service. */
  async login(username: string, password: string): Promise<Session> {
    const answer = await call(this.#app("/v1/sessions"), "POST", null, { username, password }, this.#fetch);
    return {
      username,
      sessionToken: String(answer["session_token"]),
      accessToken: String(answer["access_token"]),
      accessTokenExpiresAt: Number(answer["access_token_expires_at"]),
    };
  }

  /** A fresh access token when the session's is about to expire. */
  async #accessToken(session: Session): Promise<string> {
    if (BigInt(session.accessTokenExpiresAt) > this.#now() + 5n) return session.accessToken;
    const answer = await call(this.#app("/v1/access-tokens"), "POST", session.sessionToken, null, this.#fetch);
    session.accessToken = String(answer["access_token"]);
    session.accessTokenExpiresAt = Number(answer["access_token_expires_at"]);
    return session.accessToken;
  }

  #published(json: Json): PublishedCard {
    const card = Card.fromJson(json["card"] as CardJson);
    this.#verifier.verify(card);
    return {
      card,
      status: statusFromJson(json["status"] as { state: string }),
      publishedAt: Number(json["published_at"]),
    };
  }

  /**
   * Submits the logged-in user's card request; the application server approves and
   * publishes it. A reset card (data `virgil.reset`) needs the account `password` again:
   * a session token alone cannot replace every card of a user.
   */
  async publishCard(session: Session, request: Card, options: { password?: string } = {}): Promise<PublishedCard> {
    const body: Json = { card: request.export() };
    if (options.password !== undefined) body["password"] = options.password;
    const answer = await call(this.#app("/v1/cards"), "POST", session.sessionToken, body, this.#fetch);
    const published = this.#published(answer);
    if (!published.card.content.publicKey.equals(request.content.publicKey)) {
      throw new VirgilError("bad_signature", "the server published a card for another key");
    }
    return published;
  }

  /**
   * The active (and pending) cards of `identities`, each verified, the answer signed as a
   * whole by the pinned service key and fresh (§12); anything else is refused whole.
   */
  async search(session: Session, identities: string[]): Promise<PublishedCard[]> {
    const url = `${this.#options.cardsService.replace(/\/$/, "")}/v1/cards/actions/search`;
    const answer = await call(url, "POST", await this.#accessToken(session), { identities }, this.#fetch);
    const cards = (answer["cards"] as Json[]).map((json) => ({ json, published: this.#published(json) }));
    const asOf = BigInt(answer["as_of"] as number);
    const statements = cards.map(({ json, published }) =>
      statusStatement(published.card.id, published.status, BigInt(json["status_as_of"] as number)),
    );
    const signature = fromBase64(String(answer["statuses_signature"] ?? ""));
    if (
      answer["app_id"] !== this.#options.appId ||
      !verifySearch([this.#options.serviceKey], this.#options.appId, identities, asOf, statements, signature, this.#now())
    ) {
      throw new VirgilError("bad_signature", "the search answer is not signed as a whole by the pinned service key, or is stale");
    }
    for (const { published } of cards) {
      if (!identities.includes(published.card.content.identity)) {
        throw new VirgilError("bad_signature", "the answer holds a card of an identity not asked for");
      }
      if (published.status.state !== "active" && published.status.state !== "pending") {
        throw new VirgilError("bad_signature", "the answer holds a card that is neither active nor pending");
      }
    }
    // The key directory (§14–§15): the answer's cards are exactly each identity's
    // proven entry, against a checkpoint the service key signed and consistent with
    // every checkpoint this client saw before.
    this.lastEpoch = await checkAnswer(
      this.#checkpoints,
      [this.#options.serviceKey],
      this.#options.appId,
      identities,
      cards.map(({ published }) => ({ identity: published.card.content.identity, id: published.card.id, status: published.status })),
      answer["directory"] as { checkpoint: string; proofs: { identity: string; proof: string }[] } | undefined,
      true,
    );
    return cards.map(({ published }) => published);
  }

  /**
   * Every version of `identity`'s entry in the key directory, oldest first, proven by a
   * complete history proof against a checkpoint the service key signed (and moving this
   * client's view only forward); null for an identity the directory never listed.
   */
  async history(session: Session, identity: string): Promise<{ epoch: bigint; versions: ProvenVersion[] } | null> {
    const url = `${this.#options.cardsService.replace(/\/$/, "")}/v1/directory/actions/history`;
    let answer: Json;
    try {
      answer = await call(url, "POST", await this.#accessToken(session), { identity }, this.#fetch);
    } catch (error) {
      if (error instanceof ServiceError && error.code === "not_in_directory") return null;
      throw error;
    }
    return provenHistory(this.#checkpoints, [this.#options.serviceKey], this.#options.appId, identity, {
      checkpoint: String(answer["checkpoint"]),
      proof: String(answer["proof"]),
    });
  }

  /** The newest key directory checkpoint this client accepted (signed bytes), if any. */
  newestCheckpoint(): Promise<Uint8Array | null> {
    return this.#checkpoints.read();
  }

  /** The active cards of `identity` (pending resets left out). */
  async findCards(session: Session, identity: string): Promise<Card[]> {
    return (await this.search(session, [identity]))
      .filter((found) => found.status.state === "active")
      .map((found) => found.card);
  }

  /** Relays a ciphertext to `to`; returns its place in their inbox. */
  async send(session: Session, to: string, ciphertext: Uint8Array): Promise<number> {
    const messageId = toHex(globalThis.crypto.getRandomValues(new Uint8Array(16)));
    const answer = await call(
      this.#app("/v1/messages"),
      "POST",
      session.sessionToken,
      { to, body: toBase64(ciphertext), message_id: messageId },
      this.#fetch,
    );
    return Number(answer["id"]);
  }

  /** The logged-in user's messages after `after`, and the cursor for the next call. */
  async inbox(session: Session, after = 0): Promise<{ messages: RelayedMessage[]; nextCursor: number }> {
    const answer = await call(this.#app(`/v1/messages?after=${after}`), "GET", session.sessionToken, null, this.#fetch);
    return {
      messages: (answer["messages"] as Json[]).map((m) => ({
        id: Number(m["id"]),
        from: String(m["from"]),
        body: fromBase64(String(m["body"])),
        sentAt: Number(m["sent_at"]),
      })),
      nextCursor: Number(answer["next_cursor"]),
    };
  }
}
