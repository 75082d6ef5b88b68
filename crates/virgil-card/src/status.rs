//! Where a card stands, as the cards service vouches for it: the status of one card
//! ([`CardStatus`] and its signed [`CardStatus::statement`]), the status of every card
//! of a search at once ([`SearchStatement`]), and who revoked a card
//! ([`RevocationRecord`]). The service signs; every client checks with
//! [`check_status`] and [`RevocationRecord::verify`]. Formats: docs/format.md §12.

use crate::{Card, CardError, CardId, CardJson, RevocationReason, RevocationRequest, Verifier};
use virgil_crypto::encoding::from_base64;
use virgil_crypto::sign::{self, Context, Signature};
use virgil_crypto::{PrivateKey, PublicKey};

/// How old a status the service signed may be when a client reads it (seconds): a
/// revocation reaches every client within this time, even through a proxy that replays
/// an older answer.
pub const MAX_STATUS_AGE_SECONDS: u64 = 10 * 60;
/// How far ahead of the client's clock a status may be dated (clock skew, seconds).
pub const STATUS_CLOCK_SKEW_SECONDS: u64 = 5 * 60;

const STATUS_MAGIC: &[u8; 5] = b"VGLT\x01";
const SEARCH_MAGIC: &[u8; 5] = b"VGLQ\x02";

/// Where a card stands: stored by the service and sent, signed, with every card.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CardStatus {
    /// Current.
    Active,
    /// Replaced by the card `by` (key rotation).
    Superseded {
        /// The replacing card.
        by: CardId,
    },
    /// Revoked by its owner or its application, or by a reset that became active.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When, seconds since the Unix epoch.
        at: u64,
    },
    /// A reset card waiting out the reset delay (docs/key-changes.md): not usable yet;
    /// any active card of the identity can cancel it (revoke it) until `activates_at`,
    /// when it becomes active and every other card of the identity is revoked.
    Pending {
        /// When it becomes active, seconds since the Unix epoch.
        activates_at: u64,
    },
}

impl CardStatus {
    /// The bytes the cards service signs to vouch that `card` has this status at time
    /// `as_of` (docs/format.md §12):
    ///
    /// ```text
    /// "VGLT" ‖ 0x01 ‖ card_id[32] ‖ state ‖ u64be(as_of)
    /// state = 0x00 (active) | 0x01 ‖ by[32] (superseded) | 0x02 ‖ reason u8 ‖ u64be(at) (revoked)
    ///       | 0x03 ‖ u64be(activates_at) (pending reset)
    /// ```
    pub fn statement(&self, card: &CardId, as_of: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(5 + 32 + 1 + 32 + 8);
        bytes.extend_from_slice(STATUS_MAGIC);
        bytes.extend_from_slice(card.as_bytes());
        match self {
            CardStatus::Active => bytes.push(0x00),
            CardStatus::Superseded { by } => {
                bytes.push(0x01);
                bytes.extend_from_slice(by.as_bytes());
            }
            CardStatus::Revoked { reason, at } => {
                bytes.push(0x02);
                bytes.push(reason.code());
                bytes.extend_from_slice(&at.to_be_bytes());
            }
            CardStatus::Pending { activates_at } => {
                bytes.push(0x03);
                bytes.extend_from_slice(&activates_at.to_be_bytes());
            }
        }
        bytes.extend_from_slice(&as_of.to_be_bytes());
        bytes
    }

    /// The service's signature over [`CardStatus::statement`] (context
    /// `virgil/card-status`).
    pub fn sign(&self, card: &CardId, as_of: u64, service_key: &PrivateKey) -> Signature {
        sign::sign(
            service_key,
            Context::CARD_STATUS,
            &self.statement(card, as_of),
        )
    }

    /// Whether `signature` is `service_key`'s over this status of `card` at `as_of`.
    pub fn is_signed(
        &self,
        card: &CardId,
        as_of: u64,
        signature: &Signature,
        service_key: &PublicKey,
    ) -> bool {
        sign::verify(
            service_key,
            Context::CARD_STATUS,
            &self.statement(card, as_of),
            signature,
        )
        .is_ok()
    }

    /// Whether the card is usable: active (not superseded, revoked or pending).
    pub fn is_active(&self) -> bool {
        matches!(self, CardStatus::Active)
    }
}

/// What a search answer says, all at once: for application `app_id` and the identities
/// asked for, at `as_of`, these are *all* of their cards that are active or pending, with
/// each one's status. The service signs it (context `virgil/search-status`); a client
/// accepts an answer only with a valid signature over exactly its own query and every
/// card the answer holds, so no card can be dropped, added or replayed from another
/// answer (docs/format.md §12):
///
/// ```text
/// search   = "VGLQ" ‖ 0x02 ‖ u64be(as_of) ‖ str(app_id) ‖ u32be(k) ‖ str(identity)×k
///            ‖ u32be(n) ‖ (u32be(len) ‖ statement)×n
/// str(s)   = u32be(len) ‖ UTF-8 bytes;  identities sorted bytewise, without duplicates
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchStatement {
    bytes: Vec<u8>,
}

