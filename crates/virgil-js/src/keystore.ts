/**
 * Keys at rest in the browser: IndexedDB, each key a §5 blob locked with the user's
 * password (never the seed in the clear, never localStorage). One object store, keys by
 * name; saving never overwrites.
 */
import { VirgilError } from "./errors.js";
import { committed, openStore, request } from "./idb.js";
import { DEFAULT_ITERATIONS, lock, unlock } from "./keyblob.js";
import type { PrivateKey } from "./keys.js";

const STORE = "keys";


/** Password-locked keys in an IndexedDB database (`virgil-keys` by default). */
export class BrowserKeyStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Opens (or creates) the database. */
  static async open(name = "virgil-keys", factory: IDBFactory = globalThis.indexedDB): Promise<BrowserKeyStore> {
    return new BrowserKeyStore(await openStore(factory, name, STORE));
  }

  /** Locks `key` with `password` and saves it as `name`; an existing name is refused (`misuse`). */
  async save(name: string, key: PrivateKey, password: string, iterations = DEFAULT_ITERATIONS): Promise<void> {
    if (password.length === 0) throw new VirgilError("misuse", "a key in the browser is always locked with a password");
    const blob = await lock(key, password, iterations);
    const tx = this.db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    if ((await request(store.count(name))) > 0) {
      tx.abort();
      throw new VirgilError("misuse", `a key named ${JSON.stringify(name)} exists; it was not replaced`);
    }
    store.add(blob, name);
    await committed(tx);
  }

  /** Loads and unlocks `name` (`wrong_password`, or `misuse` if there is no such key). */
  async load(name: string, password: string): Promise<PrivateKey> {
    const blob = await request(this.db.transaction(STORE).objectStore(STORE).get(name));
    if (!(blob instanceof Uint8Array)) throw new VirgilError("misuse", `no key named ${JSON.stringify(name)}`);
    return unlock(blob, password);
  }

  /** The names of the saved keys. */
  async names(): Promise<string[]> {
    return (await request(this.db.transaction(STORE).objectStore(STORE).getAllKeys())).map(String);
  }

  /** Deletes `name`. */
  async delete(name: string): Promise<void> {
    await request(this.db.transaction(STORE, "readwrite").objectStore(STORE).delete(name));
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }
}
