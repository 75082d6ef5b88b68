//! Monitoring the user's own identity in the key directory (docs/key-directory.md,
//! "Monitoring"): the self-check of today's cards, and the proven history of every
//! version of the identity's entry, so that a card the directory showed anyone for a
//! single epoch — and then hid again — is seen by the owner's devices too.

use crate::{CardId, Error, SelfCheck, SelfCheckAlarm, Virgil};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use virgil_api::cards::CardStatus;

/// What the key directory showed for the user's identity that this device did not make.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorFinding {
    /// A card that no key of this device made and no card of it links, listed from
    /// `epoch` on.
    Foreign {
        /// The card.
        card: CardId,
        /// The first epoch that listed it.
        epoch: u64,
    },
    /// A card that left the entry (revoked or replaced) and was listed again: revoked is
    /// final, so someone un-revoked it (write access to the service's database, or the
    /// service key).
    Returned {
        /// The card.
        card: CardId,
        /// The epoch that listed it again.
        epoch: u64,
    },
}

impl fmt::Display for MonitorFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Foreign { card, epoch } => write!(
                f,
                "card {card}, listed from epoch {epoch}, was not made by this device's keys and no card of yours links it"
            ),
            Self::Returned { card, epoch } => write!(
                f,
                "card {card} was revoked or replaced, and listed as usable again at epoch {epoch}"
            ),
        }
    }
}

/// The monitor's alarm: the directory's history of the user's identity holds cards the
/// user did not make, or a card that came back after it was revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorAlarm {
    /// The user's identity.
    pub identity: String,
    /// Today's cards' alarm ([`Virgil::self_check`]), if they raised one.
    pub today: Option<SelfCheckAlarm>,
    /// What the history showed beyond today's cards, oldest epoch first.
    pub findings: Vec<MonitorFinding>,
}

impl fmt::Display for MonitorAlarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(today) = &self.today {
            write!(f, "{today}")?;
            if self.findings.is_empty() {
                return Ok(());
            }
            f.write_str("; and ")?;
        } else {
            f.write_str("ALARM: ")?;
        }
        write!(
            f,
            "the key directory's history of {} shows what you did not do:",
            self.identity
        )?;
        for finding in &self.findings {
            write!(f, " {finding};")?;
        }
        write!(
            f,
            " someone with your password, a session, the application's key or the service's database changed your cards: revoke what you did not make (`virgil card revoke ID`), change your password, and tell the operator"
        )
    }
}

/// The result of [`Virgil::monitor`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Monitored {
    /// Today's cards ([`Virgil::self_check`]).
    pub check: SelfCheck,
    /// The epoch the history was proven against (`None`: never in the directory).
    pub epoch: Option<u64>,
    /// How many versions of the entry were checked.
    pub versions: usize,
}

