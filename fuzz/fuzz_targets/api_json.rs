#![no_main]
//! Both servers' JSON request bodies through the same decoders the handlers use: a card
//! (CardJson → Card), a search, a revocation (base64 → 46-byte request, signature), the
//! app server's credentials, card submissions and messages; and the answers the clients
//! decode (sessions, inboxes, card answers with revocation records, search answers) and
//! the contact file's entries; the key directory's requests and answers (history,
//! audit, checkpoints: their base64 parts decoded as a client does); key backup's
//! bodies (a blinded password, an evaluation, a stored backup). Never a panic.

use libfuzzer_sys::fuzz_target;
use virgil_api::app::{
    Credentials, DeleteBackupRequest, Inbox, KeyBackup, SendMessageRequest, SessionResponse,
    StoreBackupRequest, SubmitCardRequest,
};
use virgil_api::cards::{
    AuditRequest, AuditResponse, CardResponse, CheckpointResponse, HistoryRequest, HistoryResponse,
    RevocationRecord, RevokeRequest, SearchRequest, SearchResponse,
};
use virgil_card::checkpoint::SignedCheckpoint;
use virgil_card::{Card, CardJson, RevocationRequest};
use virgil_crypto::encoding::from_base64;
use virgil_crypto::sign::Signature;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<virgil_api::cards::EvaluateRequest>(data) {
        if let Ok(bytes) = from_base64(&request.blinded) {
            let _ = virgil_crypto::oprf::BlindedPassword::from_bytes(&bytes);
        }
    }
    if let Ok(answer) = serde_json::from_slice::<virgil_api::cards::EvaluateResponse>(data) {
        if let Ok(bytes) = from_base64(&answer.evaluation) {
            let _ = virgil_crypto::oprf::Evaluation::from_bytes(&bytes);
        }
    }
    if let Ok(answer) = serde_json::from_slice::<virgil_api::cards::OprfKeyResponse>(data) {
        if let Ok(bytes) = from_base64(&answer.public_key) {
            let _ = virgil_crypto::oprf::OprfPublicKey::from_bytes(&bytes);
        }
    }
    for blob in [
        serde_json::from_slice::<StoreBackupRequest>(data).map(|request| request.blob),
        serde_json::from_slice::<KeyBackup>(data).map(|backup| backup.blob),
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(bytes) = from_base64(&blob) {
            let _ = virgil_crypto::keyblob::is_hardened(&bytes);
        }
    }
    let _ = serde_json::from_slice::<DeleteBackupRequest>(data);
    // Device pairing's mailbox bodies (both ways), their messages decoded as the
    // devices would.
    let mut messages = Vec::new();
    if let Ok(open) = serde_json::from_slice::<virgil_api::app::OpenPairingRequest>(data) {
        messages.push(open.message);
    }
    if let Ok(add) = serde_json::from_slice::<virgil_api::app::PairingMessageRequest>(data) {
        messages.push(add.message);
    }
    if let Ok(pairing) = serde_json::from_slice::<virgil_api::app::Pairing>(data) {
        messages.extend(pairing.messages);
    }
    for message in messages {
        if let (Ok(bytes), Ok(secret)) = (
            from_base64(&message),
            virgil_crypto::pairing::PairingSecret::parse("12345678"),
        ) {
            let _ = virgil_crypto::pairing::ExistingDevice::respond(&secret, b"fuzz", &bytes);
        }
    }
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
    let _ = serde_json::from_slice::<AuditRequest>(data);
    if let Ok(history) = serde_json::from_slice::<HistoryRequest>(data) {
        let _ = virgil_card::content::validate_identity(&history.identity);
    }
    if let Ok(answer) = serde_json::from_slice::<CheckpointResponse>(data) {
        let _ = SignedCheckpoint::from_base64(&answer.checkpoint);
    }
    if let Ok(answer) = serde_json::from_slice::<HistoryResponse>(data) {
        let _ = SignedCheckpoint::from_base64(&answer.checkpoint);
        let _ = from_base64(&answer.proof);
    }
    if let Ok(answer) = serde_json::from_slice::<AuditResponse>(data) {
        for checkpoint in &answer.checkpoints {
            let _ = SignedCheckpoint::from_base64(checkpoint);
        }
        let _ = from_base64(&answer.proof);
    }
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
        let _ = virgil_card::SearchStatement::new(
            &search.app_id,
            ["alice", "bob"],
            search.as_of,
            search
                .cards
                .iter()
                .map(|card| (&card.card.id, &card.status, card.status_as_of)),
        );
        for response in search.cards {
            card_answer(response);
        }
    }
    let _ = serde_json::from_slice::<Vec<virgil_card::Contact>>(data);
    let _ = serde_json::from_slice::<Vec<virgil_card::OwnCards>>(data);
});

/// What a client decodes and checks of one card answer: the card, and its status and
/// revocation record through the card crate's checks (against fixed keys: the point is
/// that nothing panics, whatever the answer holds).
fn card_answer(response: CardResponse) {
    let Ok(card) = response.card.into_card() else {
        return;
    };
    let verifier = virgil_card::Verifier::new();
    let _ = virgil_card::status::check_status(
        &verifier,
        &card,
        &response.status,
        response.status_as_of,
        None,
        response.revocation.as_ref(),
        0,
    );
    match &response.revocation {
        Some(RevocationRecord::Application { request, signature })
        | Some(RevocationRecord::Owner {
            request, signature, ..
        }) => {
            let _ = virgil_card::status::decode_signed_request(request, signature);
        }
        _ => {}
    }
}
