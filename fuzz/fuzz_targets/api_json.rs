#![no_main]
//! The cards service's JSON request bodies through the same decoders the handlers use:
//! a card (CardJson → Card), a search, a revocation (base64 → 46-byte request,
//! signature). Never a panic.

use libfuzzer_sys::fuzz_target;
use virgil_card::api::{RevokeRequest, SearchRequest};
use virgil_card::{CardJson, RevocationRequest};
use virgil_crypto::encoding::from_base64;
use virgil_crypto::sign::Signature;

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = serde_json::from_slice::<CardJson>(data) {
        let _ = card.into_card();
    }
    if let Ok(search) = serde_json::from_slice::<SearchRequest>(data) {
        for identity in &search.identities {
            let _ = virgil_card::content::validate_identity(identity);
        }
    }
    if let Ok(revoke) = serde_json::from_slice::<RevokeRequest>(data) {
        if let Ok(bytes) = from_base64(&revoke.request) {
            let _ = RevocationRequest::from_bytes(&bytes);
        }
        if let Ok(bytes) = from_base64(&revoke.signature) {
            let _ = Signature::from_slice(&bytes);
        }
    }
});
