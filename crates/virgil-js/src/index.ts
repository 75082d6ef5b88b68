/**
 * virgil-rs for the browser and node: the client side of docs/format.md in TypeScript,
 * over @noble's audited primitives and WebCrypto. `Virgil` is the facade (the
 * tutorial's names); below it: keys (both suites), signatures, password-locked key
 * blobs, envelopes (one-shot and streaming), armor, cards, statuses, safety numbers,
 * the contact store and the servers' `Client`. Each is held to docs/vectors/.
 */
export { VirgilError, type VirgilErrorKind } from "./errors.js";
export { concat, fromBase64, fromHex, toBase64, toHex } from "./encoding.js";
export { PrivateKey, PublicKey, PUBLIC_KEY_LEN, SEED_LEN, signedBytes, type Suite } from "./keys.js";
export * as keyblob from "./keyblob.js";
export * as envelope from "./envelope.js";
export * as armor from "./armor.js";
export { decryptingStream, encryptingStream } from "./stream.js";
export { Card, Verifier, decodeSnapshot, encodeSnapshot, RESET_DATA_KEY, type CardContent } from "./card.js";
export * as status from "./status.js";
export { VERIFICATION_CODE_PREFIX, grouped, half, parseVerificationCode, safetyNumber, verificationCode, type SafetySide } from "./safety.js";
export { Client, ServiceError, type ClientOptions, type PublishedCard, type RelayedMessage, type Session } from "./client.js";
export { BrowserKeyStore } from "./keystore.js";
export { Contacts, MAX_PINNED_CARDS, isKeyChange, ownCardsCheck, review, type Contact, type ContactStorage, type PinnedCard, type Review } from "./contacts.js";
export { KeyChangeWarning, MemoryKeyStorage, SelfCheckAlarm, Virgil, VirgilBuffer, VirgilKey, armored, type KeyStorage, type VirgilConfig, type VirgilOptions } from "./virgil.js";
export * as directory from "./directory.js";
export { type CheckpointStorage, type ProvenVersion, browserCheckpoints, compareCheckpoints, historyAlarm, memoryCheckpoints } from "./directory.js";
export * as akd from "./akd.js";
