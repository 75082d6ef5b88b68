//! The exception hierarchy and how facade errors map onto it.
//!
//! `VirgilError` is the base of everything the SDK raises; the message is the facade's
//! (the same words the CLI prints). Decryption and verification failures say only what
//! the user can check.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    virgil,
    VirgilError,
    PyException,
    "Base class of every error the Virgil SDK raises."
);
create_exception!(
    virgil,
    DecryptionError,
    VirgilError,
    "The message cannot be decrypted: not encrypted for this key, or damaged or modified."
);
create_exception!(
    virgil,
    VerificationError,
    VirgilError,
    "A signature or card does not verify: wrong sender, not signed, untrusted card."
);
create_exception!(
    virgil,
    KeyNotFound,
    VirgilError,
    "No key is saved under this name."
);
create_exception!(
    virgil,
    KeyExists,
    VirgilError,
    "A key is saved under this name already; it was not replaced."
);
create_exception!(
    virgil,
    WrongPassword,
    VirgilError,
    "The password does not unlock this key."
);
create_exception!(
    virgil,
    CardNotFound,
    VirgilError,
    "An identity has no active card (not registered, or revoked)."
);
create_exception!(
    virgil,
    ServiceError,
    VirgilError,
    "A server refused or could not be reached; `.code` is the API's error code (or None), `.status` the HTTP status (or None), `.retry_after` the seconds the server asked to wait (or None; 429 and 503)."
);
create_exception!(
    virgil,
    NotLoggedIn,
    VirgilError,
    "This needs a login to the application server (`virgil.account.login`)."
);
create_exception!(
    virgil,
    KeyChangeWarning,
    VerificationError,
    "A contact's keys changed without a link from a card used before: accept (`virgil.contacts.accept`) or verify first. `.identity` names the contact."
);

create_exception!(
    virgil,
    SelfCheckAlarm,
    VerificationError,
    "Your own identity has a card this device's keys did not make and no card of yours links: someone with your password, a session or the application's key added it. `.identity` names you, `.cards` lists the card ids. Revoke it with one of your keys and change your password."
);

create_exception!(
    virgil,
    MonitorAlarm,
    SelfCheckAlarm,
    "The key directory's history of your identity shows a card this device did not make (even one listed for a single epoch), or a revoked card listed again. `.identity` names you, `.cards` lists the card ids. Revoke what you did not make and change your password."
);

create_exception!(
    virgil,
    PairingError,
    VirgilError,
    "Pairing a device did not complete: a wrong code (or someone else answered), a declined or expired pairing, or a request that is not a new device's card."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VirgilError", py.get_type::<VirgilError>())?;
    m.add("DecryptionError", py.get_type::<DecryptionError>())?;
    m.add("VerificationError", py.get_type::<VerificationError>())?;
    m.add("KeyNotFound", py.get_type::<KeyNotFound>())?;
    m.add("KeyExists", py.get_type::<KeyExists>())?;
    m.add("WrongPassword", py.get_type::<WrongPassword>())?;
    m.add("CardNotFound", py.get_type::<CardNotFound>())?;
    m.add("ServiceError", py.get_type::<ServiceError>())?;
    m.add("NotLoggedIn", py.get_type::<NotLoggedIn>())?;
    m.add("KeyChangeWarning", py.get_type::<KeyChangeWarning>())?;
    m.add("SelfCheckAlarm", py.get_type::<SelfCheckAlarm>())?;
    m.add("MonitorAlarm", py.get_type::<MonitorAlarm>())?;
    m.add("PairingError", py.get_type::<PairingError>())?;
    Ok(())
}

/// A facade error as the matching Python exception.
/// A key backup's errors: a wrong backup password is [`WrongPassword`] (not a
/// decryption error), anything else as [`to_py`].
pub(crate) fn backup_to_py(error: virgil::Error) -> PyErr {
    match error {
        virgil::Error::Crypto(virgil::crypto::Error::WrongPassword) => WrongPassword::new_err(
            "wrong backup password (each try counts as a guess: backups.status() shows them)",
        ),
        other => to_py(other),
    }
}

