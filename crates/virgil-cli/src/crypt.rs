//! `virgil encrypt` and `virgil decrypt`: streaming, so any size works in bounded
//! memory; output files are written to a temporary file and renamed into place only
//! when everything (including the signature) checked out.

use crate::card;
use crate::config::Global;
use crate::error::{CliError, Exit, context};
use crate::key;
use crate::output::Output;
use crate::password::PasswordArgs;
use crate::recipients;
use std::io::{self, BufReader, IsTerminal as _, Read};
use std::path::{Path, PathBuf};
use virgil::crypto::Error as CryptoError;
use virgil::stream::{Decryptor, Encryptor, Format};
use virgil::{Error, Key, PublicKey, RecipientPolicy};

/// Files at least this large get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 16 * 1024 * 1024;

/// `virgil encrypt` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    virgil encrypt --to bob -o report.pdf.virgil report.pdf\n  \
    echo hi | virgil encrypt --to bob.card --to alice --armor > hi.txt.asc\n  \
    virgil encrypt -R team.txt --to vpk:VksB… -i notes.md -o notes.md.virgil\n\n\
    A recipient is an identity (looked up on the cards service; needs `virgil login`), a\n\
    card (a file holding an exported card, or the card string itself), or a bare public key\n\
    (vpk: and base64, as `virgil key export-public` prints it, or a file holding one). Cards\n\
    are verified against the configured service and application keys; a bare key is not\n\
    vouched for by any directory (the output says so), and with bare keys only no\n\
    configuration or server is needed. -R reads recipients from a file, one per line\n\
    (# comments). A name that looks like a file (has a /, or ends in .card, .pub, .vpk,\n\
    .txt, .json) but does not exist is an error, never looked up as an identity.\n\
    Add yourself with --to if you want to read it later.")]
#[command(group(
    clap::ArgGroup::new("recipients")
        .required(true)
        .multiple(true)
        .args(["to", "recipients_file"])
))]
pub(crate) struct EncryptArgs {
    /// A recipient: an identity, a card (file or string) or a public key (vpk:… or a
    /// file holding one); repeatable.
    #[arg(short = 'r', long = "to", value_name = "RECIPIENT")]
    to: Vec<String>,
    /// Read recipients from FILE, one per line, any form --to takes (# comments);
    /// repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    recipients_file: Vec<PathBuf>,
    /// Sign with this key (the recipients verify it against your card) [default: the
    /// logged-in user's key].
    #[arg(long, value_name = "KEY", conflicts_with = "no_sign")]
    sign_with: Option<String>,
    /// Do not sign (the recipients cannot tell who sent it).
    #[arg(long)]
    no_sign: bool,
    /// Do not add the signing key as a recipient (by default you can read what you
    /// encrypted).
    #[arg(long)]
    no_self: bool,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    files: FileArgs,
    /// Write ASCII armor (base64 lines between BEGIN/END lines) instead of binary.
    #[arg(short, long)]
    armor: bool,
    /// Refuse (before writing anything) if any recipient, your own key included, is a
    /// classic (suite-1) key: one classic recipient lets a future quantum computer read
    /// the message.
    #[arg(long)]
    require_pq: bool,
    /// Print a JSON summary on standard output (needs -o; docs/cli.md has the shape).
    #[arg(long, requires = "output")]
    json: bool,
}

