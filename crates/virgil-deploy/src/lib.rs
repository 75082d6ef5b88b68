//! Deployment assembly: the one place that puts the two servers together.
//!
//! - [`LocalDeployment`]: a cards service and an application server started in this
//!   process on 127.0.0.1 (ephemeral ports), each on its own thread and runtime, over
//!   the databases you name, optionally behind TLS from a throwaway local CA. `virgil
//!   demo` and the test kit use it.
//! - [`spawn_cards_service`] and [`spawn_app_server`]: one server of either kind, the
//!   same way (tests that put a proxy between them, or serve several applications).
//! - [`init`]: the keys, certificates and configuration files of a deployment on disk,
//!   which the server binaries (and `virgil serve`) then run; `virgil init` and the
//!   Python SDK's `virgil.local` use it.
//!
//! Each server library exposes the same three steps, and this crate only composes them:
//! a `Config` with defaults, `server::build(&config, key…)` (a `virgil_server::runtime::Server`), and
//! `Server::serve(listener, shutdown)`.
//!
//! ```no_run
//! use virgil_deploy::LocalDeployment;
//! let dir = tempfile::tempdir()?;
//! let local = LocalDeployment::builder(dir.path()).tls(true).start()?;
//! println!("cards service at {}, app server at {}", local.cards_url(), local.app_url());
//! local.stop()?; // or drop it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod init;
mod local;
mod running;

pub use error::DeployError;
pub use init::{InitOptions, InitReport, init};
pub use local::{Builder, LocalDeployment};
pub use running::{RunningServer, spawn_app_server, spawn_cards_service};
/// The application server's parts a deployment can adjust.
pub use virgil_app_server as app_server;
/// The cards service's parts a deployment can adjust.
pub use virgil_cards_service as cards_service;
/// Runs a server's `serve` future on a new multi-threaded runtime.
pub use virgil_server::runtime::block_on;
