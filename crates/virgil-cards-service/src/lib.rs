//! The self-hosted cards service ("Virgil Services" that you run yourself).
//!
//! It verifies card requests (self and application signatures), countersigns them with
//! the service key, stores them in SQLite (default) or PostgreSQL, and serves lookups by
//! id and by identity, plus revocation. Operators run its binary; tests embed the library.
//!
//! Status: the storage layer ([`store`]) is here, with one conformance suite run on both
//! backends; the HTTP API, authentication and the binary land next.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod store;
