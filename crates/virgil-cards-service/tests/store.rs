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

use virgil_card::{Card, CardRequest, RevocationReason, Signer};
use virgil_cards_service::store::{
    CardStatus, CardStore, MAX_ACTIVE_CARDS, Published, RevocationRecord, StoreError,
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
        .data(virgil_card::contact::RESET_DATA_KEY, "1")
        .sign(&key(owner))
        .unwrap();
    card.sign_as(Signer::App("chat".into()), &key(200)).unwrap();
    card.sign_as(Signer::Service, &key(201)).unwrap();
    card
}

/// Resets: unlinked but allowed; with no delay every other card is revoked at once;
/// with a delay the reset is pending (served by search, not active), one at a time,
/// cancellable by revoking it, and activates once the delay is over.
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
    let found = store.search("chat", &["erin".into()], None).await.unwrap();
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
    let found = store.search("chat", &["erin".into()], None).await.unwrap();
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
    assert!(matches!(
        store.publish(&reset_card("erin", 74), now).await,
        Err(StoreError::ResetPending(id)) if id == *second.id()
    ));
    // A pending card cannot link: a card linked only from it needs a link.
    let from_pending = linked(card("erin", "chat", 75, "user", None), &second, 73);
    assert!(matches!(
        store.publish(&from_pending, now).await,
        Err(StoreError::LinkRequired { .. })
    ));
    // Cancelled (revoked) before its time: nothing changes for the old card.
    store
        .revoke(
            "chat",
            second.id(),
            RevocationReason::Unspecified,
            now,
            &record(),
        )
        .await
        .unwrap();
    assert_eq!(store.settle_resets(now + 7_200).await.unwrap(), 0);
    let found = store.search("chat", &["erin".into()], None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].card, reset);

    // Not cancelled: once the delay is over it is active and the others are revoked,
    // as of the activation time.
    let third = reset_card("erin", 76);
    store.publish(&third, now - 7_200).await.unwrap();
    let found = store.search("chat", &["erin".into()], None).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].card, third);
    assert_eq!(found[0].status, CardStatus::Active);
    assert_eq!(
        store.get("chat", reset.id()).await.unwrap().unwrap().status,
        CardStatus::Revoked {
            reason: RevocationReason::Reset,
            at: now - 3_600
        }
    );
    assert_eq!(
        store.settle_resets(now + 7_200).await.unwrap(),
        0,
        "idempotent"
    );

    // The first card of an identity may be a reset card: nothing to revoke.
    let fresh = reset_card("frank", 77);
    let published = store.publish(&fresh, now).await.unwrap();
    assert!(matches!(published, Published::Created(ref s) if s.status == CardStatus::Active));
}

/// A revocation record as the service stores it (the store does not check it).
fn record() -> RevocationRecord {
    RevocationRecord::Application {
        request: "request".to_owned(),
        signature: "signature".to_owned(),
    }
}

