//! The plumbing both servers share, so that neither depends on the other: configuration
//! files ([`config`]), key files on `virgil-keystore`'s record format ([`keys`], and the
//! `keygen` command in [`command`]), the tokio runtime, signals and graceful shutdown
//! ([`runtime`]), request logging, Prometheus metrics and body limits ([`http`],
//! [`metrics`]), and the one error answer of both APIs ([`ApiError`]).
//!
//! Depend on it if you write another server in this family. The servers themselves are
//! `virgil-cards-service` and `virgil-app-server`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod command;
pub mod config;
pub mod database;
mod error;
pub mod health;
pub mod http;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod rate_limit;
pub mod runtime;
pub mod tally;
pub mod tls;
pub mod web;

pub use config::ConfigError;
pub use error::{ApiError, ServeError};