impl SearchStatement {
    /// The statement for a search of `identities` (any order, duplicates ignored) in
    /// `app_id` at `as_of`, answered with `cards`: (card id, status, the as-of of its
    /// own statement), in answer order.
    pub fn new<'a>(
        app_id: &str,
        identities: impl IntoIterator<Item = &'a str>,
        as_of: u64,
        cards: impl IntoIterator<Item = (&'a CardId, &'a CardStatus, u64)>,
    ) -> Self {
        let length = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        let mut names: Vec<&str> = identities.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        let mut bytes = Vec::with_capacity(64 + names.len() * 16);
        bytes.extend_from_slice(SEARCH_MAGIC);
        bytes.extend_from_slice(&as_of.to_be_bytes());
        for text in std::iter::once(app_id) {
            bytes.extend_from_slice(&length(text.len()));
            bytes.extend_from_slice(text.as_bytes());
        }
        bytes.extend_from_slice(&length(names.len()));
        for name in names {
            bytes.extend_from_slice(&length(name.len()));
            bytes.extend_from_slice(name.as_bytes());
        }
        let position = bytes.len();
        bytes.extend_from_slice(&[0; 4]);
        let mut count = 0usize;
        for (card, status, card_as_of) in cards {
            let statement = status.statement(card, card_as_of);
            bytes.extend_from_slice(&length(statement.len()));
            bytes.extend_from_slice(&statement);
            count += 1;
        }
        if let Some(slot) = bytes.get_mut(position..position + 4) {
            slot.copy_from_slice(&length(count));
        }
        Self { bytes }
    }

    /// The signed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The service's signature.
    pub fn sign(&self, service_key: &PrivateKey) -> Signature {
        sign::sign(service_key, Context::SEARCH_STATUS, &self.bytes)
    }

    /// Whether `signature` is one of `service_keys`' over this statement.
    pub fn is_signed(&self, signature: &Signature, service_keys: &[PublicKey]) -> bool {
        service_keys
            .iter()
            .any(|key| sign::verify(key, Context::SEARCH_STATUS, &self.bytes, signature).is_ok())
    }
}

/// Why a status, an answer or a revocation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The status (or the answer) is not signed by a pinned service key.
    #[error(
        "the status of card {card} is not signed by the pinned cards service key (changed on the way?)"
    )]
    NotSigned {
        /// The card.
        card: CardId,
    },
    /// A search answer without the service's one signature over its query and every
    /// card it holds.
    #[error(
        "the search answer is not signed as a whole by the pinned cards service key for this query: cards may have been dropped, added or replayed on the way; it was not used"
    )]
    AnswerNotSigned,
    /// Stated too long ago, or in the future.
    #[error(
        "the status of {what} was stated at {as_of} and it is now {now}: too old or from the future (a replayed answer, or a wrong clock)"
    )]
    Stale {
        /// What (a card, or "the search answer").
        what: String,
        /// When it was stated.
        as_of: u64,
        /// The client's clock.
        now: u64,
    },
    /// A revoked status without a record that someone allowed to revoke signed.
    #[error("the revocation of card {card} does not verify: {why}")]
    BadRevocation {
        /// The card.
        card: CardId,
        /// What is wrong.
        why: &'static str,
    },
}

/// Checks what a client reads of a card's status: the service's `signature` over the
/// statement (`None`: a search answer's one signature, already checked, covers it), that
/// `as_of` is at most [`MAX_STATUS_AGE_SECONDS`] old and at most
/// [`STATUS_CLOCK_SKEW_SECONDS`] ahead of `now`, and that a revoked status comes with a
/// [`RevocationRecord`] that verifies (and no other status with one). The card itself
/// must have passed `verifier` already.
pub fn check_status(
    verifier: &Verifier,
    card: &Card,
    status: &CardStatus,
    as_of: u64,
    signature: Option<&Signature>,
    record: Option<&RevocationRecord>,
    now: u64,
) -> Result<(), StatusError> {
    let service_keys = verifier.service_keys();
    if let Some(signature) = signature
        && !service_keys
            .iter()
            .any(|key| status.is_signed(card.id(), as_of, signature, key))
    {
        return Err(StatusError::NotSigned { card: *card.id() });
    }
    check_fresh(&card.id().to_string(), as_of, now)?;
    match (status, record) {
        (CardStatus::Revoked { reason, .. }, Some(record)) => {
            record.verify(verifier, card, *reason)
        }
        (CardStatus::Revoked { .. }, None) => Err(StatusError::BadRevocation {
            card: *card.id(),
            why: "no revocation record",
        }),
        (_, None) => Ok(()),
        (_, Some(_)) => Err(StatusError::BadRevocation {
            card: *card.id(),
            why: "a revocation record on a card that is not revoked",
        }),
    }
}

