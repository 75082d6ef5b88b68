//! What the unit tests share: cards of fresh keys.
#![allow(clippy::expect_used)]

use crate::{Card, CardRequest};
use virgil_crypto::PrivateKey;

/// A self-signed card of `identity` in application "chat" for `key`.
pub(crate) fn card(identity: &str, key: &PrivateKey) -> Card {
    CardRequest::new(identity, "chat")
        .sign(key)
        .expect("valid card")
}

/// `N` fresh keys.
pub(crate) fn keys<const N: usize>() -> [PrivateKey; N] {
    std::array::from_fn(|_| PrivateKey::generate().expect("key"))
}
