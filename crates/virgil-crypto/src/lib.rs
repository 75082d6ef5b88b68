//! The cryptographic core of the Virgil-style SDK.
//!
//! Keys, signatures, the multi-recipient signed envelope and password-locked key blobs,
//! built from vetted primitives (ring, RustCrypto) with protocol glue only. The byte
//! layout of every format is specified in `docs/format.md`.
//!
//! Embedded users depend on this crate alone: it is `#![no_std]` + `alloc`; the default
//! `std` feature adds `std::error::Error` impls and `io::Read`/`io::Write` streaming.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod encoding;