/// Input and output of `encrypt` and `decrypt`.
#[derive(clap::Args, Debug)]
pub(crate) struct FileArgs {
    /// The input file (- for standard input) [default: standard input].
    #[arg(value_name = "INPUT", conflicts_with = "input")]
    file: Option<PathBuf>,
    /// Read from FILE (the same as the INPUT argument).
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write to FILE [default: standard output].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `virgil decrypt` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    virgil decrypt --from alice -o report.pdf report.pdf.virgil\n  \
    virgil decrypt --key bob --from alice.card < hi.txt.asc\n  \
    virgil decrypt --allow-unsigned -o notes.md notes.md.virgil\n\n\
    Armored input is recognised. With --from, the message must be signed by one of those\n\
    cards or nothing is written to -o. Without --from, decrypt refuses (exit 3) unless\n\
    --allow-unsigned says to skip the check. The key is --key, else the logged-in user's,\n\
    else the only local key. On failure the output file is not created and the exit code is 3.\n\
    To standard output, plaintext is written as it is verified chunk by chunk: on failure\n\
    some of it may have been written already; use -o to get all or nothing.")]
pub(crate) struct DecryptArgs {
    /// The recipient's key (from `virgil key list`) [default: the logged-in user's key,
    /// or the only local key].
    #[arg(long, value_name = "KEY", conflicts_with = "any_key")]
    key: Option<String>,
    /// Use whichever local key the message is for (read from its header; the input must
    /// be a file).
    #[arg(long)]
    any_key: bool,
    /// Require a signature by one of these: identities, card files or card strings, or
    /// public keys (vpk:… or a file holding one, as `virgil key export-public` prints
    /// it; no configuration or server is needed then, and nobody vouches for whose key
    /// it is).
    #[arg(long = "from", value_name = "SENDER")]
    from: Vec<String>,
    /// Decrypt without checking who signed it (without --from, decrypt refuses
    /// otherwise).
    #[arg(long, conflicts_with = "from")]
    allow_unsigned: bool,
    /// Print a JSON summary on standard output (needs -o; docs/cli.md has the shape).
    #[arg(long, requires = "output")]
    json: bool,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    files: FileArgs,
}

impl FileArgs {
    /// The input file; `None` for standard input (no file, or `-`).
    fn path(&self) -> Option<&Path> {
        self.file
            .as_deref()
            .or(self.input.as_deref())
            .filter(|path| path.as_os_str() != "-")
    }
}

/// The logged-in user's name, if there is a session.
fn current_user(global: &Global) -> Result<Option<String>, CliError> {
    Ok(global.saved_session()?.map(|saved| saved.session.username))
}

/// The input and, for a large file on a terminal, a progress bar over it.
fn open_input(
    path: Option<&Path>,
) -> Result<(Box<dyn Read>, Option<indicatif::ProgressBar>), CliError> {
    let Some(path) = path else {
        return Ok((Box::new(io::stdin().lock()), None));
    };
    let file =
        std::fs::File::open(path).map_err(context(format!("cannot open {}", path.display())))?;
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    if length >= PROGRESS_THRESHOLD && io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(length);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        return Ok((Box::new(bar.wrap_read(file)), Some(bar)));
    }
    Ok((Box::new(file), None))
}

/// Encrypts all of `input` to `output`, signed by `signer` if given.
fn seal<W: io::Write>(
    input: &mut dyn io::Read,
    output: W,
    signer: Option<&Key>,
    recipients: &[&PublicKey],
    format: Format,
) -> Result<W, Error> {
    let mut writer = match signer {
        Some(signer) => Encryptor::signed(output, signer, recipients, format)?,
        None => Encryptor::unsigned(output, recipients, format)?,
    };
    io::copy(input, &mut writer)?;
    writer.finish()
}

