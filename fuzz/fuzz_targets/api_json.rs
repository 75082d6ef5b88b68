#![no_main]
//! Both servers' JSON request bodies through the same decoders the handlers use: a card
//! (CardJson → Card), a search, a revocation (base64 → 46-byte request, signature), the
//! app server's credentials, card submissions and messages; and the answers the clients
//! decode (sessions, inboxes, card answers with revocation records, search answers) and
//! the contact file's entries. Never a panic.

use libfuzzer_sys::fuzz_target;
use virgil_api::app::{Credentials, Inbox, SendMessageRequest, SessionResponse, SubmitCardRequest};
use virgil_api::cards::{
    CardResponse, RevocationRecord, RevokeRequest, SearchRequest, SearchResponse,
};
use virgil_card::{Card, CardJson, RevocationRequest};
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
    let _ = serde_json::from_slice::<Credentials>(data);
    if let Ok(submit) = serde_json::from_slice::<SubmitCardRequest>(data) {
        let _ = Card::import(&submit.card);
    }
    if let Ok(message) = serde_json::from_slice::<SendMessageRequest>(data) {
        let _ = from_base64(&message.body);
    }
    let _ = serde_json::from_slice::<SessionResponse>(data);
    if let Ok(inbox) = serde_json::from_slice::<Inbox>(data) {
        for message in &inbox.messages {
            let _ = from_base64(&message.body);
        }
    }
    if let Ok(response) = serde_json::from_slice::<CardResponse>(data) {
        card_answer(response);
    }
    if let Ok(search) = serde_json::from_slice::<SearchResponse>(data) {
        for response in search.cards {
            card_answer(response);
        }
    }
    let _ = serde_json::from_slice::<Vec<virgil_card::Contact>>(data);
});

/// What a client decodes of one card answer: the card and its revocation record.
fn card_answer(response: CardResponse) {
    let _ = response.card.into_card();
    let signed = |request: &str, signature: &str| {
        if let Ok(bytes) = from_base64(request) {
            let _ = RevocationRequest::from_bytes(&bytes);
        }
        if let Ok(bytes) = from_base64(signature) {
            let _ = Signature::from_slice(&bytes);
        }
    };
    match response.revocation {
        Some(RevocationRecord::Application { request, signature }) => signed(&request, &signature),
        Some(RevocationRecord::Owner {
            request,
            signature,
            signer,
        }) => {
            signed(&request, &signature);
            let _ = signer.into_card();
        }
        Some(RevocationRecord::Reset { card }) => {
            let _ = card.into_card();
        }
        None => {}
    }
}