pub(crate) fn to_py(error: virgil::Error) -> PyErr {
    use virgil::Error as E;
    use virgil::keystore::KeyStoreError as K;
    let message = error.to_string();
    match error {
        E::KeyStore(K::NotFound { .. }) => KeyNotFound::new_err(message),
        E::KeyStore(K::AlreadyExists { .. }) => KeyExists::new_err(message),
        E::KeyStore(K::WrongPassword { .. }) => WrongPassword::new_err(message),
        E::Pairing(_) | E::Crypto(virgil::crypto::Error::PairingMismatch) => {
            PairingError::new_err(message)
        }
        E::NotForThisKey { .. } | E::Crypto(_) => DecryptionError::new_err(message),
        E::WrongSender { .. }
        | E::NotSigned { .. }
        | E::SenderHasNoCard { .. }
        | E::CardNotTrusted { .. }
        | E::RevokedCardOffered { .. } => VerificationError::new_err(message),
        E::KeyChanged(change) => with_attributes(
            KeyChangeWarning::new_err(message),
            &[("identity", Some(change.identity))],
            &[],
        ),
        E::SelfCheck(alarm) => {
            let error = with_attributes(
                SelfCheckAlarm::new_err(message),
                &[("identity", Some(alarm.identity.clone()))],
                &[],
            );
            let cards: Vec<String> = alarm.cards.iter().map(|c| c.card.to_string()).collect();
            Python::attach(|py| {
                let _ = error.value(py).setattr("cards", cards);
            });
            error
        }
        E::Monitor(alarm) => {
            let error = with_attributes(
                MonitorAlarm::new_err(message),
                &[("identity", Some(alarm.identity.clone()))],
                &[],
            );
            let mut cards: Vec<String> = alarm
                .today
                .iter()
                .flat_map(|today| today.cards.iter().map(|c| c.card.to_string()))
                .collect();
            for finding in &alarm.findings {
                let card = match finding {
                    virgil::MonitorFinding::Foreign { card, .. }
                    | virgil::MonitorFinding::Returned { card, .. } => card.to_string(),
                    _ => continue,
                };
                if !cards.contains(&card) {
                    cards.push(card);
                }
            }
            Python::attach(|py| {
                let _ = error.value(py).setattr("cards", cards);
            });
            error
        }
        E::OwnIdentity { .. } | E::Directory(_) => VerificationError::new_err(message),
        E::NoCard { .. } => CardNotFound::new_err(message),
        E::NotLoggedIn => NotLoggedIn::new_err(message),
        E::NoSenderCards => pyo3::exceptions::PyValueError::new_err(message),
        E::CardsService(client) | E::AppServer(client) => service_error(message, &client),
        _ => VirgilError::new_err(message),
    }
}

fn service_error(message: String, error: &virgil::client::ClientError) -> PyErr {
    use virgil::client::ClientError as C;
    match error {
        C::Api {
            status,
            code,
            retry_after_seconds,
            ..
        } => {
            let error = with_attributes(
                ServiceError::new_err(message),
                &[("code", Some(code.to_string()))],
                &[("status", Some(*status))],
            );
            Python::attach(|py| {
                let _ = error.value(py).setattr("retry_after", *retry_after_seconds);
            });
            error
        }
        C::Verification(_)
        | C::Status(_)
        | C::Checkpoint(_)
        | C::Directory(_)
        | C::BackupKeyNotSigned
        | C::BackupProof => VerificationError::new_err(message),
        _ => with_attributes(
            ServiceError::new_err(message),
            &[("code", None)],
            &[("status", None), ("retry_after", None)],
        ),
    }
}

fn with_attributes(
    error: PyErr,
    texts: &[(&str, Option<String>)],
    numbers: &[(&str, Option<u16>)],
) -> PyErr {
    Python::attach(|py| {
        let value = error.value(py);
        for (name, text) in texts {
            // Setting an attribute on a fresh exception object cannot fail in practice;
            // if it did, the exception is still raised with its message.
            let _ = value.setattr(*name, text.clone());
        }
        for (name, number) in numbers {
            let _ = value.setattr(*name, *number);
        }
    });
    error
}
