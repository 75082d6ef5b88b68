//! What the facade's integration tests share: devices against real servers on loopback.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use virgil::{Card, Config, KeyChangePolicy, Virgil};
use virgil_testkit::key;
use virgil_testkit::postgres::TempPostgres;
use virgil_testkit::servers::{RelayQuota, spawn_deployment_configured};

pub(crate) const APP: u8 = 100;
pub(crate) const SERVICE: u8 = 101;
pub(crate) const PASSWORD: &str = "correct horse";

/// A device whose contact file is in `dir`, blocking key changes.
pub(crate) fn device(cards_url: &str, app_url: &str, dir: &std::path::Path) -> Virgil {
    device_with(cards_url, app_url, dir, KeyChangePolicy::Block)
}

/// A device whose contact file is in `dir`, under key-change `policy`.
pub(crate) fn device_with(
    cards_url: &str,
    app_url: &str,
    dir: &std::path::Path,
    policy: KeyChangePolicy,
) -> Virgil {
    Virgil::new(
        Config::new(
            "chat",
            key(APP).public_key().clone(),
            key(SERVICE).public_key().clone(),
        )
        .contacts_file(dir.join("contacts.json"))
        .key_changes(policy)
        .cards_service(cards_url)
        .app_server(app_url),
    )
    .unwrap()
}

/// The ids of the cards `virgil` finds (and accepts) for `identity`.
pub(crate) fn card_ids(virgil: &Virgil, identity: &str) -> Vec<virgil::CardId> {
    virgil
        .cards()
        .find(&[identity])
        .unwrap()
        .cards
        .iter()
        .map(|found| *found.card.id())
        .collect()
}

pub(crate) fn sqlite(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(name).display())
}

/// A deployment (both servers on 127.0.0.1) and device homes, alive as long as it is.
pub(crate) struct Scene {
    pub(crate) cards_url: String,
    pub(crate) app_url: String,
    pub(crate) dir: tempfile::TempDir,
    homes: Vec<tempfile::TempDir>,
    _postgres: Vec<TempPostgres>,
}

impl Scene {
    /// Both servers on SQLite, no reset delay, and `homes` device homes.
    pub(crate) fn sqlite(homes: usize) -> Self {
        Self::on("sqlite", "", homes, 0).expect("SQLite is always there")
    }

    /// Both servers, the cards service on `backend` (`sqlite` or `postgres`) with a
    /// reset delay of `reset_delay` seconds; `None` when PostgreSQL is asked for and
    /// unreachable (a visible skip, named `test`).
    pub(crate) fn on(backend: &str, test: &str, homes: usize, reset_delay: u64) -> Option<Self> {
        Self::with_app_db(backend, "sqlite", test, homes, reset_delay)
    }

    /// [`Scene::on`], both servers on `backend`.
    pub(crate) fn both_on(backend: &str, test: &str, homes: usize) -> Option<Self> {
        Self::with_app_db(backend, backend, test, homes, 0)
    }

    fn with_app_db(
        backend: &str,
        app_backend: &str,
        test: &str,
        homes: usize,
        reset_delay: u64,
    ) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut postgres = Vec::new();
        let mut database = |backend: &str, file: &str| -> Option<String> {
            Some(match backend {
                "postgres" => {
                    let db = TempPostgres::or_skip(test)?;
                    let url = db.url().to_owned();
                    postgres.push(db);
                    url
                }
                _ => sqlite(dir.path(), file),
            })
        };
        let cards_db = database(backend, "cards.db")?;
        let app_db = database(app_backend, "app.db")?;
        let (cards_url, app_url) = spawn_deployment_configured(
            &cards_db,
            &app_db,
            RelayQuota::default(),
            move |service| service.with_reset_delay(reset_delay),
        );
        Some(Self {
            cards_url,
            app_url,
            dir,
            homes: (0..homes).map(|_| tempfile::tempdir().unwrap()).collect(),
            _postgres: postgres,
        })
    }

    /// Device home `n`.
    pub(crate) fn home(&self, n: usize) -> &std::path::Path {
        self.homes[n].path()
    }

    /// Devices in homes 0 to N − 1.
    pub(crate) fn devices<const N: usize>(&self) -> [Virgil; N] {
        std::array::from_fn(|i| device(&self.cards_url, &self.app_url, self.home(i)))
    }
}

