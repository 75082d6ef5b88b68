//! The reference application server of the tutorial ("your server").
//!
//! It registers and logs in users, holds the application key, approves and publishes their
//! cards through the cards service, issues short-lived access tokens (JWT, EdDSA) and
//! relays encrypted messages, storing only ciphertext. SQLite or PostgreSQL, like the
//! cards service.
//!
//! Operators run its binary (`virgil-app-server serve`, or `virgil serve app`), configured
//! as in [`config`]; tests embed the library ([`server::router`]). Prometheus metrics are
//! at `/metrics`, the OpenAPI document at `/v1/openapi.json`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod accounts;
mod backup;
pub mod command;
pub mod config;
mod handlers;
mod pairing;
pub mod server;
mod state;
pub mod store;
