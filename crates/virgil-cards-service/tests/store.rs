//! One conformance suite for the card store, run on SQLite (a temporary file) and on
//! PostgreSQL (a fresh database on the server at `VIRGIL_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, dropped afterwards).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use virgil_card::lifecycle::{Refusal, RevocationRefusal};
use virgil_card::{Card, CardId, CardRequest, RevocationReason, RevocationRequest, Signer};
use virgil_cards_service::store::{
    CardStatus, CardStore, MAX_ACTIVE_CARDS, Published, RevocationRecord, RevokedBy, StoreError,
    StoredCard,
};
use virgil_testkit::key;

/// A published-looking card: self, app and service signatures.
fn card(
    identity: &str,
    app: &str,
    owner: u8,
    identity_type: &str,
    replaces: Option<&Card>,
) -> Card {
    let mut request = CardRequest::new(identity, app)
        .identity_type(identity_type)
        .created_at(1_000 + u64::from(owner));
    if let Some(previous) = replaces {
        request = request.replaces(*previous.id());
    }
    let mut card = request.sign(&key(owner)).unwrap();
    card.sign_as(Signer::App(app.into()), &key(200)).unwrap();
    card.sign_as(Signer::Service, &key(201)).unwrap();
    card
}

/// A reset card (data `virgil.reset` = "1") for `identity`, key `key(owner)`.
fn reset_card(identity: &str, owner: u8) -> Card {
    let mut card = CardRequest::new(identity, "chat")
        .created_at(2_000 + u64::from(owner))
        .data(virgil_card::lifecycle::RESET_DATA_KEY, "1")
        .sign(&key(owner))
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &key(200)).unwrap();
    card.sign_as(Signer::Service, &key(201)).unwrap();
    card
}

/// `card`, linked from `from` with its owner's key `key(from_owner)`.
fn linked(mut card: Card, from: &Card, from_owner: u8) -> Card {
    card.link_from(from, &key(from_owner)).unwrap();
    card
}

/// A revocation request for `card`.
fn request(card: &Card, reason: RevocationReason) -> RevocationRequest {
    RevocationRequest {
        card_id: *card.id(),
        reason,
        created_at: 1,
    }
}

/// Revokes `card` with the application's key (`key(200)`).
async fn revoke_by_app(
    store: &CardStore,
    app: &str,
    card: &Card,
    reason: RevocationReason,
    at: u64,
) -> Result<StoredCard, StoreError> {
    let request = request(card, reason);
    let by = RevokedBy::Application(vec![key(200).public_key().clone()]);
    store
        .revoke(app, card.id(), &request, &request.sign(&key(200)), &by, at)
        .await
}

/// Revokes `card` with the key `key(signer_owner)` of card `signer`.
async fn revoke_by_owner(
    store: &CardStore,
    card: &Card,
    signer: &Card,
    signer_owner: u8,
    at: u64,
) -> Result<StoredCard, StoreError> {
    let request = request(card, RevocationReason::Compromised);
    let by = RevokedBy::Owner(*signer.id());
    store
        .revoke(
            "chat",
            card.id(),
            &request,
            &request.sign(&key(signer_owner)),
            &by,
            at,
        )
        .await
}

