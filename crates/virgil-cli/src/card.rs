//! `virgil card …`: create card requests, inspect cards, publish through the app server,
//! look cards up and revoke them.

use crate::config::Global;
use crate::error::{CliError, Exit, context};
use crate::key;
use crate::password::PasswordArgs;
use clap::Subcommand;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use virgil::CardStatus;
use virgil::crypto::encoding::to_base64;
use virgil::{Card, CardId, RevocationReason, Virgil};

/// `virgil card` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum CardCommand {
    /// Create a self-signed card request for a key (print it, or write it with -o); the
    /// app server approves and publishes it (`virgil card publish`).
    #[command(after_help = "Example:\n  virgil card create --key alice -o alice.card")]
    Create {
        /// The key (from `virgil key list`).
        #[arg(long)]
        key: String,
        /// The identity on the card [default: the key's name].
        #[arg(long)]
        identity: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        /// Write the card request to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Show a card (an exported card string, a file holding one, or - for standard
    /// input) as readable text, or as JSON; says which signatures verify against the
    /// configured keys.
    #[command(
        after_help = "Examples:\n  virgil card inspect alice.card\n  virgil card inspect --json alice.card"
    )]
    Inspect {
        /// A card string, a file, or -.
        card: String,
        /// Print the JSON form (as the cards service serves it).
        #[arg(long)]
        json: bool,
    },
    /// Submit a card request to the app server (logged in as its identity), which
    /// approves and publishes it. Without CARD, creates one for --key first.
    #[command(
        after_help = "Examples:\n  virgil card publish --key alice\n  virgil card publish alice.card\n  virgil card publish --key alice-phone --link-from alice\n  virgil card publish --key alice-2027 --replaces alice"
    )]
    Publish {
        /// A card request (string, file or -) from `virgil card create`.
        card: Option<String>,
        /// Create the request for this key [default: the logged-in user's name].
        #[arg(long)]
        key: Option<String>,
        /// Link the new card from your active card of this key (required when you
        /// already have a card: a new device); its password comes from the same place
        /// as --key's.
        #[arg(long, value_name = "KEY", conflicts_with = "replaces")]
        link_from: Option<String>,
        /// Rotate: the new card replaces your active card of this key (linked from it,
        /// and superseding it once published, so contacts take it as a new key of
        /// yours, not a key change). Needs --key (a new key); not with a CARD argument.
        #[arg(long, value_name = "KEY", requires = "key", conflicts_with = "card")]
        replaces: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Find the active cards of identities (needs a login for the access token).
    #[command(after_help = "Example:\n  virgil card find bob carol")]
    Find {
        /// Identities to look up (1 to 50).
        #[arg(required = true)]
        identities: Vec<String>,
        /// Print the exported card strings instead of a summary.
        #[arg(long, conflicts_with = "json")]
        export: bool,
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Get a card by id, with its status (active, superseded, revoked).
    #[command(
        after_help = "Example:\n  virgil card get 05eaa301cca45368306e355643161c7435b0759f2a8bf33481c04b51202fbfdc"
    )]
    Get {
        /// The card id (64 hex digits).
        id: String,
        /// Print the JSON form.
        #[arg(long)]
        json: bool,
    },
    /// Your active cards (the logged-in user's), with the local key of each, if any,
    /// and any reset of your cards that is pending.
    #[command(after_help = "Example:\n  virgil card list\n  virgil card list --json")]
    List {
        /// Print JSON (docs/cli.md has the shape).
        #[arg(long)]
        json: bool,
    },
    /// Lost every key? Publish a reset card for a new key: it needs no link from an
    /// old card, only your account password again. When it becomes active (at once, or
    /// after the cards service's reset delay, during which any of your old devices can
    /// cancel it) every other card of yours is revoked, and each contact's client warns
    /// them that your keys changed: tell them, and compare safety numbers again.
    #[command(
        after_help = "Example:\n  virgil key generate alice-new && virgil card reset --key alice-new"
    )]
    Reset {
        /// The new key [default: the logged-in user's name].
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        account: crate::password::AccountPasswordArgs,
    },
    /// Revoke a card: one of yours, signed with your key (the card's own, or that of
    /// another of your active cards: a lost phone revoked from the laptop); or, as the
    /// operator, any card of the application with --app-key-file.
    #[command(
        after_help = "Examples:\n  virgil card revoke 3f5c… --key alice-laptop --reason compromised\n  VIRGIL_APP_KEY_PASSWORD=… virgil card revoke 3f5c… --app-key-file local/app.key"
    )]
    Revoke {
        /// The card id.
        id: String,
        /// Sign with this key of yours [default: the logged-in user's name].
        #[arg(long, conflicts_with = "app_key_file")]
        key: Option<String>,
        /// Operator: the application key file (password from VIRGIL_APP_KEY_PASSWORD).
        #[arg(long, value_name = "FILE")]
        app_key_file: Option<PathBuf>,
        /// Why: unspecified or compromised.
        #[arg(long, default_value = "unspecified", value_parser = ["unspecified", "compromised"])]
        reason: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

/// Reads a card given as a string, a file or `-`.
pub(crate) fn read_card(argument: &str) -> Result<Card, CliError> {
    let text = if argument == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(1024 * 1024)
            .read_to_string(&mut text)
            .map_err(context("cannot read the card from standard input"))?;
        text
    } else if Path::new(argument).is_file() {
        std::fs::read_to_string(argument).map_err(context(format!("cannot read {argument}")))?
    } else {
        argument.to_owned()
    };
    Card::import(text.trim()).map_err(|e| {
        CliError::new(format!(
            "{} is not a card ({e})",
            if argument.len() > 40 {
                "the argument"
            } else {
                argument
            }
        ))
    })
}

