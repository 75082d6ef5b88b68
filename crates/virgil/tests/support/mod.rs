//! What the facade's integration tests share: devices against real servers on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use virgil::{Card, Config, KeyChangePolicy, Virgil};
use virgil_testkit::key;
use virgil_testkit::servers::{RelayQuota, spawn_deployment};

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
        .iter()
        .map(|card| *card.id())
        .collect()
}

pub(crate) fn sqlite(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(name).display())
}

/// Both servers on SQLite files in `dir`; (cards URL, app URL).
pub(crate) fn sqlite_deployment(dir: &std::path::Path) -> (String, String) {
    spawn_deployment(
        &sqlite(dir, "cards.db"),
        &sqlite(dir, "app.db"),
        RelayQuota::default(),
    )
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