/// `virgil encrypt`.
pub(crate) fn encrypt(global: &Global, args: EncryptArgs) -> Result<(), CliError> {
    if args.files.output.is_none() && !args.armor && io::stdout().is_terminal() {
        return Err(CliError::new(
            "refusing to write binary ciphertext to the terminal: pass -o FILE, --armor, or redirect the output",
        ));
    }
    let (recipients, bare_keys) = resolve_recipients(global, &args)?;
    let keys: Vec<&PublicKey> = recipients
        .iter()
        .map(|card| card.public_key())
        .chain(bare_keys.iter())
        .collect();
    // Signed by default with the logged-in user's key, who can then read it too.
    let signer_name = match (&args.sign_with, args.no_sign) {
        (Some(name), _) => Some(name.clone()),
        (None, true) => None,
        (None, false) => current_user(global)?,
    };
    let signer = match &signer_name {
        Some(name) => {
            Some(key::load(&global.keys()?, name, &args.password)?.with_own_copy(!args.no_self))
        }
        None => None,
    };
    // The facade adds the signer's own key (unless --no-self); name it when it is new.
    let self_included = signer
        .as_ref()
        .is_some_and(|key| !args.no_self && !keys.contains(&key.public_key()));
    let policy = recipient_policy(global, &args);
    let signer = signer.map(|key| key.with_recipient_policy(policy));
    policy
        .check_recipients(&recipients)
        .and_then(|()| policy.check_recipients(&bare_keys))
        .map_err(|refused| refused_classic(refused, ""))?;
    let (mut input, bar) = open_input(args.files.path())?;
    let output = Output::open(args.files.output.as_deref())?;
    let format = if args.armor {
        Format::Armored
    } else {
        Format::Binary
    };
    let output = seal(&mut input, output, signer.as_ref(), &keys, format).map_err(|e| match e {
        Error::Crypto(e) => CliError::new(format!("cannot encrypt: {e}")),
        Error::Io(e) => CliError::new(format!("cannot encrypt: {e}")),
        // The recipients passed above: what the signer's policy refuses is its own copy.
        refused @ Error::NotPostQuantum { .. } => {
            refused_classic(refused, " (you get a copy; --no-self opts out)")
        }
        other => CliError::from(other),
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    output.commit()?;
    let signed_by = signer_name.as_deref().zip(signer.as_ref());
    report(&args, &recipients, &bare_keys, signed_by, self_included)
}

/// The cards (looked up and reviewed) and bare keys `--to` and `-R` name. Bare keys need
/// no directory: only cards and identities need the configuration.
fn resolve_recipients(
    global: &Global,
    args: &EncryptArgs,
) -> Result<(Vec<virgil::Card>, Vec<PublicKey>), CliError> {
    let mut named = Vec::new();
    for argument in &args.to {
        named.push(recipients::parse(argument)?);
    }
    for path in &args.recipients_file {
        named.extend(recipients::parse_file(path)?);
    }
    if named.is_empty() {
        return Err(CliError::new(
            "no recipients: the recipients files hold none (see `virgil encrypt --help`)",
        ));
    }
    Ok(
        if named
            .iter()
            .all(|named| matches!(named, recipients::Named::Key(_)))
        {
            let keys = named
                .into_iter()
                .filter_map(|named| match named {
                    recipients::Named::Key(key) => Some(key),
                    _ => None,
                })
                .collect();
            (Vec::new(), keys)
        } else {
            let virgil = global.virgil()?;
            let resolved = card::resolve_named(&virgil, named)?;
            global.keep_refreshed_session(&virgil)?;
            resolved
        },
    )
}

/// `--require-pq`, or the deployment's `require_post_quantum` (client.toml): the
/// facade's policy, checked on the cards, the bare keys and (signed) the own copy before
/// anything is written.
fn recipient_policy(global: &Global, args: &EncryptArgs) -> RecipientPolicy {
    if args.require_pq
        || global
            .client_config()
            .is_ok_and(|config| config.file.require_post_quantum)
    {
        RecipientPolicy::RequirePostQuantum
    } else {
        RecipientPolicy::AnySuite
    }
}

/// What the user hears when the policy refused a classic (suite-1) recipient: a card, a
/// bare key, or the signer's own key when it gets a copy (`hint` says how to opt out).
fn refused_classic(error: Error, hint: &str) -> CliError {
    let Error::NotPostQuantum { whose } = error else {
        return CliError::from(error);
    };
    CliError::with(
        Exit::Rejected,
        format!(
            "post-quantum recipients required (--require-pq or require_post_quantum in client.toml): {whose}{hint} is a classic (suite-1) key; nothing was encrypted. Its owner can move to a post-quantum key (`virgil key generate --suite pq NEW`, then `virgil card publish --key NEW --link-from OLD`)"
        ),
    )
}

/// What `virgil encrypt` tells the user: each recipient and its suite, and who signed,
/// on standard error; the same as JSON with `--json`.
fn report(
    args: &EncryptArgs,
    recipients: &[virgil::Card],
    bare_keys: &[PublicKey],
    signed_by: Option<(&str, &Key)>,
    self_included: bool,
) -> Result<(), CliError> {
    let mut names: Vec<String> = recipients
        .iter()
        .map(|card| format!("{} ({})", card.identity(), card.public_key().suite().name()))
        .chain(bare_keys.iter().map(|key| {
            format!(
                "key {} ({}; a bare key: not verified by any directory)",
                recipients::key_short(key),
                key.suite().name()
            )
        }))
        .collect();
    if let (true, Some((name, key))) = (self_included, signed_by) {
        names.push(format!("you (key {name:?}, {})", key.suite().name()));
    }
    let signed = match (signed_by, args.no_sign) {
        (Some((name, _)), _) => format!("; signed with key {name:?}"),
        (None, true) => " (not signed: --no-sign)".to_owned(),
        (None, false) => {
            " (not signed: not logged in; --sign-with KEY signs with a key of yours)".to_owned()
        }
    };
    eprintln!("encrypted for {}{signed}", names.join(", "));
    if args.json {
        let mut listed: Vec<serde_json::Value> = recipients
            .iter()
            .map(|card| {
                serde_json::json!({
                    "identity": card.identity(),
                    "card": card.id().to_string(),
                    "suite": card.public_key().suite().name(),
                })
            })
            .chain(bare_keys.iter().map(|key| {
                serde_json::json!({"key": recipients::key_string(key), "suite": key.suite().name()})
            }))
            .collect();
        if let (true, Some((name, _))) = (self_included, signed_by) {
            listed.push(serde_json::json!({"self": name}));
        }
        crate::output::print_json(&serde_json::json!({
            "recipients": listed,
            "signed_by": signed_by.map(|(name, _)| name),
            "output": args.files.output.as_ref().map(|path| path.display().to_string()),
        }))?;
    }
    Ok(())
}

/// `virgil decrypt`.
pub(crate) fn decrypt(global: &Global, args: DecryptArgs) -> Result<(), CliError> {
    let named = args
        .from
        .iter()
        .map(|argument| crate::recipients::parse(argument))
        .collect::<Result<Vec<_>, _>>()?;
    // Bare keys are checked as they are; cards and identities need the configuration.
    let (sender_keys, named): (Vec<_>, Vec<_>) = named
        .into_iter()
        .partition(|named| matches!(named, crate::recipients::Named::Key(_)));
    let sender_keys: Vec<virgil::PublicKey> = sender_keys
        .into_iter()
        .filter_map(|named| match named {
            crate::recipients::Named::Key(key) => Some(key),
            _ => None,
        })
        .collect();
    if !sender_keys.is_empty() && !named.is_empty() {
        return Err(CliError::new(
            "--from takes cards and identities, or public keys, not both in one decrypt",
        ));
    }
    let senders = if named.is_empty() {
        Vec::new()
    } else {
        let virgil = global.virgil()?;
        let (senders, _) = card::resolve_named(&virgil, named)?;
        global.keep_refreshed_session(&virgil)?;
        senders
    };
    let store = global.keys()?;
    let key_name = match (&args.key, args.any_key) {
        (Some(name), _) => name.clone(),
        (None, true) => key_for(&store, args.files.path())?,
        (None, false) => default_key(global, &store)?,
    };
    let key = key::load(&store, &key_name, &args.password)?;
    let (input, bar) = open_input(args.files.path())?;
    let input = BufReader::new(input);
    let mut reader = if !sender_keys.is_empty() {
        Decryptor::verified_by_keys(input, &key, &sender_keys)
    } else if senders.is_empty() {
        Decryptor::unverified(input, &key)
    } else {
        Decryptor::verified(input, &key, &senders)
    }
    .map_err(|e| rejected(e, &args, &key_name))?;
    // Nobody to check the signature against: refuse before any plaintext is written.
    if senders.is_empty() && sender_keys.is_empty() && !args.allow_unsigned {
        return Err(CliError::with(
            Exit::Rejected,
            "cannot verify who sent it: pass --from SENDER (an identity or a card) to check the signature, or --allow-unsigned to decrypt without checking; nothing was written",
        ));
    }
    let mut output = Output::open(args.files.output.as_deref())?;
    reader
        .copy_to(&mut output)
        .map_err(|e| rejected(e, &args, &key_name))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let sender = reader.sender();
    let sender_key = reader.sender_key().filter(|_| sender.is_none());
    output.commit()?;
    if args.json {
        crate::output::print_json(&serde_json::json!({
            "key": key_name,
            "verified": sender.is_some() || sender_key.is_some(),
            "sender": sender.map(|card| serde_json::json!({
                "identity": card.identity(),
                "card": card.id().to_string(),
            })),
            "sender_key": sender_key.map(crate::recipients::key_string),
            "output": args.files.output.as_ref().map(|path| path.display().to_string()),
        }))?;
    }
    match (sender, sender_key) {
        (Some(card), _) => {
            eprintln!(
                "decrypted; signature verified: from {} (card {})",
                card.identity(),
                card.id()
            );
        }
        (None, Some(public_key)) => eprintln!(
            "decrypted; signature verified: from key {} (a bare key: no card vouches for whose it is)",
            crate::recipients::key_short(public_key)
        ),
        (None, None) => eprintln!(
            "decrypted with key {key_name:?}; WARNING: the sender was not verified (--allow-unsigned; pass --from to require a signature)"
        ),
    }
    Ok(())
}

/// `--any-key`: the first local key the message at `path` is encrypted for.
fn key_for(store: &virgil::Keys, path: Option<&Path>) -> Result<String, CliError> {
    let path = path.ok_or_else(|| {
        CliError::new("--any-key reads the message twice: give it as a file, not standard input")
    })?;
    let file =
        std::fs::File::open(path).map_err(context(format!("cannot open {}", path.display())))?;
    let recipients = virgil::stream::recipients(BufReader::new(file)).map_err(|error| {
        CliError::with(
            Exit::Rejected,
            format!("cannot read the message's recipients: {error}"),
        )
    })?;
    let listing = store.list()?;
    listing
        .entries
        .iter()
        .find(|entry| recipients.contains(&entry.key_id))
        .map(|entry| entry.name.as_str().to_owned())
        .ok_or_else(|| {
            CliError::with(
                Exit::Rejected,
                format!(
                    "not encrypted for any of the {} key(s) here",
                    listing.entries.len()
                ),
            )
        })
}

/// The key `decrypt` uses without --key: the logged-in user's, else the only local key.
fn default_key(global: &Global, store: &virgil::Keys) -> Result<String, CliError> {
    if let Some(user) = current_user(global)? {
        return Ok(user);
    }
    let names: Vec<String> = store
        .list()?
        .entries
        .into_iter()
        .map(|entry| entry.name.as_str().to_owned())
        .collect();
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CliError::new(
            "no keys here: `virgil key generate NAME` makes one, or pass --key",
        )),
        many => Err(CliError::new(format!(
            "not logged in and {} keys here ({}): pass --key NAME, or --any-key to use whichever the message is encrypted for",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// The message for a failed decryption: clear to the user, nothing for an attacker.
fn rejected(error: Error, args: &DecryptArgs, key_name: &str) -> CliError {
    let message = match error {
        Error::NotForThisKey { .. } => format!("not encrypted for key {key_name:?}"),
        Error::WrongSender { expected } => {
            format!("signature does not match the sender's card ({expected})")
        }
        Error::NotSigned { expected } => {
            format!("the message is not signed, but --from {expected} requires a signature")
        }
        Error::Crypto(CryptoError::Corrupted) => "the message was modified or cut short".to_owned(),
        Error::Crypto(CryptoError::Malformed) => {
            "not a virgil message, or its header is damaged".to_owned()
        }
        Error::Crypto(CryptoError::UnsupportedVersion) => {
            "the message was made by a newer version of virgil".to_owned()
        }
        Error::Crypto(other) => other.to_string(),
        Error::Io(e) if e.kind() == io::ErrorKind::InvalidData => e.to_string(),
        Error::Io(e) => return CliError::new(format!("cannot decrypt: {e}")),
        other => return CliError::from(other),
    };
    let nothing_written = if args.files.output.is_some() {
        "; nothing was written"
    } else {
        ""
    };
    CliError::with(
        Exit::Rejected,
        format!("cannot decrypt: {message}{nothing_written}"),
    )
}
