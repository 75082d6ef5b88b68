//! Cards: the binding of an identity to a public key.
//!
//! A card's content (identity, identity type, public key, application id, data, info,
//! created-at, previous card id) is encoded once into a *snapshot* that is stored and sent
//! verbatim; the card id is the SHA-256 of that snapshot. The owner, the application and
//! the cards service each sign it. This crate holds that model, the verification policy
//! every client applies before using a card, export/import, and the JSON shapes of the
//! cards service's HTTP API, so that servers and clients share one definition.
//!
//! Depend on it if you handle cards without talking to a server (e.g. an application
//! backend that approves card requests). It depends on `virgil-crypto` only.
//!
//! Status: the model lands with the "cards and key storage" issue; this crate is empty
//! until then.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
