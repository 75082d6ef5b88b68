//! `virgil encrypt` and `virgil decrypt`: streaming, so any size works in bounded
//! memory; output files are written to a temporary file and renamed into place only
//! when everything (including the signature) checked out.

use crate::cards;
use crate::config::Global;
use crate::error::{CliError, Exit, context};
use crate::keys;
use crate::output::Output;
use crate::password::PasswordArgs;
use crate::recipients;
use std::io::{self, BufReader, IsTerminal as _, Read};
use std::path::{Path, PathBuf};
use virgil::crypto::Error as CryptoError;
use virgil::stream::{Decryptor, Format};
use virgil::{Error, PublicKey};

/// Files at least this large get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 16 * 1024 * 1024;

/// `virgil encrypt` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    virgil encrypt --to bob --sign-with alice -i report.pdf -o report.pdf.virgil\n  \
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
    /// Sign with this key (the recipients verify it against your card). Without it the
    /// message is encrypted but not signed.
    #[arg(long, value_name = "KEY")]
    sign_with: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    files: FileArgs,
    /// Write ASCII armor (base64 lines between BEGIN/END lines) instead of binary.
    #[arg(short, long)]
    armor: bool,
}

/// Input and output of `encrypt` and `decrypt`.
#[derive(clap::Args, Debug)]
pub(crate) struct FileArgs {
    /// Read from FILE [default: standard input].
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write to FILE [default: standard output].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `virgil decrypt` options.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    virgil decrypt --key bob --from alice -i report.pdf.virgil -o report.pdf\n  \
    virgil decrypt --key bob --from alice.card < hi.txt.asc\n\n\
    Armored input is recognised. With --from, the message must be signed by one of those\n\
    cards or nothing is written to -o. Without --from, the signature is not checked (a\n\
    warning says so). On failure the output file is not created and the exit code is 3.\n\
    To standard output, plaintext is written as it is verified chunk by chunk: on failure\n\
    some of it may have been written already; use -o to get all or nothing.")]
pub(crate) struct DecryptArgs {
    /// The recipient's key (from `virgil key list`).
    #[arg(long, value_name = "KEY")]
    key: String,
    /// Require a signature by one of these: identities, card files or card strings.
    #[arg(long = "from", value_name = "CARD_OR_IDENTITY")]
    from: Vec<String>,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    files: FileArgs,
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

/// `virgil encrypt`.
pub(crate) fn encrypt(global: &Global, args: EncryptArgs) -> Result<(), CliError> {
    if args.files.output.is_none() && !args.armor && io::stdout().is_terminal() {
        return Err(CliError::new(
            "refusing to write binary ciphertext to the terminal: pass -o FILE, --armor, or redirect the output",
        ));
    }
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
    // Bare keys need no directory: only cards and identities need the configuration.
    let (recipients, bare_keys) = if named
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
        let resolved = cards::resolve_named(&virgil, named)?;
        global.keep_refreshed_session(&virgil)?;
        resolved
    };
    let keys: Vec<&PublicKey> = recipients
        .iter()
        .map(|card| card.public_key())
        .chain(bare_keys.iter())
        .collect();
    let signer = match &args.sign_with {
        Some(name) => Some(keys::load(&global.keys()?, name, &args.password)?),
        None => None,
    };
    let (mut input, bar) = open_input(args.files.input.as_deref())?;
    let output = Output::open(args.files.output.as_deref())?;
    let format = if args.armor {
        Format::Armored
    } else {
        Format::Binary
    };
    let output = virgil::stream::encrypt(&mut input, output, signer.as_ref(), &keys, format)
        .map_err(|e| match e {
            Error::Crypto(e) => CliError::new(format!("cannot encrypt: {e}")),
            Error::Io(e) => CliError::new(format!("cannot encrypt: {e}")),
            other => CliError::from(other),
        })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    output.commit()?;
    let names: Vec<String> = recipients
        .iter()
        .map(|card| card.identity().to_owned())
        .chain(bare_keys.iter().map(|key| {
            format!(
                "key {} (a bare key: not verified by any directory)",
                recipients::key_short(key)
            )
        }))
        .collect();
    eprintln!(
        "encrypted for {}{}",
        names.join(", "),
        if signer.is_some() {
            ", signed"
        } else {
            " (not signed)"
        }
    );
    Ok(())
}

/// `virgil decrypt`.
pub(crate) fn decrypt(global: &Global, args: DecryptArgs) -> Result<(), CliError> {
    let senders = if args.from.is_empty() {
        Vec::new()
    } else {
        let virgil = global.virgil()?;
        let senders = cards::resolve(&virgil, &args.from)?;
        global.keep_refreshed_session(&virgil)?;
        senders
    };
    let key = keys::load(&global.keys()?, &args.key, &args.password)?;
    let (input, bar) = open_input(args.files.input.as_deref())?;
    let mut reader =
        Decryptor::new(BufReader::new(input), &key, &senders).map_err(|e| rejected(e, &args))?;
    let mut output = Output::open(args.files.output.as_deref())?;
    reader
        .copy_to(&mut output)
        .map_err(|e| rejected(e, &args))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let sender = reader.sender();
    output.commit()?;
    match sender {
        Some(card) => {
            eprintln!(
                "decrypted; signature verified: from {} (card {})",
                card.identity(),
                card.id()
            );
        }
        None => eprintln!(
            "decrypted; WARNING: the sender was not verified (pass --from to require a signature)"
        ),
    }
    Ok(())
}

/// The message for a failed decryption: clear to the user, nothing for an attacker.
fn rejected(error: Error, args: &DecryptArgs) -> CliError {
    let message = match error {
        Error::NotForThisKey { .. } => format!("not encrypted for key {:?}", args.key),
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
