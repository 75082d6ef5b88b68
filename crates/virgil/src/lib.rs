//! End-to-end encryption for applications, in the style of Virgil Security's SDK.
//!
//! This facade re-exports the layers (`virgil-crypto`, `virgil-card`, `virgil-keystore`,
//! `virgil-client`) behind features and offers the high-level API of the tutorial: keys,
//! identities, cards, `sign_then_encrypt` and `decrypt_then_verify`.
//!
//! Application developers depend on this crate; embedded users depend on `virgil-crypto`
//! alone. Status: the high-level API lands with the "application server, facade, CLI and
//! demo" issue; this crate is empty until then.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
