//! The self-hosted cards service ("Virgil Services" that you run yourself).
//!
//! It verifies card requests (self and application signatures), countersigns them with
//! the service key, stores them in SQLite (default) or PostgreSQL, and serves lookups by
//! id and by identity, plus revocation. Applications are tenants: a token of application
//! A sees, publishes and revokes only A's cards. Operators run its binary; tests embed
//! the library ([`server::router`]).
//!
//! Status: storage ([`store`]), authentication ([`auth`]), the HTTP API v1 ([`server`]:
//! publish, get, search, revoke, service key, health), configuration ([`config`]) and the
//! `virgil-cards-service` binary are here, with Prometheus metrics at `/metrics` and the
//! OpenAPI document at `/v1/openapi.json`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod backup;
pub mod command;
pub mod config;
pub mod directory;
pub mod server;
pub mod store;
