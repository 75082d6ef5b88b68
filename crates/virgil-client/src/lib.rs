//! Blocking HTTP client for the cards service and the reference application server.
//!
//! Every card the client returns has been verified (self, application and service
//! signatures against pinned keys) before the caller sees it; the client never trusts the
//! service blindly.
//!
//! Depend on it if you talk to the servers without the `virgil` facade. Status: lands with
//! the "cards service and client" issue; this crate is empty until then.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