/// Whether a statement made at `as_of` may still be believed at `now`.
pub fn check_fresh(what: &str, as_of: u64, now: u64) -> Result<(), StatusError> {
    if as_of.saturating_add(MAX_STATUS_AGE_SECONDS) < now
        || as_of > now.saturating_add(STATUS_CLOCK_SKEW_SECONDS)
    {
        return Err(StatusError::Stale {
            what: what.to_owned(),
            as_of,
            now,
        });
    }
    Ok(())
}

/// Who revoked a card, with their signature: served with every revoked card, so a
/// client can check that the revocation came from someone allowed to make it
/// ([`crate::lifecycle::authorize_revocation`] is the rule), not only that the service
/// says so (docs/format.md §12).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RevocationRecord {
    /// The application (administrative): `request` signed by one of its keys.
    Application {
        /// The 46-byte [`RevocationRequest`], base64.
        request: String,
        /// Its signature (context `virgil/card-revocation`), base64.
        signature: String,
    },
    /// The owner: `request` signed by the key of `signer`, the revoked card itself or
    /// another card of the same owner, with all of its signatures.
    Owner {
        /// The 46-byte [`RevocationRequest`], base64.
        request: String,
        /// Its signature by `signer`'s key, base64.
        signature: String,
        /// The card whose key signed.
        signer: CardJson,
    },
    /// A reset: `card`, a reset card of the same owner, became active.
    Reset {
        /// The reset card, with all of its signatures.
        card: CardJson,
    },
}

/// A request and its signature as they travel (base64 of each).
pub fn decode_signed_request(
    request: &str,
    signature: &str,
) -> Result<(RevocationRequest, Signature), CardError> {
    let bytes = from_base64(request).map_err(|_| CardError::Malformed {
        what: "revocation request",
        reason: "not valid base64",
    })?;
    let request = RevocationRequest::from_bytes(&bytes)?;
    let signature = from_base64(signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(CardError::Malformed {
            what: "revocation signature",
            reason: "not base64 of 64 bytes",
        })?;
    Ok((request, signature))
}

impl RevocationRecord {
    /// Checks that this record revokes `card` for `reason` and that someone allowed to
    /// revoke it signed it: for `application` and `owner`, the request names this card
    /// and reason and verifies against a trusted key of the card's application, or
    /// against `signer`'s key, where `signer` passes `verifier` and has the card's owner
    /// ([`crate::CardIdentity`]); for `reset`, the reason is reset and `card` is a
    /// verified reset card of the same owner, other than this one.
    pub fn verify(
        &self,
        verifier: &Verifier,
        card: &Card,
        reason: RevocationReason,
    ) -> Result<(), StatusError> {
        let refused = |why| {
            Err(StatusError::BadRevocation {
                card: *card.id(),
                why,
            })
        };
        let signed = |request: &str, signature: &str| {
            decode_signed_request(request, signature)
                .ok()
                .filter(|(request, _)| request.card_id == *card.id() && request.reason == reason)
        };
        match self {
            RevocationRecord::Application { request, signature } => {
                let Some((request, signature)) = signed(request, signature) else {
                    return refused("the request is malformed or names another card or reason");
                };
                if !verifier
                    .app_keys(&card.content().app_id)
                    .iter()
                    .any(|key| request.verify(key, &signature))
                {
                    return refused("not signed by the application's key");
                }
            }
            RevocationRecord::Owner {
                request,
                signature,
                signer,
            } => {
                let Some((request, signature)) = signed(request, signature) else {
                    return refused("the request is malformed or names another card or reason");
                };
                let Some(signer) = signer
                    .clone()
                    .into_card()
                    .ok()
                    .filter(|signer| verifier.verify(signer).is_ok())
                else {
                    return refused("the signer card does not verify");
                };
                if !signer.same_owner(card) {
                    return refused("signed by a card of another identity");
                }
                if !request.verify(signer.public_key(), &signature) {
                    return refused("not signed by the signer card's key");
                }
            }
            RevocationRecord::Reset { card: reset } => {
                let Some(reset) = reset
                    .clone()
                    .into_card()
                    .ok()
                    .filter(|reset| verifier.verify(reset).is_ok())
                else {
                    return refused("the reset card does not verify");
                };
                if reason != RevocationReason::Reset
                    || !crate::content::is_reset(&reset)
                    || !reset.same_owner(card)
                    || reset.id() == card.id()
                {
                    return refused("not replaced by a reset card of the same identity");
                }
            }
        }
        Ok(())
    }
}