impl Virgil {
    /// Checks the user's own identity in the key directory: today's cards as
    /// [`Virgil::self_check`] does, then every version of the identity's entry ever
    /// published, proven complete against a checkpoint signed by the pinned key. Any card
    /// in any version that this device's keys did not make and no card of it links, or
    /// a card listed again after it left the entry (un-revoked), is an
    /// [`Error::Monitor`] alarm with its epoch. Run it at start, after login and before
    /// reading the inbox (the CLI's `login`, `inbox` and `monitor` do).
    pub fn monitor(&self) -> Result<Monitored, Error> {
        let me = self.own_identity().ok_or(Error::NotLoggedIn)?;
        // Today's cards first; an alarm there is reported with the history's findings.
        let today = match self.self_check() {
            Ok(check) => Ok(check),
            Err(Error::SelfCheck(alarm)) => Err(alarm),
            Err(other) => return Err(other),
        };
        let cards = self.remote.cards()?;
        let Some(history) = cards
            .history(&me.app_id, &me.identity)
            .map_err(Error::CardsService)?
        else {
            return today
                .map(|check| Monitored {
                    check,
                    epoch: None,
                    versions: 0,
                })
                .map_err(Error::SelfCheck);
        };
        // Each card's first epoch, and cards that left the entry and came back.
        let mut first: BTreeMap<CardId, u64> = BTreeMap::new();
        let mut left: BTreeSet<CardId> = BTreeSet::new();
        let mut findings = Vec::new();
        let mut previous: BTreeSet<CardId> = BTreeSet::new();
        for version in &history.versions {
            let listed: BTreeSet<CardId> = version.entry.cards().map(|(id, _)| *id).collect();
            for id in &listed {
                first.entry(*id).or_insert(version.since_epoch);
                if left.remove(id) {
                    findings.push(MonitorFinding::Returned {
                        card: *id,
                        epoch: version.since_epoch,
                    });
                }
            }
            left.extend(previous.difference(&listed).copied());
            previous = listed;
        }
        // Cards the device does not know as its own, and that today's self-check did
        // not already trust: fetched, and reviewed as the self-check reviews.
        let trusted: BTreeSet<CardId> = today
            .iter()
            .flat_map(|check| check.cards.iter().map(|found| *found.card.id()))
            .collect();
        let today_foreign: BTreeSet<CardId> = today
            .as_ref()
            .err()
            .into_iter()
            .flat_map(|alarm| alarm.cards.iter().map(|card| card.card))
            .collect();
        let mut book = self.contacts.read()?;
        let own = book.own(&me);
        let local_keys: Vec<_> = self
            .keys
            .list()?
            .entries
            .into_iter()
            .map(|entry| entry.key_id)
            .collect();
        // A card the user revoked with the key of a card this device trusts, after
        // `since` (seconds), was dealt with: no alarm about it again. (The record's
        // request is signed with its time, so an older revocation replayed by someone
        // who can write the database does not count for a later return. Times are
        // whole seconds: a revocation signed in the second of the return could be the
        // old one, so it does not count either.)
        let revoked_by_user = |found: &virgil_client::PublishedCard, since: u64| {
            let Some(virgil_api::cards::RevocationRecord::Owner {
                request,
                signature,
                signer,
            }) = &found.revocation
            else {
                return false;
            };
            let trusted_signer = signer.id != *found.card.id()
                && (trusted.contains(&signer.id)
                    || own.cards.get(&signer.id).is_some()
                    || signer
                        .clone()
                        .into_card()
                        .is_ok_and(|card| local_keys.contains(card.public_key().key_id())));
            trusted_signer
                && virgil_card::status::decode_signed_request(request, signature)
                    .is_ok_and(|(request, _)| request.created_at > since)
        };
        let mut alarms = Vec::new();
        for finding in findings {
            let MonitorFinding::Returned { card, epoch } = &finding else {
                continue;
            };
            // When the card came back, as the service signed it.
            let returned_at = self
                .directory_checkpoint(Some(*epoch))?
                .checkpoint
                .published_at;
            match cards.get(card) {
                Ok(found) if revoked_by_user(&found, returned_at) => {}
                Ok(_)
                | Err(virgil_client::ClientError::Api {
                    code: virgil_api::ErrorCode::CardNotFound,
                    ..
                }) => alarms.push(finding),
                Err(other) => return Err(Error::CardsService(other)),
            }
        }
        for (id, epoch) in &first {
            if trusted.contains(id) || today_foreign.contains(id) || own.cards.get(id).is_some() {
                continue;
            }
            // A card the directory listed for the user that the service cannot show
            // (gone from its database) cannot be the user's either.
            let foreign = match cards.get(id) {
                Ok(found) => {
                    own.review(&[(&found.card, &CardStatus::Active)], &local_keys)
                        .foreign
                        .contains(id)
                        && !revoked_by_user(&found, 0)
                }
                Err(virgil_client::ClientError::Api {
                    code: virgil_api::ErrorCode::CardNotFound,
                    ..
                }) => true,
                Err(other) => return Err(Error::CardsService(other)),
            };
            if foreign {
                alarms.push(MonitorFinding::Foreign {
                    card: *id,
                    epoch: *epoch,
                });
            }
        }
        let today = match today {
            Ok(check) if alarms.is_empty() => check,
            today => {
                alarms.sort_by_key(|finding| match finding {
                    MonitorFinding::Foreign { epoch, .. }
                    | MonitorFinding::Returned { epoch, .. } => *epoch,
                });
                return Err(Error::Monitor(MonitorAlarm {
                    identity: me.identity,
                    today: today.err(),
                    findings: alarms,
                }));
            }
        };
        Ok(Monitored {
            check: today,
            epoch: Some(history.epoch),
            versions: history.versions.len(),
        })
    }
}

impl Virgil {
    /// The newest key directory checkpoint this device accepted (kept beside the
    /// contact store), if any.
    pub fn newest_checkpoint(
        &self,
    ) -> Result<Option<virgil_card::checkpoint::SignedCheckpoint>, Error> {
        self.remote
            .cards()?
            .newest_checkpoint()
            .map_err(Error::CardsService)
    }

    /// A client of the cards service's public directory endpoints (no login needed).
    fn directory_client(&self) -> Result<virgil_client::CardsClient, Error> {
        Ok(
            virgil_client::CardsClient::builder(self.remote.cards_url()?, self.verifier.clone())
                .tls_roots(self.remote.tls_roots().clone())
                .build(),
        )
    }

    /// The key directory's signed checkpoint of `epoch` (the latest: `None`), checked
    /// against the pinned service key; no login needed. It does not move this
    /// device's view of the directory.
    pub fn directory_checkpoint(
        &self,
        epoch: Option<u64>,
    ) -> Result<virgil_card::checkpoint::SignedCheckpoint, Error> {
        self.directory_client()?
            .checkpoint(epoch)
            .map_err(Error::CardsService)
    }

    /// The signed checkpoints of epochs `from` to `to` and the directory's append-only
    /// proof between them ([`virgil_client::CardsClient::audit`]), for an auditor to
    /// verify (`virgil_directory::audit::verify_append_only`); no login needed.
    pub fn directory_audit(
        &self,
        from: u64,
        to: u64,
    ) -> Result<(Vec<virgil_card::checkpoint::SignedCheckpoint>, Vec<u8>), Error> {
        self.directory_client()?
            .audit(from, to)
            .map_err(Error::CardsService)
    }
}
