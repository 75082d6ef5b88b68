//! Key backup against real servers (issue 31), each defence as an attack that must
//! fail: a stolen session replacing or deleting a backup, a blob that is no backup, an
//! evaluation bought under another identity, a man in the middle serving its own OPRF
//! key or evaluating with it, guesses past the limit, and a count that must survive a
//! restart and be shared by replicas. The flows run on SQLite and PostgreSQL.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::{Arc, Mutex};
use support::*;
use virgil::Error;
use virgil::client::{AppClient, CardsClient, ClientError};
use virgil_api::ErrorCode;
use virgil_card::{CardIdentity, Verifier};
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::keyblob::{self, Params};
use virgil_crypto::oprf::{BlindedPassword, OprfKey};
use virgil_testkit::key;

const BACKUP_PASSWORD: &str = "backup password";

fn api_code(error: &Error) -> Option<&ErrorCode> {
    match error {
        Error::AppServer(client) | Error::CardsService(client) => client_code(client),
        _ => None,
    }
}

fn client_code(error: &ClientError) -> Option<&ErrorCode> {
    match error {
        ClientError::Api { code, .. } => Some(code),
        _ => None,
    }
}

/// `result` failed with the API error `code`.
fn refused_with<T: std::fmt::Debug>(result: Result<T, ClientError>, code: ErrorCode) {
    let error = result.unwrap_err();
    assert_eq!(client_code(&error), Some(&code), "{error:?}");
}

fn backup_flow_on(backend: &str, test: &str) {
    let Some(scene) = Scene::on(backend, test, 3, 0) else {
        return;
    };
    let [alice, bob, alice_new] = scene.devices::<3>();
    let cast = alice_and_bob(&alice, &bob);
    let stored_at = alice
        .backups()
        .backup(&cast.alice_key, BACKUP_PASSWORD, None)
        .unwrap();
    assert!(stored_at > 0);

    // Bob writes; alice's device is then lost. On a new device she logs in and restores.
    bob.messages()
        .send("alice", &cast.bob_key, "while you were away")
        .unwrap();
    alice_new.account().login("alice", PASSWORD).unwrap();
    let wrong = alice_new.backups().restore("backup passworD").unwrap_err();
    assert!(
        matches!(wrong, Error::Crypto(virgil_crypto::Error::WrongPassword)),
        "{wrong:?}"
    );
    let restored = alice_new.backups().restore(BACKUP_PASSWORD).unwrap();
    assert_eq!(restored.public_key(), cast.alice_key.public_key());
    let read = alice_new.messages().inbox(&restored, 0).unwrap();
    assert_eq!(
        read.messages[0].message.as_ref().unwrap().as_bytes(),
        b"while you were away"
    );

    // Every evaluation counted, for alice only.
    let status = alice_new.backups().status().unwrap();
    assert_eq!(status.stored_at, Some(stored_at));
    assert_eq!(status.guesses.total, 3);
    assert_eq!(bob.backups().status().unwrap().guesses.total, 0);

    // A new backup password, then deletion (the account password each time).
    alice
        .backups()
        .change_password(BACKUP_PASSWORD, "newer backup password", PASSWORD)
        .unwrap();
    assert!(matches!(
        alice_new.backups().restore(BACKUP_PASSWORD),
        Err(Error::Crypto(virgil_crypto::Error::WrongPassword))
    ));
    alice_new
        .backups()
        .restore("newer backup password")
        .unwrap();
    alice.backups().delete(PASSWORD).unwrap();
    let gone = alice_new
        .backups()
        .restore("newer backup password")
        .unwrap_err();
    assert_eq!(api_code(&gone), Some(&ErrorCode::NoBackup), "{gone:?}");
    assert_eq!(alice.backups().status().unwrap().stored_at, None);
}

#[test]
fn sqlite_a_backup_restores_on_a_new_device() {
    backup_flow_on("sqlite", "sqlite_a_backup_restores_on_a_new_device");
}

#[test]
fn postgres_a_backup_restores_on_a_new_device() {
    backup_flow_on("postgres", "postgres_a_backup_restores_on_a_new_device");
}