/// `card`, linked from `from` with its owner's key `key(from_owner)`.
fn linked(mut card: Card, from: &Card, from_owner: u8) -> Card {
    card.link_from(from, &key(from_owner)).unwrap();
    card
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

    // Search: several identities, type filter, nothing found, other app.
    let bob = card("bob", "chat", 2, "user", None);
    let bob_email = card("bob", "chat", 3, "email", None);
    let carol_mail = card("carol", "mail", 4, "user", None);
    for c in [&bob, &bob_email, &carol_mail] {
        store.publish(c, 20).await.unwrap();
    }
    let ids = |found: Vec<virgil_cards_service::store::StoredCard>| {
        found.into_iter().map(|s| *s.card.id()).collect::<Vec<_>>()
    };
    let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .search("chat", &names(&["alice", "bob"]), Some("user"))
            .await
            .unwrap()),
        [*alice.id(), *bob.id()]
    );
    let mut any_type = ids(store.search("chat", &names(&["bob"]), None).await.unwrap());
    any_type.sort();
    let mut expected = vec![*bob.id(), *bob_email.id()];
    expected.sort();
    assert_eq!(any_type, expected);
    assert!(
        store
            .search("chat", &names(&["nobody"]), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search("chat", &names(&["carol"]), None)
            .await
            .unwrap()
            .is_empty(),
        "apps are tenants"
    );
    assert!(store.search("chat", &[], None).await.unwrap().is_empty());

    // A new card for an identity with an active card must be linked from it: not by
    // whoever holds the app key (or the account password) alone.
    let unlinked = card("alice", "chat", 5, "user", Some(&alice));
    assert!(matches!(
        store.publish(&unlinked, 29).await,
        Err(StoreError::LinkRequired { active: 1, .. })
    ));
    let mut forged_link = card("alice", "chat", 5, "user", Some(&alice));
    forged_link
        .sign_as(Signer::Link(*bob.id()), &key(2))
        .unwrap();
    assert!(
        matches!(
            store.publish(&forged_link, 29).await,
            Err(StoreError::LinkRequired { .. })
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
        ids(store
            .search("chat", &names(&["alice"]), None)
            .await
            .unwrap()),
        [*alice2.id()]
    );
    // Replacing a card that is no longer active, of another identity, or unknown.
    let alice3 = linked(card("alice", "chat", 6, "user", Some(&alice)), &alice2, 5);
    let from_superseded = linked(card("alice", "chat", 6, "user", None), &alice, 1);
    assert!(
        matches!(
            store.publish(&from_superseded, 31).await,
            Err(StoreError::LinkRequired { .. })
        ),
        "a superseded card cannot link"
    );
    assert!(
        matches!(store.publish(&alice3, 31).await, Err(StoreError::PreviousNotActive(id)) if id == *alice.id())
    );
    let mallory = card("mallory", "chat", 7, "user", Some(&bob));
    assert!(matches!(
        store.publish(&mallory, 31).await,
        Err(StoreError::PreviousMismatch(_))
    ));
    let other_app = card("carol", "chat", 8, "user", Some(&carol_mail));
    assert!(matches!(
        store.publish(&other_app, 31).await,
        Err(StoreError::PreviousNotFound(_))
    ));
    assert!(
        store.get("chat", alice3.id()).await.unwrap().is_none(),
        "a failed publish stores nothing"
    );

    // Revocation.
    let revoked = store
        .revoke(
            "chat",
            bob.id(),
            RevocationReason::Compromised,
            40,
            &record(),
        )
        .await
        .unwrap();
    assert_eq!(
        revoked.status,
        CardStatus::Revoked {
            reason: RevocationReason::Compromised,
            at: 40
        }
    );
    assert_eq!(
        ids(store
            .search("chat", &names(&["bob"]), Some("user"))
            .await
            .unwrap()),
        Vec::new()
    );
    assert!(matches!(
        store
            .revoke(
                "chat",
                bob.id(),
                RevocationReason::Unspecified,
                41,
                &record()
            )
            .await,
        Err(StoreError::AlreadyRevoked(_))
    ));
    assert!(matches!(
        store
            .revoke(
                "mail",
                alice2.id(),
                RevocationReason::Unspecified,
                41,
                &record()
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    // A revoked card cannot be replaced.
    let bob2 = card("bob", "chat", 9, "user", Some(&bob));
    assert!(matches!(
        store.publish(&bob2, 42).await,
        Err(StoreError::PreviousNotActive(_))
    ));

    // At most MAX_ACTIVE_CARDS devices per identity; a replacement is still allowed.
    let first = card("dave", "chat", 30, "user", None);
    store.publish(&first, 50).await.unwrap();
    for owner in 31..30 + MAX_ACTIVE_CARDS as u8 {
        let device = linked(card("dave", "chat", owner, "user", None), &first, 30);
        store.publish(&device, 50).await.unwrap();
    }
    let one_too_many = linked(card("dave", "chat", 60, "user", None), &first, 30);
    assert!(matches!(
        store.publish(&one_too_many, 51).await,
        Err(StoreError::TooManyCards { .. })
    ));
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
    let Some(database) = virgil_testkit::postgres::TempPostgres::or_skip(concat!(
        module_path!(),
        "::postgres_store_conforms"
    )) else {
        return;
    };
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
    let found = store.search("chat", &["alice".into()], None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].card, alice);
    assert_eq!(found[0].status, CardStatus::Active);
    let revoked = store
        .revoke(
            "chat",
            alice.id(),
            RevocationReason::Unspecified,
            20,
            &record(),
        )
        .await
        .unwrap();
    assert_eq!(revoked.revocation, Some(record()));
    store.close().await;
    // Migrated once: the next start finds version 2 and changes nothing.
    let again = CardStore::connect(&url).await.unwrap();
    assert_eq!(again.count().await.unwrap(), 1);
    again.close().await;
}