fn refused(result: Result<Published, StoreError>) -> Refusal {
    match result {
        Err(StoreError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Resets: unlinked but allowed; with no delay every other card is revoked at once;
/// with a delay the reset is pending (served by search, not active), one at a time,
/// cancellable by revoking it, not again within the cooldown, and activates once the
/// delay is over.
async fn resets(url: &str) {
    let now = virgil_api::unix_now();
    let store = CardStore::connect(url).await.unwrap();
    let erin = card("erin", "chat", 70, "user", None);
    let erin_phone = linked(card("erin", "chat", 71, "user", None), &erin, 70);
    store.publish(&erin, now).await.unwrap();
    store.publish(&erin_phone, now).await.unwrap();

    // No delay: active at once, the others revoked (reason reset).
    let reset = reset_card("erin", 72);
    let published = store.publish(&reset, now).await.unwrap();
    assert!(matches!(published, Published::Created(ref s) if s.status == CardStatus::Active));
    for old in [&erin, &erin_phone] {
        let stored = store.get("chat", old.id()).await.unwrap().unwrap();
        assert_eq!(
            stored.revocation,
            Some(RevocationRecord::Reset {
                card: reset.to_json()
            })
        );
        assert_eq!(
            stored.status,
            CardStatus::Revoked {
                reason: RevocationReason::Reset,
                at: now
            }
        );
    }
    let found = store.search("chat", &["erin".into()]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].card, reset);

    // With a delay: pending, listed by search, the old card stays active.
    let store = store.with_reset_delay(3_600);
    let second = reset_card("erin", 73);
    let published = store.publish(&second, now).await.unwrap();
    let pending = CardStatus::Pending {
        activates_at: now + 3_600,
    };
    assert!(matches!(published, Published::Created(ref s) if s.status == pending));
    // Publishing the same pending card again is idempotent.
    assert!(matches!(
        store.publish(&second, now).await.unwrap(),
        Published::Existing(_)
    ));
    let found = store.search("chat", &["erin".into()]).await.unwrap();
    let status_of = |card: &Card| {
        found
            .iter()
            .find(|stored| stored.card == *card)
            .map(|stored| stored.status.clone())
    };
    assert_eq!(found.len(), 2);
    assert_eq!(status_of(&reset), Some(CardStatus::Active));
    assert_eq!(status_of(&second), Some(pending.clone()));
    // One pending reset at a time.
    assert_eq!(
        refused(store.publish(&reset_card("erin", 74), now).await),
        Refusal::ResetPending(*second.id())
    );
    // A pending card vouches for nothing: neither a link from it, nor a revocation
    // of another card by its key.
    let from_pending = linked(card("erin", "chat", 75, "user", None), &second, 73);
    assert!(matches!(
        refused(store.publish(&from_pending, now).await),
        Refusal::BadLink { .. }
    ));
    assert!(matches!(
        revoke_by_owner(&store, &reset, &second, 73, now).await,
        Err(StoreError::RevocationRefused(RevocationRefusal::NotOwner(
            _
        )))
    ));
    // Cancelled (revoked by the active card) before its time: nothing changes for the
    // old card, and no new reset may start within the cooldown (the delay).
    revoke_by_owner(&store, &second, &reset, 72, now)
        .await
        .unwrap();
    assert_eq!(store.settle_resets(now + 7_200).await.unwrap(), 0);
    let found = store.search("chat", &["erin".into()]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].card, reset);
    assert_eq!(
        refused(store.publish(&reset_card("erin", 76), now + 60).await),
        Refusal::ResetTooSoon {
            retry_at: now + 3_600
        }
    );

    // Not cancelled: once the delay is over it is active and the others are revoked,
    // as of the activation time.
    let third = reset_card("erin", 76);
    store.publish(&third, now + 3_600).await.unwrap();
    let found = store.search("chat", &["erin".into()]).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(store.settle_resets(now + 7_200).await.unwrap(), 1);
    assert_eq!(
        store.get("chat", reset.id()).await.unwrap().unwrap().status,
        CardStatus::Revoked {
            reason: RevocationReason::Reset,
            at: now + 7_200
        }
    );
    assert_eq!(
        store.get("chat", third.id()).await.unwrap().unwrap().status,
        CardStatus::Active
    );
    assert_eq!(
        store.settle_resets(now + 9_000).await.unwrap(),
        0,
        "idempotent"
    );

    // The first card of an identity may be a reset card: nothing to revoke.
    let fresh = reset_card("frank", 77);
    let published = store.publish(&fresh, now).await.unwrap();
    assert!(matches!(published, Published::Created(ref s) if s.status == CardStatus::Active));
}

async fn conformance(url: &str) {
    let store = CardStore::connect(url).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);

    // Publish, idempotently.
    let alice = card("alice", "chat", 1, "user", None);
    let created = store.publish(&alice, 10).await.unwrap();
    assert!(matches!(&created, Published::Created(stored) if stored.card == alice));
    let again = store.publish(&alice, 11).await.unwrap();
    match again {
        Published::Existing(stored) => {
            assert_eq!(stored.card, alice);
            assert_eq!(stored.published_at, 10, "the first publication is kept");
            assert_eq!(stored.status, CardStatus::Active);
        }
        other => panic!("second publish: {other:?}"),
    }
    assert_eq!(store.count().await.unwrap(), 1);

    // Get, within the application only.
    let got = store.get("chat", alice.id()).await.unwrap().unwrap();
    assert_eq!(got.card, alice);
    assert_eq!(
        got.card.snapshot(),
        alice.snapshot(),
        "snapshot bytes are kept verbatim"
    );
    assert!(
        store.get("mail", alice.id()).await.unwrap().is_none(),
        "apps are tenants"
    );

    // One owner, whatever the identity type: bob's second card, of another type,
    // needs a link from his first like any other.
    let bob = card("bob", "chat", 2, "user", None);
    store.publish(&bob, 20).await.unwrap();
    let bob_email = card("bob", "chat", 3, "email", None);
    assert_eq!(
        refused(store.publish(&bob_email, 20).await),
        Refusal::LinkRequired { active: 1 }
    );
    let bob_email = linked(bob_email, &bob, 2);
    store.publish(&bob_email, 20).await.unwrap();
    let carol_mail = card("carol", "mail", 4, "user", None);
    store.publish(&carol_mail, 20).await.unwrap();

    // Search: several identities, every type, nothing found, other app.
    let ids = |found: Vec<StoredCard>| {
        let mut ids: Vec<_> = found.into_iter().map(|s| *s.card.id()).collect();
        ids.sort();
        ids
    };
    let sorted = |mut ids: Vec<CardId>| {
        ids.sort();
        ids
    };
    let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .search("chat", &names(&["alice", "bob"]))
            .await
            .unwrap()),
        sorted(vec![*alice.id(), *bob.id(), *bob_email.id()])
    );
    assert!(
        store
            .search("chat", &names(&["nobody"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search("chat", &names(&["carol"]))
            .await
            .unwrap()
            .is_empty(),
        "apps are tenants"
    );
    assert!(store.search("chat", &[]).await.unwrap().is_empty());

    // A new card for an identity with an active card must be linked from it: not by
    // whoever holds the app key (or the account password) alone.
    let unlinked = card("alice", "chat", 5, "user", Some(&alice));
    assert_eq!(
        refused(store.publish(&unlinked, 29).await),
        Refusal::LinkRequired { active: 1 }
    );
    let mut forged_link = card("alice", "chat", 5, "user", Some(&alice));
    forged_link
        .sign_as(Signer::Link(*bob.id()), &key(2))
        .unwrap();
    assert!(
        matches!(
            refused(store.publish(&forged_link, 29).await),
            Refusal::BadLink { .. }
        ),
        "a link from another identity's card does not count"
    );
    // The same key again (a card made anew for it): the existing card, no duplicate.
    let mut alice_again = CardRequest::new("alice", "chat")
        .created_at(5_000)
        .sign(&key(1))
        .unwrap();
    alice_again
        .sign_as(Signer::App("chat".into()), &key(200))
        .unwrap();
    alice_again.sign_as(Signer::Service, &key(201)).unwrap();
    assert_ne!(alice_again.id(), alice.id());
    assert!(matches!(
        store.publish(&alice_again, 29).await.unwrap(),
        Published::Existing(stored) if stored.card == alice
    ));

    // Rotation: the new card supersedes the old; search returns the new; get keeps history.
    let alice2 = linked(card("alice", "chat", 5, "user", Some(&alice)), &alice, 1);
    store.publish(&alice2, 30).await.unwrap();
    let old = store.get("chat", alice.id()).await.unwrap().unwrap();
    assert_eq!(old.status, CardStatus::Superseded { by: *alice2.id() });
    assert_eq!(
        ids(store.search("chat", &names(&["alice"])).await.unwrap()),
        [*alice2.id()]
    );
    // Replacing a card that is no longer active, of another identity, or unknown.
    let alice3 = linked(card("alice", "chat", 6, "user", Some(&alice)), &alice2, 5);
    let from_superseded = linked(card("alice", "chat", 6, "user", None), &alice, 1);
    assert!(
        matches!(
            refused(store.publish(&from_superseded, 31).await),
            Refusal::BadLink { from, .. } if from == *alice.id()
        ),
        "a superseded card cannot link"
    );
    assert_eq!(
        refused(store.publish(&alice3, 31).await),
        Refusal::PreviousNotActive(*alice.id())
    );
    let mallory = card("mallory", "chat", 7, "user", Some(&bob));
    assert_eq!(
        refused(store.publish(&mallory, 31).await),
        Refusal::PreviousMismatch(*bob.id())
    );
    let other_app = card("carol", "chat", 8, "user", Some(&carol_mail));
    assert_eq!(
        refused(store.publish(&other_app, 31).await),
        Refusal::PreviousNotFound(*carol_mail.id())
    );
    assert!(
        store.get("chat", alice3.id()).await.unwrap().is_none(),
        "a failed publish stores nothing"
    );

    // Revocation: by the application, by the card itself or another active card of
    // its owner; never by another owner's card, never twice.
    assert!(matches!(
        revoke_by_owner(&store, &bob, &alice2, 5, 39).await,
        Err(StoreError::RevocationRefused(RevocationRefusal::NotOwner(
            _
        )))
    ));
    assert!(matches!(
        revoke_by_owner(&store, &bob, &bob_email, 9, 39).await,
        Err(StoreError::RevocationRefused(
            RevocationRefusal::BadSignature(_)
        ))
    ));
    let revoked = revoke_by_owner(&store, &bob, &bob_email, 3, 40)
        .await
        .unwrap();
    assert_eq!(
        revoked.status,
        CardStatus::Revoked {
            reason: RevocationReason::Compromised,
            at: 40
        }
    );
    assert!(matches!(
        revoked.revocation,
        Some(RevocationRecord::Owner { ref signer, .. }) if signer.id == *bob_email.id()
    ));
    assert_eq!(
        ids(store.search("chat", &names(&["bob"])).await.unwrap()),
        [*bob_email.id()]
    );
    assert!(matches!(
        revoke_by_app(&store, "chat", &bob, RevocationReason::Unspecified, 41).await,
        Err(StoreError::RevocationRefused(
            RevocationRefusal::AlreadyRevoked(_)
        ))
    ));
    assert!(matches!(
        revoke_by_app(&store, "mail", &alice2, RevocationReason::Unspecified, 41).await,
        Err(StoreError::NotFound(_))
    ));
    // A revoked card vouches for nothing: no replacement of it, and no card linked
    // from it, not even as the owner's "first" card once nothing is active.
    let bob2 = linked(card("bob", "chat", 9, "user", Some(&bob)), &bob_email, 3);
    assert_eq!(
        refused(store.publish(&bob2, 42).await),
        Refusal::PreviousNotActive(*bob.id())
    );
    revoke_by_app(
        &store,
        "chat",
        &bob_email,
        RevocationReason::Unspecified,
        43,
    )
    .await
    .unwrap();
    let from_revoked = linked(card("bob", "chat", 10, "user", None), &bob, 2);
    assert!(matches!(
        refused(store.publish(&from_revoked, 44).await),
        Refusal::BadLink { from, .. } if from == *bob.id()
    ));

    // At most MAX_ACTIVE_CARDS devices per identity; a replacement is still allowed.
    let first = card("dave", "chat", 30, "user", None);
    store.publish(&first, 50).await.unwrap();
    for owner in 31..30 + MAX_ACTIVE_CARDS as u8 {
        let device = linked(card("dave", "chat", owner, "user", None), &first, 30);
        store.publish(&device, 50).await.unwrap();
    }
    let one_too_many = linked(card("dave", "chat", 60, "user", None), &first, 30);
    assert_eq!(
        refused(store.publish(&one_too_many, 51).await),
        Refusal::TooManyCards
    );
    let replacement = linked(card("dave", "chat", 61, "user", Some(&first)), &first, 30);
    store.publish(&replacement, 52).await.unwrap();

    resets(url).await;

    // Restart: a new connection to the same database sees everything.
    let count = store.count().await.unwrap();
    store.close().await;
    let reopened = CardStore::connect(url).await.unwrap();
    assert_eq!(reopened.count().await.unwrap(), count);
    assert_eq!(
        reopened
            .get("chat", alice2.id())
            .await
            .unwrap()
            .unwrap()
            .card,
        alice2
    );
    reopened.close().await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    conformance(&url).await;
}

#[tokio::test]
async fn postgres_store_conforms() {
    let database = virgil_testkit::postgres_or_skip!(postgres_store_conforms);
    conformance(database.url()).await;
}

/// A database made by schema version 1 (before resets and revocation records) is
/// migrated on start: its cards stay, and the new columns work.
#[tokio::test]
async fn a_version_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cards.db").display()
    );
    let alice = card("alice", "chat", 1, "user", None);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE virgil_schema (version BIGINT NOT NULL)",
        "INSERT INTO virgil_schema (version) VALUES (1)",
        "CREATE TABLE cards (
            id TEXT PRIMARY KEY, app_id TEXT NOT NULL, identity TEXT NOT NULL,
            identity_type TEXT NOT NULL, snapshot BLOB NOT NULL, signatures TEXT NOT NULL,
            created_at BIGINT NOT NULL, published_at BIGINT NOT NULL,
            previous_card_id TEXT NULL, superseded_by TEXT NULL, revoked_at BIGINT NULL,
            revocation_reason TEXT NULL)",
        "CREATE INDEX cards_by_identity ON cards (app_id, identity, identity_type)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO cards (id, app_id, identity, identity_type, snapshot, signatures, created_at, published_at)
         VALUES ($1, 'chat', 'alice', 'user', $2, $3, 1001, 10)",
    )
    .bind(alice.id().to_string())
    .bind(alice.snapshot().to_vec())
    .bind(serde_json::to_string(&alice.to_json().signatures).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = CardStore::connect(&url).await.unwrap();
    let found = store.search("chat", &["alice".into()]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].card, alice);
    assert_eq!(found[0].status, CardStatus::Active);
    let revoked = revoke_by_app(&store, "chat", &alice, RevocationReason::Unspecified, 20)
        .await
        .unwrap();
    assert!(matches!(
        revoked.revocation,
        Some(RevocationRecord::Application { .. })
    ));
    store.close().await;
    // Migrated once: the next start finds version 2 and changes nothing.
    let again = CardStore::connect(&url).await.unwrap();
    assert_eq!(again.count().await.unwrap(), 1);
    again.close().await;
}