/// A found card as JSON: id, identity, key id, publication time, status and the
/// exported card string.
fn published_json(published: &virgil::PublishedCard) -> serde_json::Value {
    let card = &published.card;
    serde_json::json!({
        "id": card.id().to_string(),
        "identity": card.identity(),
        "identity_type": card.content().identity_type,
        "key_id": card.public_key().key_id().to_string(),
        "suite": card.public_key().suite().name(),
        "published_at": published.published_at,
        "status": published.status,
        "export": card.export(),
    })
}

fn status_text(status: &CardStatus) -> String {
    match status {
        CardStatus::Active => "active".to_owned(),
        CardStatus::Superseded { by } => format!("superseded by {by}"),
        CardStatus::Revoked { reason, at } => {
            format!(
                "revoked ({reason:?}) at {}",
                crate::format_time(i64::try_from(*at).unwrap_or(i64::MAX))
            )
        }
        CardStatus::Pending { activates_at } => format!(
            "reset pending until {}",
            crate::format_time(i64::try_from(*activates_at).unwrap_or(i64::MAX))
        ),
    }
}

/// Prints a card as readable text; `false` if it was checked and failed.
fn print_card(card: &Card, virgil: Option<&Virgil>) -> bool {
    let content = card.content();
    println!("card id:       {}", card.id());
    println!(
        "identity:      {} ({})",
        content.identity, content.identity_type
    );
    println!("application:   {}", content.app_id);
    println!(
        "created:       {}",
        crate::format_time(i64::try_from(content.created_at).unwrap_or(i64::MAX))
    );
    println!("key id:        {}", card.public_key().key_id());
    println!(
        "suite:         {}",
        crate::key::suite_label(card.public_key().suite())
    );
    println!("public key:    {}", to_base64(card.public_key().as_bytes()));
    if let Some(previous) = &content.previous_card_id {
        println!("replaces:      {previous}");
    }
    for (key, value) in &content.data {
        println!("data:          {key} = {value}");
    }
    if let Some(info) = &content.info {
        println!("device:        {} ({})", info.device_name, info.device);
    }
    for signature in card.signatures() {
        println!("signed by:     {}", signature.signer);
    }
    match virgil.map(|virgil| virgil.cards().verify(card)) {
        Some(Ok(())) => println!(
            "verification:  OK (self, application and service signatures match the configured keys)"
        ),
        Some(Err(virgil::Error::CardNotTrusted { error, .. })) => {
            println!("verification:  FAILED: {error}");
            return false;
        }
        Some(Err(e)) => {
            println!("verification:  FAILED: {e}");
            return false;
        }
        None => println!("verification:  not checked (no client configuration)"),
    }
    true
}

