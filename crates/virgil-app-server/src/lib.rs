//! The reference application server of the tutorial ("your server").
//!
//! It registers and logs in users, holds the application key, approves and publishes their
//! cards through the cards service, issues short-lived access tokens (JWT, EdDSA) and
//! relays encrypted messages, storing only ciphertext. SQLite or PostgreSQL, like the
//! cards service.
//!
//! Status: the store and the HTTP API ([`server`]) are here and tested end to end with the
//! cards service; the binary, OpenAPI and metrics land with the CLI.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod server;
pub mod store;