/// A stolen session token can read the (useless) blob, but cannot replace or delete the
/// backup: both need the account password, at the application server itself.
#[test]
fn a_session_alone_cannot_replace_or_delete_a_backup() {
    let scene = Scene::sqlite(2);
    let [alice, bob] = scene.devices::<2>();
    let cast = alice_and_bob(&alice, &bob);
    alice
        .backups()
        .backup(&cast.alice_key, BACKUP_PASSWORD, None)
        .unwrap();
    let session = alice.account().session().unwrap().response;
    let app = AppClient::new(&scene.app_url, Verifier::new());
    // The thief's own key, locked under a password the thief knows (hardened with the
    // victim's access token: the guess count is the only cost).
    let thief_key = virgil_crypto::PrivateKey::generate().unwrap();
    let cards = alice_cards_client(&scene, &session.access_token);
    let owner = CardIdentity::new("chat", "alice");
    let (hardened, _) = cards.harden_password(&owner, b"thief's password").unwrap();
    let swapped = keyblob::lock_hardened(&thief_key, &hardened, Params::default()).unwrap();
    refused_with(
        app.store_backup(&session, &swapped, None),
        ErrorCode::ReauthenticationRequired,
    );
    refused_with(
        app.store_backup(&session, &swapped, Some("not the password")),
        ErrorCode::InvalidCredentials,
    );
    refused_with(
        app.delete_backup(&session, "not the password"),
        ErrorCode::InvalidCredentials,
    );
    // The backup is alice's still.
    assert_eq!(
        alice
            .backups()
            .restore(BACKUP_PASSWORD)
            .unwrap()
            .public_key(),
        cast.alice_key.public_key()
    );
    // Nor does the application server take what is not a backup: a key file's blob
    // opens with the password alone, with no guess counted anywhere.
    let plain = keyblob::lock(&thief_key, b"pw", Params::default()).unwrap();
    refused_with(
        app.store_backup(&session, &plain, Some(PASSWORD)),
        ErrorCode::InvalidBackup,
    );
}

/// Two first backups at once (the user's and a stolen session's): exactly one is
/// stored, the other needs the account password, so a race cannot replace a backup.
#[test]
fn concurrent_first_backups_store_exactly_one() {
    let scene = Scene::sqlite(1);
    let [alice] = scene.devices::<1>();
    alice.account().register("alice", PASSWORD).unwrap();
    alice.account().login("alice", PASSWORD).unwrap();
    let session = alice.account().session().unwrap().response;
    let app = AppClient::new(&scene.app_url, Verifier::new());
    let fast = Params::with_iterations(keyblob::MIN_ITERATIONS).unwrap();
    let blobs: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            let key = virgil_crypto::PrivateKey::generate().unwrap();
            let hardened = keyblob::HardenedPassword::from_bytes([i; 32]);
            keyblob::lock_hardened(&key, &hardened, fast).unwrap()
        })
        .collect();
    let outcomes = virgil_testkit::all_at_once(blobs.len(), |i| {
        vec![
            app.store_backup(&session, &blobs[i], None)
                .map(|stored| stored.blob),
        ]
    });
    let stored: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(stored.len(), 1, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        let code = client_code(refused);
        assert_eq!(
            code,
            Some(&ErrorCode::ReauthenticationRequired),
            "{refused:?}"
        );
    }
    let kept = app.fetch_backup(&session).unwrap();
    assert_eq!(&kept.blob, stored[0]);
}

fn alice_cards_client(scene: &Scene, access_token: &str) -> CardsClient {
    let token = access_token.to_owned();
    CardsClient::builder(
        &scene.cards_url,
        Verifier::new().trust_service(key(SERVICE).public_key().clone()),
    )
    .token_source(move || Ok(token.clone()))
    .build()
}

/// The service evaluates under the identity of the caller's token: a guess bought as
/// mallory is worthless for alice's backup (its proof does not hold for alice), so
/// guesses at alice's password are counted against alice, whoever makes them.
#[test]
fn an_evaluation_is_bound_to_the_identity_of_the_token() {
    let scene = Scene::sqlite(2);
    let [alice, mallory] = scene.devices::<2>();
    alice.account().register("alice", PASSWORD).unwrap();
    mallory.account().register("mallory", PASSWORD).unwrap();
    mallory.account().login("mallory", PASSWORD).unwrap();
    let mallory_session = mallory.account().session().unwrap().response;
    let cards = alice_cards_client(&scene, &mallory_session.access_token);
    let alice_owner = CardIdentity::new("chat", "alice");
    let refused = cards.harden_password(&alice_owner, b"a guess").unwrap_err();
    assert!(matches!(refused, ClientError::BackupProof), "{refused:?}");
    // The same call for mallory's own identity works.
    let mallory_owner = CardIdentity::new("chat", "mallory");
    cards.harden_password(&mallory_owner, b"a guess").unwrap();
}

