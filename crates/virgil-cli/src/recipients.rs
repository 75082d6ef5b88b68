//! Who a message is for, as the user names them (like age's recipients): an identity
//! looked up on the cards service, a card (a string, or a file holding one), or a bare
//! public key (`vpk:` and base64, as `virgil key export-public` prints it; or a file
//! holding one). `-R FILE` reads many, one per line.
//!
//! The rules, in order, so that nothing is ever mistaken for something else:
//! 1. `vpk:…` is a public key (never an identity: usernames cannot contain `:`);
//! 2. an existing file is read: a public key string or a card in it;
//! 3. a card string is a card;
//! 4. base64 of a valid public key without the prefix (older `export-public` output) is
//!    that key;
//! 5. something that looks like a path (has a `/`, or ends in `.card`, `.pub`, `.vpk`,
//!    `.txt` or `.json`) but does not exist is a missing file, not a name;
//! 6. anything else is an identity.

use crate::error::{CliError, context};
use std::io::Read as _;
use std::path::Path;
use virgil::crypto::encoding::{from_base64, to_base64};
use virgil::{Card, PublicKey};

/// The prefix of a public key string.
pub(crate) const KEY_PREFIX: &str = "vpk:";

/// The largest file read as a recipient or a recipients file.
const MAX_FILE_LEN: u64 = 1024 * 1024;

/// File name endings that say "this is a file", so a typo is not looked up as a name.
const FILE_ENDINGS: [&str; 5] = [".card", ".pub", ".vpk", ".txt", ".json"];

/// What another tool's recipient string is, if `argument` looks like one: `virgil` does
/// not encrypt to those, and must not take them for a user's name.
fn foreign_recipient(argument: &str) -> Option<&'static str> {
    const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let age = argument.len() == 62
        && argument
            .strip_prefix("age1")
            .is_some_and(|data| data.chars().all(|c| BECH32.contains(c)));
    if age {
        Some("an age recipient")
    } else if argument.starts_with("AGE-SECRET-KEY-") {
        Some("an age secret key (keep it secret)")
    } else if argument.starts_with("ssh-") || argument.starts_with("ecdsa-sha2-") {
        Some("an SSH public key")
    } else if argument.starts_with("-----BEGIN PGP") {
        Some("an OpenPGP key")
    } else {
        None
    }
}

/// One recipient, as given.
#[derive(Debug)]
pub(crate) enum Named {
    /// Look this identity up.
    Identity(String),
    /// A card (still to be verified against the pinned keys).
    Card(Box<Card>),
    /// A bare public key: no directory vouches for it.
    Key(PublicKey),
}

/// `key` as a public key string: `vpk:` and base64 of its encoding (100 or 1251 bytes).
pub(crate) fn key_string(key: &PublicKey) -> String {
    format!("{KEY_PREFIX}{}", to_base64(key.as_bytes()))
}

/// A shortened public key string for messages.
pub(crate) fn key_short(key: &PublicKey) -> String {
    key_string(key).chars().take(16).collect::<String>() + "…"
}

fn parse_key(text: &str, what: &str) -> Result<PublicKey, CliError> {
    let encoded = text.strip_prefix(KEY_PREFIX).unwrap_or(text);
    from_base64(encoded.trim())
        .ok()
        .and_then(|bytes| PublicKey::from_bytes(&bytes).ok())
        .ok_or_else(|| {
            CliError::new(format!(
                "{what} is not a valid public key string (`virgil key export-public` prints one: vpk: and base64)"
            ))
        })
}

fn read_limited(path: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_LEN).read_to_string(&mut text))
        .map_err(context(format!("cannot read {}", path.display())))?;
    Ok(text)
}