fn print_json(card: &Card) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(&card.to_json()).map_err(context("cannot encode"))?;
    println!("{json}");
    Ok(())
}

/// Cards for the named recipients (cards verified against the configuration, identities
/// looked up and reviewed), and the bare keys as they are.
pub(crate) fn resolve_named(
    virgil: &Virgil,
    named: Vec<crate::recipients::Named>,
) -> Result<(Vec<Card>, Vec<virgil::PublicKey>), CliError> {
    use crate::recipients::Named;
    let (mut cards, mut keys, mut identities) = (Vec::new(), Vec::new(), Vec::new());
    for named in named {
        match named {
            Named::Card(card) => {
                virgil.cards().verify(&card)?;
                cards.push(*card);
            }
            Named::Key(key) => keys.push(key),
            Named::Identity(identity) => identities.push(identity),
        }
    }
    if !identities.is_empty() {
        let identities: Vec<&str> = identities.iter().map(String::as_str).collect();
        cards.extend(find_each_announcing(virgil, &identities)?);
    }
    Ok((cards, keys))
}

/// The active cards of each of `identities` (an identity without one is an error),
/// reviewed against the contact store: first contacts, linked devices and accepted key
/// changes are told on standard error, one line each.
pub(crate) fn find_each_announcing(
    virgil: &Virgil,
    identities: &[&str],
) -> Result<Vec<Card>, CliError> {
    let found = virgil.cards().find(identities)?;
    announce(&found.events);
    found.check_each(identities)?;
    Ok(found.cards.into_iter().map(|found| found.card).collect())
}

/// Prints what a lookup found worth telling (first contacts, linked devices, revoked
/// cards, key changes, pending resets, your own new devices) on standard error, one
/// line each.
pub(crate) fn announce(events: &[virgil::ContactEvent]) {
    for event in events {
        eprintln!("virgil: {event}");
    }
}

/// Checks the logged-in user's own cards and their history in the key directory
/// ([`Virgil::monitor`]) and tells the user: the events on standard error, and an alarm
/// as the error to exit with (3) once the command has done what it safely can. A device
/// that knows nothing of its identity yet says that it cannot check.
pub(crate) fn self_check(virgil: &Virgil) -> Result<Option<CliError>, CliError> {
    Ok(monitor(virgil)?.err())
}

/// [`self_check`], returning what was checked, or the alarm to exit with.
pub(crate) fn monitor(virgil: &Virgil) -> Result<Result<virgil::Monitored, CliError>, CliError> {
    match virgil.monitor() {
        Ok(monitored) => {
            announce(&monitored.check.events);
            if !monitored.check.checked {
                eprintln!(
                    "virgil: this device holds none of your cards' keys yet, so it cannot tell your cards from someone else's; it checks them once you publish or link a card here"
                );
            }
            Ok(Ok(monitored))
        }
        Err(virgil::Error::SelfCheck(alarm)) => {
            eprintln!("virgil: {alarm}");
            Ok(Err(CliError::with(
                Exit::Rejected,
                "your own identity has a card you did not make (see the ALARM above)",
            )))
        }
        Err(virgil::Error::Monitor(alarm)) => {
            eprintln!("virgil: {alarm}");
            Ok(Err(CliError::with(
                Exit::Rejected,
                "the key directory's history of your identity shows a change you did not make (see the ALARM above)",
            )))
        }
        Err(other) => Err(other.into()),
    }
}

