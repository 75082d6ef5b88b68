//! The cards service's verifiable key directory (issue 29): Meta's auditable key
//! directory ([`akd`], WhatsApp's configuration) stored in the service's own SQL
//! database, SQLite or PostgreSQL ([`storage::SqlStorage`]), and wrapped as a
//! [`KeyDirectory`] whose answers are proofs in akd's protobuf encoding, and answered
//! while the next epoch is written from a read-only [`Snapshot`] of the last one.
//!
//! What the labels and values are (an identity, the set of its cards and their
//! statuses) is the card model's business (`virgil_card::directory`); this crate stores,
//! publishes and proves whatever bytes it is given.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod directory;
pub mod storage;
pub mod vrf;

pub use directory::{DirectoryError, EpochRoot, KeyDirectory, Lookup, Snapshot};
pub use storage::SqlStorage;
pub use vrf::VrfKey;