/// A man in the middle (or a cards service without its key) cannot make a client lock
/// a backup under a PRF it can compute: its own OPRF key is not signed by the pinned
/// service key, and an evaluation with its key does not prove the published one.
#[test]
fn a_man_in_the_middle_cannot_substitute_its_oprf_key() {
    let scene = Scene::sqlite(2);
    let [alice, bob] = scene.devices::<2>();
    let cast = alice_and_bob(&alice, &bob);
    let session = alice.account().session().unwrap();
    let attacker = Arc::new(OprfKey::derive(&[66; 32], b"chat").unwrap());

    // 1. It serves its own key (the signature is the service's, over the real key).
    let key_swapper = {
        let attacker = Arc::clone(&attacker);
        virgil_testkit::proxy::spawn_tampering_proxy(&scene.cards_url, move |path, body| {
            if path != "/v1/backup/oprf-key" {
                return body;
            }
            let mut answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
            answer["public_key"] = to_base64(attacker.public_key().as_bytes()).into();
            serde_json::to_vec(&answer).unwrap()
        })
    };
    let victim = device(&key_swapper, &scene.app_url, scene.home(0));
    victim.account().resume(session.clone());
    let refused = victim
        .backups()
        .backup(&cast.alice_key, BACKUP_PASSWORD, None)
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::CardsService(ClientError::BackupKeyNotSigned)
        ),
        "{refused:?}"
    );

    // 2. It keeps the real key but evaluates the blinded password with its own.
    let blinded: Arc<Mutex<Option<BlindedPassword>>> = Arc::default();
    let evaluator = {
        let (seen, answer_with) = (Arc::clone(&blinded), Arc::clone(&blinded));
        let attacker = Arc::clone(&attacker);
        virgil_testkit::proxy::spawn_proxy(
            &scene.cards_url,
            move |path, body| {
                if path == "/v1/backup/actions/evaluate" {
                    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let bytes = from_base64(request["blinded"].as_str().unwrap()).unwrap();
                    *seen.lock().unwrap() = Some(BlindedPassword::from_bytes(&bytes).unwrap());
                }
                body
            },
            move |path, body| {
                if path != "/v1/backup/actions/evaluate" {
                    return body;
                }
                let blinded = answer_with.lock().unwrap().clone().unwrap();
                let info = virgil_card::backup::oprf_info(&CardIdentity::new("chat", "alice"));
                let evaluation = attacker.evaluate(&blinded, &info).unwrap();
                let mut answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
                answer["evaluation"] = to_base64(&evaluation.to_bytes()).into();
                serde_json::to_vec(&answer).unwrap()
            },
        )
    };
    let victim = device(&evaluator, &scene.app_url, scene.home(1));
    victim.account().resume(session);
    let refused = victim
        .backups()
        .backup(&cast.alice_key, BACKUP_PASSWORD, None)
        .unwrap_err();
    assert!(
        matches!(refused, Error::CardsService(ClientError::BackupProof)),
        "{refused:?}"
    );
    assert!(
        blinded.lock().unwrap().is_some(),
        "the proxy saw the request"
    );
    // Nothing was stored.
    assert_eq!(alice.backups().status().unwrap().stored_at, None);
}

/// The guess count lives in the service's database: a restart does not reset it, and
/// two replicas on one database share it.
#[test]
fn the_guess_limit_survives_restarts_and_is_shared_by_replicas() {
    use virgil_testkit::servers::GuessPolicy;
    let scene = Scene::sqlite(1);
    let [alice] = scene.devices::<1>();
    alice.account().register("alice", PASSWORD).unwrap();
    alice.account().login("alice", PASSWORD).unwrap();
    let token = alice.account().session().unwrap().response.access_token;
    let policy = GuessPolicy {
        free_per_window: 2,
        window_seconds: 3600,
        base_delay_seconds: 600,
        max_delay_seconds: 86_400,
    };
    let cards_db = sqlite(scene.dir.path(), "cards.db");
    let replica = |policy: GuessPolicy| {
        virgil_testkit::servers::spawn_cards_service_configured(
            &cards_db,
            key(SERVICE),
            &[("chat", key(APP).public_key().clone())],
            Default::default(),
            move |service| service.with_guess_policy(policy),
        )
    };
    let first = replica(policy);
    let second = replica(policy);
    let owner = CardIdentity::new("chat", "alice");
    let client = |url: &str| {
        let token = token.clone();
        CardsClient::builder(
            url,
            Verifier::new().trust_service(key(SERVICE).public_key().clone()),
        )
        .token_source(move || Ok(token.clone()))
        .build()
    };
    client(&first).harden_password(&owner, b"one").unwrap();
    client(&second).harden_password(&owner, b"two").unwrap();
    for url in [&first, &second, &replica(policy)] {
        let refused = client(url).harden_password(&owner, b"three").unwrap_err();
        assert!(
            matches!(
                &refused,
                ClientError::Api {
                    status: 429,
                    code: ErrorCode::BackupGuessLimit,
                    retry_after_seconds: Some(wait),
                    ..
                } if (590..=600).contains(wait)
            ),
            "{refused:?}"
        );
    }
    // A malformed blinded value is refused before it is counted.
    let raw = virgil_testkit::http::Raw::new(&first);
    let answer = raw.call(
        "POST",
        "/v1/backup/actions/evaluate",
        Some(&token),
        Some(serde_json::json!({ "blinded": to_base64(&[0; 33]) })),
    );
    assert_eq!(answer.code(), Some("invalid_backup"), "{answer:?}");
    assert_eq!(client(&second).backup_guesses().unwrap().total, 2);
}