/// `virgil monitor`: checks your own identity in the key directory, every version.
pub(crate) fn run_monitor(global: &Global) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let outcome = monitor(&virgil)?;
    global.keep_refreshed_session(&virgil)?;
    let monitored = outcome?;
    match monitored.epoch {
        Some(epoch) => println!(
            "{username}: {} version(s) of your cards in the key directory, proven up to epoch {epoch}; every card in them is yours",
            monitored.versions
        ),
        None => println!("{username}: not in the key directory yet (no card published)"),
    }
    Ok(())
}

/// Runs a `virgil card` command.
pub(crate) fn run(global: &Global, command: CardCommand) -> Result<(), CliError> {
    match command {
        CardCommand::Create {
            key,
            identity,
            password,
            output,
        } => create(global, key, identity, password, output),
        CardCommand::Inspect { card, json } => inspect(global, card, json),
        CardCommand::Publish {
            card,
            key,
            link_from,
            replaces,
            password,
        } => publish(global, card, key, link_from, replaces, password),
        CardCommand::Find {
            identities,
            export,
            json,
        } => find(global, identities, export, json),
        CardCommand::Get { id, json } => get(global, id, json),
        CardCommand::List { json } => list(global, json),
        CardCommand::Reset {
            key,
            password,
            account,
        } => reset(global, key, password, account),
        CardCommand::Revoke {
            id,
            key,
            app_key_file,
            reason,
            password,
        } => revoke(global, id, key, app_key_file, reason, password),
    }
}