/// Reads one recipient argument (rules in the module docs).
pub(crate) fn parse(argument: &str) -> Result<Named, CliError> {
    let argument = argument.trim();
    if argument.starts_with(KEY_PREFIX) {
        return Ok(Named::Key(parse_key(argument, "the argument")?));
    }
    let path = Path::new(argument);
    if path.is_file() {
        let text = read_limited(path)?;
        let text = text.trim();
        if text.starts_with(KEY_PREFIX) {
            return Ok(Named::Key(parse_key(text, &path.display().to_string())?));
        }
        return Card::import(text)
            .map(|card| Named::Card(Box::new(card)))
            .map_err(|_| {
                CliError::new(format!(
                    "{} holds neither a card nor a public key string",
                    path.display()
                ))
            });
    }
    if let Ok(card) = Card::import(argument) {
        return Ok(Named::Card(Box::new(card)));
    }
    if let Some(key) = from_base64(argument)
        .ok()
        .and_then(|bytes| PublicKey::from_bytes(&bytes).ok())
    {
        return Ok(Named::Key(key));
    }
    let looks_like_a_path = argument.contains('/')
        || argument.contains('\\')
        || FILE_ENDINGS.iter().any(|ending| argument.ends_with(ending));
    if looks_like_a_path {
        return Err(CliError::new(format!("no such file: {argument}")));
    }
    if let Some(what) = foreign_recipient(argument) {
        return Err(CliError::new(format!(
            "not a recipient virgil understands: that is {what}. Give an identity, a card file, or a public key string from `virgil key export-public` ({KEY_PREFIX}…)"
        )));
    }
    Ok(Named::Identity(argument.to_owned()))
}

/// Reads a recipients file: one recipient per line (any form [`parse`] takes); blank
/// lines and lines starting with `#` are skipped.
pub(crate) fn parse_file(path: &Path) -> Result<Vec<Named>, CliError> {
    if !path.is_file() {
        return Err(CliError::new(format!(
            "no such recipients file: {}",
            path.display()
        )));
    }
    read_limited(path)?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .enumerate()
        .map(|(index, line)| {
            parse(line).map_err(|e| {
                CliError::new(format!(
                    "{}, recipient {}: {}",
                    path.display(),
                    index + 1,
                    e.message
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn each_form_is_read_as_what_it_is() {
        let key = virgil::crypto::PrivateKey::from_seed(&[4; 32]).unwrap();
        let public = key.public_key().clone();
        assert!(matches!(parse(&key_string(&public)).unwrap(), Named::Key(k) if k == public));
        // Older export-public output, without the prefix, is still the key.
        assert!(matches!(
            parse(&to_base64(public.as_bytes())).unwrap(),
            Named::Key(k) if k == public
        ));
        assert!(matches!(parse("bob").unwrap(), Named::Identity(name) if name == "bob"));
        assert!(matches!(
            parse("bob@example.com").unwrap(),
            Named::Identity(_)
        ));
        for typo in ["alice.card", "./keys/bob", "bob.pub"] {
            let error = parse(typo).unwrap_err();
            assert!(error.message.contains("no such file"), "{}", error.message);
        }
        assert!(parse("vpk:AAAA").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bob.pub");
        std::fs::write(&file, format!("{}\n", key_string(&public))).unwrap();
        assert!(matches!(
            parse(file.to_str().unwrap()).unwrap(),
            Named::Key(_)
        ));
        let junk = dir.path().join("junk.txt");
        std::fs::write(&junk, "hello").unwrap();
        assert!(
            parse(junk.to_str().unwrap())
                .unwrap_err()
                .message
                .contains("neither a card nor a public key")
        );
        let list = dir.path().join("recipients");
        std::fs::write(&list, format!("# team\n\nbob\n{}\n", key_string(&public))).unwrap();
        let parsed = parse_file(&list).unwrap();
        assert_eq!(parsed.len(), 2);
        std::fs::write(&list, "bob\nvpk:nope\n").unwrap();
        assert!(
            parse_file(&list)
                .unwrap_err()
                .message
                .contains("recipient 2")
        );
    }
}
