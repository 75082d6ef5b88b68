/** IndexedDB, as the key store and the contact store use it. */

/** The result of an IndexedDB request, as a promise. */
export function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

/** Opens (or creates) database `name` with one object store, `store`. */
export async function openStore(factory: IDBFactory, name: string, store: string): Promise<IDBDatabase> {
  const open = factory.open(name, 1);
  open.onupgradeneeded = () => {
    if (!open.result.objectStoreNames.contains(store)) open.result.createObjectStore(store);
  };
  return request(open);
}

/** Resolves when `tx` commits. */
export function committed(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB write failed"));
  });
}