/// `virgil card create`: a self-signed card request for a key.
fn create(
    global: &Global,
    key: String,
    identity: Option<String>,
    password: PasswordArgs,
    output: Option<PathBuf>,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let private = key::load(virgil.keys(), &key, &password)?;
    let identity = virgil
        .identities()
        .create_user(identity.as_deref().unwrap_or(&key));
    let card = virgil
        .cards()
        .create(&identity, &private)
        .map_err(context("cannot create the card"))?;
    let text = format!("{}\n", card.export());
    match output {
        Some(path) => {
            crate::output::write(&path, text.as_bytes())?;
            eprintln!(
                "card request for {:?} written to {} (card id {})",
                identity.value,
                path.display(),
                card.id()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `virgil card inspect`: a card as text or JSON, checked when a configuration exists.
fn inspect(global: &Global, card: String, json: bool) -> Result<(), CliError> {
    let card = read_card(&card)?;
    if json {
        print_json(&card)?;
    } else if !print_card(&card, global.virgil().ok().as_ref()) {
        return Err(CliError::with(
            Exit::Rejected,
            "the card does not verify against the configured keys (see above)",
        ));
    }
    Ok(())
}

/// `virgil card publish`: a request (made here, linked or replacing if asked) approved
/// and published by the app server.
fn publish(
    global: &Global,
    card: Option<String>,
    key: Option<String>,
    link_from: Option<String>,
    replaces: Option<String>,
    password: PasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let identity = virgil.identities().create_user(&username);
    // Your active card of key `name` (the one a new card is linked from).
    let own_card = |name: &str| -> Result<(Card, virgil::Key), CliError> {
        let private = key::load(virgil.keys(), name, &password)?;
        let mine = virgil.cards().find(&[username.as_str()])?;
        let card = mine
            .into_cards()
            .into_iter()
            .find(|card| card.public_key() == private.public_key())
            .ok_or_else(|| {
                CliError::new(format!(
                    "key {name:?} has no active card of {username:?}; `virgil card list` lists yours"
                ))
            })?;
        Ok((card, private))
    };
    let mut request = match (card, replaces) {
        (Some(card), _) => read_card(&card)?,
        (None, Some(replaces)) => {
            let (previous, previous_key) = own_card(&replaces)?;
            let key = key.unwrap_or_else(|| username.clone());
            let private = key::load(virgil.keys(), &key, &password)?;
            let request = virgil
                .cards()
                .create_replacement(&identity, &private, &previous, &previous_key)
                .map_err(context("cannot create the card"))?;
            println!(
                "replaces your card {} (key {replaces:?}), linked from it",
                previous.id()
            );
            request
        }
        (None, None) => {
            let key = key.unwrap_or_else(|| username.clone());
            let private = key::load(virgil.keys(), &key, &password)?;
            virgil
                .cards()
                .create(&identity, &private)
                .map_err(context("cannot create the card"))?
        }
    };
    if let Some(link_from) = link_from {
        let (existing, linking_key) = own_card(&link_from)?;
        virgil
            .cards()
            .link(&mut request, &existing, &linking_key)
            .map_err(context("cannot link the card"))?;
        println!(
            "linked from your card {} (key {link_from:?})",
            existing.id()
        );
    }
    let published = virgil.account().publish_card(&request)?;
    if published.card.id() == request.id() {
        println!(
            "card {} for {:?} approved and published",
            published.card.id(),
            published.card.identity()
        );
    } else {
        println!(
            "this key already has card {} for {:?}; nothing new published",
            published.card.id(),
            published.card.identity()
        );
    }
    Ok(())
}

/// `virgil card find`: the reviewed active cards of identities.
fn find(
    global: &Global,
    identities: Vec<String>,
    export: bool,
    json: bool,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let references: Vec<&str> = identities.iter().map(String::as_str).collect();
    let found = virgil.cards().find(&references)?.cards;
    global.keep_refreshed_session(&virgil)?;
    if json {
        return crate::output::print_json(&serde_json::json!({
            "cards": found.iter().map(published_json).collect::<Vec<_>>(),
        }));
    }
    if found.is_empty() {
        return Err(CliError::new("no cards found"));
    }
    for published in found {
        let card = &published.card;
        if export {
            println!("{}", card.export());
        } else {
            println!(
                "{}  {:<20} key {} ({})  published {}",
                card.id(),
                card.identity(),
                card.public_key().key_id(),
                card.public_key().suite().name(),
                crate::format_time(i64::try_from(published.published_at).unwrap_or(i64::MAX))
            );
        }
    }
    Ok(())
}

/// `virgil card get`: a card by id, with its status.
fn get(global: &Global, id: String, json: bool) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let id = card_id(&id)?;
    let published = virgil.cards().get(&id)?;
    global.keep_refreshed_session(&virgil)?;
    if json {
        print_json(&published.card)?;
    } else {
        print_card(&published.card, Some(&virgil));
        println!("status:        {}", status_text(&published.status));
    }
    Ok(())
}

/// `virgil card list`: your own active cards, checked, with their local keys.
fn list(global: &Global, json: bool) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let check = virgil.self_check()?;
    announce(&check.events);
    global.keep_refreshed_session(&virgil)?;
    let local = virgil.keys().list()?;
    let local_key = |card: &Card| {
        local
            .entries
            .iter()
            .find(|entry| entry.key_id == *card.public_key().key_id())
            .map(|entry| entry.name.as_str().to_owned())
    };
    let pending: Vec<(CardId, u64)> = check
        .events
        .iter()
        .filter_map(|event| match event {
            virgil::ContactEvent::OwnResetPending { card, activates_at } => {
                Some((*card, *activates_at))
            }
            _ => None,
        })
        .collect();
    if json {
        let cards: Vec<serde_json::Value> = check
            .cards
            .iter()
            .map(|published| {
                let mut value = published_json(published);
                if let Some(fields) = value.as_object_mut() {
                    fields.insert("local_key".to_owned(), local_key(&published.card).into());
                }
                value
            })
            .collect();
        return crate::output::print_json(&serde_json::json!({
            "cards": cards,
            "checked": check.checked,
            "pending_resets": pending.iter().map(|(id, at)| serde_json::json!({
                "id": id.to_string(),
                "activates_at": at,
            })).collect::<Vec<_>>(),
        }));
    }
    if check.cards.is_empty() {
        println!("{username:?} has no active card; publish one with `virgil card publish`");
    }
    for published in &check.cards {
        let card = &published.card;
        let key = local_key(card).map_or_else(
            || "(not on this device)".to_owned(),
            |name| format!("key {name:?}"),
        );
        let device = card
            .content()
            .info
            .as_ref()
            .map_or_else(String::new, |info| format!("  {}", info.device_name));
        println!(
            "{}  {key}  published {}{device}",
            card.id(),
            crate::format_time(i64::try_from(published.published_at).unwrap_or(i64::MAX))
        );
    }
    for (card, activates_at) in pending {
        println!(
            "{card}  YOUR RESET, pending until {}",
            crate::format_time(i64::try_from(activates_at).unwrap_or(i64::MAX))
        );
    }
    if check.checked {
        eprintln!("virgil: every card above was made by this device's keys or linked from them");
    }
    Ok(())
}

/// `virgil card reset`: a reset card for a new key.
fn reset(
    global: &Global,
    key: Option<String>,
    password: PasswordArgs,
    account: crate::password::AccountPasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let username = global.session()?.session.username;
    let key = key.unwrap_or_else(|| username.clone());
    let private = key::load(virgil.keys(), &key, &password)?;
    let identity = virgil.identities().create_user(&username);
    let request = virgil
        .cards()
        .create_reset(&identity, &private)
        .map_err(context("cannot create the reset card"))?;
    let account_password = crate::password::account_password(&account, &username, false)?;
    let published = virgil
        .account()
        .publish_reset_card(&request, &account_password)?;
    global.keep_refreshed_session(&virgil)?;
    match published.status {
        CardStatus::Pending { activates_at } => println!(
            "reset card {} for {username:?} published; pending until {}: then it replaces all of your other cards (any of them can still cancel it)",
            published.card.id(),
            crate::format_time(i64::try_from(activates_at).unwrap_or(i64::MAX))
        ),
        _ => println!(
            "reset card {} for {username:?} published and active: your other cards are revoked; your contacts will be warned that your keys changed",
            published.card.id()
        ),
    }
    Ok(())
}

/// `virgil card revoke`: as the card's owner, or as the operator.
fn revoke(
    global: &Global,
    id: String,
    key: Option<String>,
    app_key_file: Option<PathBuf>,
    reason: String,
    password: PasswordArgs,
) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let card_id = card_id(&id)?;
    let reason = if reason == "compromised" {
        RevocationReason::Compromised
    } else {
        RevocationReason::Unspecified
    };
    let revoked = match app_key_file {
        Some(app_key_file) => {
            let app_key = load_app_key(&app_key_file)?;
            virgil
                .cards()
                .revoke_as_application(&card_id, reason, &app_key)?
        }
        None => {
            let key = match key {
                Some(key) => key,
                None => global.session()?.session.username,
            };
            let private = key::load(virgil.keys(), &key, &password)?;
            virgil.cards().revoke(&card_id, reason, &private)?
        }
    };
    println!(
        "card {} {}",
        revoked.card.id(),
        status_text(&revoked.status)
    );
    Ok(())
}

/// The environment variable the application key's password is read from (as the
/// application server reads it).
const APP_KEY_PASSWORD_VAR: &str = "VIRGIL_APP_KEY_PASSWORD";

/// Reads and unlocks an application key file (password from [`APP_KEY_PASSWORD_VAR`]).
fn load_app_key(path: &std::path::Path) -> Result<virgil::crypto::PrivateKey, CliError> {
    use virgil::keystore::KeyStoreError;
    let password = std::env::var(APP_KEY_PASSWORD_VAR).ok();
    virgil::keystore::key_file::open(path, password.as_deref().map(str::as_bytes))
        .map(|(_, key)| key)
        .map_err(|e| match e {
            KeyStoreError::WrongPassword { .. } => CliError::with(
                Exit::Auth,
                format!(
                    "wrong or missing password for the key {} (set {APP_KEY_PASSWORD_VAR})",
                    path.display()
                ),
            ),
            other => CliError::new(format!("the key {} is unusable: {other}", path.display())),
        })
}

fn card_id(text: &str) -> Result<CardId, CliError> {
    text.parse()
        .map_err(|_| CliError::new(format!("{text:?} is not a card id (64 hex digits)")))
}