/// Logs `virgil` in as `name`, makes a key and publishes a card for it (linked from
/// `link_from` when given).
pub(crate) fn publish(
    virgil: &Virgil,
    name: &str,
    link_from: Option<(&Card, &virgil::Key)>,
) -> (virgil::Key, Card) {
    virgil.account().login(name, PASSWORD).unwrap();
    let user_key = virgil.keys().generate().unwrap();
    let identity = virgil.identities().create_user(name);
    let mut request = virgil.cards().create(&identity, &user_key).unwrap();
    if let Some((existing, existing_key)) = link_from {
        virgil
            .cards()
            .link(&mut request, existing, existing_key)
            .unwrap();
    }
    virgil.account().publish_card(&request).unwrap();
    (user_key, request)
}

/// Alice and bob, each registered with a published card: the opening of most scenes.
pub(crate) struct Cast {
    pub(crate) alice_key: virgil::Key,
    pub(crate) alice_card: Card,
    pub(crate) bob_key: virgil::Key,
    pub(crate) bob_card: Card,
}

/// Registers alice on `alice` and bob on `bob`, and publishes a card for each.
pub(crate) fn alice_and_bob(alice: &Virgil, bob: &Virgil) -> Cast {
    alice.account().register("alice", PASSWORD).unwrap();
    bob.account().register("bob", PASSWORD).unwrap();
    let (alice_key, alice_card) = publish(alice, "alice", None);
    let (bob_key, bob_card) = publish(bob, "bob", None);
    Cast {
        alice_key,
        alice_card,
        bob_key,
        bob_card,
    }
}

/// Inserts `card` as active into the SQLite cards database at `path`, as someone who
/// can write to the database would (no rule is checked, no directory change marked).
pub(crate) fn insert_card_row(path: &std::path::Path, card: &Card) {
    let url = format!("sqlite://{}", path.display());
    let card = card.clone();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            use sqlx::Connection as _;
            let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(
                "INSERT INTO cards (id, app_id, identity, identity_type, snapshot, signatures, created_at, published_at)
                 VALUES ($1, 'chat', $2, 'user', $3, $4, 1, 1)",
            )
            .bind(card.id().to_string())
            .bind(card.identity())
            .bind(card.snapshot().to_vec())
            .bind(serde_json::to_string(&card.to_json().signatures).unwrap())
            .execute(&mut connection)
            .await
            .unwrap();
        });
    })
    .join()
    .unwrap();
}

/// Runs `statements` on the SQLite cards database at `path`, as someone who can write
/// to the database would.
pub(crate) fn db_exec(path: &std::path::Path, statements: &[String]) {
    let url = format!("sqlite://{}", path.display());
    let statements = statements.to_vec();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection as _;
                let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
                for statement in statements {
                    sqlx::query(&statement)
                        .execute(&mut connection)
                        .await
                        .unwrap();
                }
            });
    })
    .join()
    .unwrap();
}

/// Marks `identity`'s entry changed, so the publisher republishes it from the database.
pub(crate) fn mark_changed(identity: &str) -> String {
    format!(
        "INSERT INTO directory_pending (app_id, identity, change) VALUES ('chat', '{identity}', 1000)
         ON CONFLICT (app_id, identity) DO UPDATE SET change = directory_pending.change + 1"
    )
}

/// A card of `identity` for the key `key(owner)`, approved with the application key
/// and countersigned with the service key: what someone holding both (or the database)
/// would plant.
pub(crate) fn planted_card(identity: &str, owner: u8) -> Card {
    let mut card = virgil::card::CardRequest::new(identity, "chat")
        .sign(&virgil_testkit::key(owner))
        .unwrap();
    card.sign_as(
        virgil::card::Signer::App("chat".into()),
        &virgil_testkit::key(APP),
    )
    .unwrap();
    card.sign_as(virgil::card::Signer::Service, &virgil_testkit::key(SERVICE))
        .unwrap();
    card
}

/// Alice and bob (`alice_and_bob`), then bob moves to a phone whose card is linked from
/// his first one, and revokes the first as compromised; returns the phone's key and card.
pub(crate) fn bob_moves_to_a_phone(alice: &Virgil, bob: &Virgil) -> (Cast, virgil::Key, Card) {
    let cast = alice_and_bob(alice, bob);
    let (phone_key, phone) = publish(bob, "bob", Some((&cast.bob_card, &cast.bob_key)));
    bob.cards()
        .revoke(
            cast.bob_card.id(),
            virgil::RevocationReason::Compromised,
            &cast.bob_key,
        )
        .unwrap();
    (cast, phone_key, phone)
}
