//! Key backup and restore ([`Virgil::backups`]): the private key, locked with a backup
//! password that the cards service hardens without seeing it, kept by the application
//! server, which cannot open it. Every guess at the password costs an evaluation the
//! cards service counts and limits per identity (docs/security.md, key backup).
//!
//! ```no_run
//! # fn run(virgil: &virgil::Virgil, key: &virgil::Key) -> Result<(), virgil::Error> {
//! // On the first device, logged in:
//! virgil.backups().backup(key, "backup password, not the account's", None)?;
//! // On a new device, logged in as the same user:
//! let restored = virgil.backups().restore("backup password, not the account's")?;
//! assert_eq!(restored.public_key(), key.public_key());
//! # Ok(()) }
//! ```

use crate::{Error, Key, Virgil};
use virgil_api::cards::BackupGuesses;
use virgil_card::CardIdentity;
use virgil_client::ClientError;
use virgil_crypto::keyblob::{self, Params};

/// A stored backup, and the guesses spent on its password ([`Backups::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupStatus {
    /// When the application server stored the backup; `None`: there is none.
    pub stored_at: Option<u64>,
    /// The backup-password evaluations the cards service answered for this identity.
    pub guesses: BackupGuesses,
}

/// Key backup of the logged-in user ([`Virgil::backups`]).
pub struct Backups<'a> {
    pub(crate) virgil: &'a Virgil,
}

impl Backups<'_> {
    fn owner(&self) -> Result<CardIdentity, Error> {
        let session = self.virgil.remote.session()?;
        Ok(CardIdentity::new(&self.virgil.app_id, &session.username))
    }

    fn harden(
        &self,
        owner: &CardIdentity,
        password: &str,
    ) -> Result<keyblob::HardenedPassword, Error> {
        let (hardened, _) = self
            .virgil
            .remote
            .cards()?
            .harden_password(owner, password.as_bytes())
            .map_err(Error::CardsService)?;
        Ok(hardened)
    }

    /// Backs `key` up under `backup_password` (one guess at the cards service, then
    /// the key blob's PBKDF2 here) and stores it at the application server; returns
    /// when it was stored. A user who has a backup replaces it only with
    /// `account_password` (without it, the application server's
    /// `reauthentication_required` is returned before any guess is spent).
    pub fn backup(
        &self,
        key: &Key,
        backup_password: &str,
        account_password: Option<&str>,
    ) -> Result<u64, Error> {
        let owner = self.owner()?;
        if account_password.is_none() {
            let session = self.virgil.remote.session()?;
            match self.virgil.remote.app()?.fetch_backup(&session.response) {
                Ok(_) => {
                    return Err(Error::AppServer(ClientError::Api {
                        status: 401,
                        code: virgil_api::ErrorCode::ReauthenticationRequired,
                        message: "you have a key backup already: give your account password to replace it".to_owned(),
                        retry_after_seconds: None,
                    }));
                }
                Err(ClientError::Api {
                    code: virgil_api::ErrorCode::NoBackup,
                    ..
                }) => {}
                Err(other) => return Err(Error::AppServer(other)),
            }
        }
        let hardened = self.harden(&owner, backup_password)?;
        let blob = keyblob::lock_hardened(key.private_key(), &hardened, Params::default())?;
        let session = self.virgil.remote.session()?;
        let stored = self
            .virgil
            .remote
            .app()?
            .store_backup(&session.response, &blob, account_password)
            .map_err(Error::AppServer)?;
        Ok(stored.stored_at)
    }

    /// Restores the key from the backup: downloads it, hardens `backup_password` (one
    /// guess) and unlocks it here. A wrong password is
    /// [`virgil_crypto::Error::WrongPassword`]; nothing is saved (save the key yourself,
    /// e.g. with [`crate::Keys::save`]).
    pub fn restore(&self, backup_password: &str) -> Result<Key, Error> {
        let owner = self.owner()?;
        let session = self.virgil.remote.session()?;
        let backup = self
            .virgil
            .remote
            .app()?
            .fetch_backup(&session.response)
            .map_err(Error::AppServer)?;
        let blob = virgil_crypto::encoding::from_base64(&backup.blob)
            .map_err(|_| Error::Crypto(virgil_crypto::Error::Malformed))?;
        // Check the blob before spending a guess on it.
        if !keyblob::is_hardened(&blob)? {
            return Err(
                virgil_crypto::Error::Misuse(virgil_crypto::Misuse::NotHardenedBlob).into(),
            );
        }
        let hardened = self.harden(&owner, backup_password)?;
        let key = keyblob::unlock_hardened(&blob, &hardened)?;
        Ok(Key::from_private_key(key))
    }

    /// Changes the backup password: restores with `old` (one guess), backs the same key
    /// up under `new` (another) and replaces the stored backup (`account_password`).
    pub fn change_password(
        &self,
        old: &str,
        new: &str,
        account_password: &str,
    ) -> Result<(), Error> {
        let key = self.restore(old)?;
        self.backup(&key, new, Some(account_password))?;
        Ok(())
    }

    /// Deletes the stored backup (the account password again).
    pub fn delete(&self, account_password: &str) -> Result<(), Error> {
        let session = self.virgil.remote.session()?;
        self.virgil
            .remote
            .app()?
            .delete_backup(&session.response, account_password)
            .map_err(Error::AppServer)
    }

    /// Whether a backup is stored, and how many guesses its password has cost so far
    /// (more than you made: someone else is guessing; change the backup password).
    pub fn status(&self) -> Result<BackupStatus, Error> {
        let session = self.virgil.remote.session()?;
        let stored_at = match self.virgil.remote.app()?.fetch_backup(&session.response) {
            Ok(backup) => Some(backup.stored_at),
            Err(ClientError::Api {
                code: virgil_api::ErrorCode::NoBackup,
                ..
            }) => None,
            Err(other) => return Err(Error::AppServer(other)),
        };
        let guesses = self
            .virgil
            .remote
            .cards()?
            .backup_guesses()
            .map_err(Error::CardsService)?;
        Ok(BackupStatus { stored_at, guesses })
    }
}

impl Virgil {
    /// Key backup and restore for the logged-in user.
    pub fn backups(&self) -> Backups<'_> {
        Backups { virgil: self }
    }
}
