//! Blocking HTTP clients for the cards service ([`CardsClient`]) and the reference
//! application server ([`AppClient`]).
//!
//! Every card the client returns has been verified with the card crate's
//! [`Verifier`](virgil_card::Verifier) (self, application and service signatures against pinned keys) before
//! the caller sees it: a card that fails is an error naming the failed check, never
//! silently dropped. The client never trusts the service blindly: it also checks that a
//! fetched card is the one asked for and that search results are active cards of the
//! identities asked for.
//!
//! Depend on it if you talk to the servers without the `virgil` facade.
//!
//! ```no_run
//! use virgil_client::CardsClient;
//! use virgil_card::Verifier;
//! # let service_key = virgil_crypto::PrivateKey::generate()?.public_key().clone();
//! # let app_key = virgil_crypto::PrivateKey::generate()?.public_key().clone();
//! // service_key and app_key: the pinned public keys shipped with the application.
//! let verifier = Verifier::new().trust_service(service_key).trust_app("chat", app_key);
//! let client = CardsClient::builder("http://127.0.0.1:8080", verifier)
//!     .token_source(|| Ok("<access token from your app server>".to_owned()))
//!     .build();
//! let bob_cards = client.search(&["bob"])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod cards;
pub mod directory;
mod error;
mod http;

pub use app::AppClient;
pub use cards::{
    APPLICATION_TOKEN_SECONDS, CardsClient, ClientBuilder, History, MAX_STATUS_AGE_SECONDS,
    PublishedCard, STATUS_CLOCK_SKEW_SECONDS, TokenSource,
};
pub use error::ClientError;
pub use http::{MAX_RETRY_AFTER, TlsRoots};
