//! The reference application server of the tutorial ("your server").
//!
//! It registers and logs in users, holds the application key, approves and publishes their
//! cards through the cards service, issues short-lived access tokens (JWT, EdDSA) and
//! relays encrypted messages, storing only ciphertext.
//!
//! Status: lands with the "application server, facade, CLI and demo" issue; this crate is
//! empty until then.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
