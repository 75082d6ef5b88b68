//! The card lifecycle: who may add, link, supersede, revoke and reset a card. This
//! module is the specification (docs/key-changes.md states the same rules in prose);
//! it does no I/O. The cards service's store reads an identity's cards inside a
//! transaction, asks [`admit`] or [`authorize_revocation`] what to do and carries the
//! decision out; clients check links with [`vouched`] and revocations with
//! [`crate::RevocationRecord::verify`], the same definitions.
//!
//! The rules, for one owner ([`crate::CardIdentity`]: application and identity):
//!
//! 1. A card with the key of an active card of the owner is that card (one card per key).
//! 2. Every link signature a new card carries must name an **active** card of the owner
//!    and verify against its key: a revoked, superseded, pending or unknown card vouches
//!    for nothing.
//! 3. An owner with active cards gets a new card only if it is linked from one of them
//!    (another device, or a replacement that supersedes `previous_card_id`); at most
//!    [`MAX_ACTIVE_CARDS`] are active (a replacement is always allowed).
//! 4. A **reset** card (data `virgil.reset = "1"`) needs no link: with no delay it is
//!    active at once and every other active card is revoked (reason reset); with a delay
//!    it is pending until then, cancellable by any active card. One reset is pending at a
//!    time, and none may start within the cooldown after a cancellation.
//! 5. A card is revoked by the application's key, by its own key, or by the key of
//!    another **active** card of the owner.
//!
//! ```
//! use virgil_card::lifecycle::{self, Admission, IdentityState, Refusal, ResetPolicy};
//! use virgil_card::{CardRequest, CardStatus};
//! use virgil_crypto::PrivateKey;
//!
//! let (laptop, phone, stranger) = (PrivateKey::generate()?, PrivateKey::generate()?, PrivateKey::generate()?);
//! let first = CardRequest::new("bob", "chat").sign(&laptop)?;
//! let mut state = IdentityState::default();
//! assert_eq!(lifecycle::admit(&state, &first, 0, ResetPolicy::default()), Ok(Admission::Active { supersedes: None }));
//! state.cards.push((first.clone(), CardStatus::Active));
//!
//! let mut second = CardRequest::new("bob", "chat").sign(&phone)?;
//! second.link_from(&first, &laptop)?;
//! assert!(matches!(lifecycle::admit(&state, &second, 0, ResetPolicy::default()), Ok(Admission::Active { .. })));
//!
//! let unlinked = CardRequest::new("bob", "chat").identity_type("other").sign(&stranger)?;
//! assert!(matches!(lifecycle::admit(&state, &unlinked, 0, ResetPolicy::default()), Err(Refusal::LinkRequired { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::status::RevocationRecord;
use crate::{Card, CardId, CardStatus, RevocationRequest, Signer};
use virgil_crypto::PublicKey;
use virgil_crypto::encoding::to_base64;
use virgil_crypto::sign::Signature;

pub use crate::content::{RESET_DATA_KEY, is_reset};

/// The most active cards one owner may have (devices): every search answer carries,
/// and the service signs the status of, each of them.
pub const MAX_ACTIVE_CARDS: usize = 16;

/// What the directory knows of an owner when a new card arrives, read in the same
/// transaction that carries out the decision, under the owner's lock.
#[derive(Clone, Debug, Default)]
pub struct IdentityState {
    /// Every card of the owner that is active or pending (others are ignored).
    pub cards: Vec<(Card, CardStatus)>,
    /// The card the new one names as `previous_card_id`, if it names one and the
    /// application has it (whatever its owner and status).
    pub previous: Option<(Card, CardStatus)>,
    /// When a reset of the owner was last cancelled (a pending reset card revoked).
    pub last_cancelled_reset: Option<u64>,
}

impl IdentityState {
    fn active(&self) -> impl Iterator<Item = &Card> {
        self.cards
            .iter()
            .filter(|(_, status)| status.is_active())
            .map(|(card, _)| card)
    }
}

/// A deployment's reset rules (seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetPolicy {
    /// How long a reset card stays pending (cancellable) before it becomes active.
    pub delay: u64,
    /// How long after a cancelled reset no new reset may start.
    pub cooldown: u64,
}

/// What to do with a new card: the decision the store carries out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// A card with the new card's key is active already: answer with that card and store
    /// nothing.
    SameKey(CardId),
    /// Store it as active; mark `supersedes` (if any) superseded by it.
    Active {
        /// The card it replaces.
        supersedes: Option<CardId>,
    },
    /// A reset: store it pending until `activates_at`.
    PendingReset {
        /// When it becomes active.
        activates_at: u64,
    },
    /// A reset with no delay: store it active and revoke `revokes` (reason reset).
    ActiveReset {
        /// Every other active card of the owner.
        revokes: Vec<CardId>,
    },
}

/// Why a new card is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The owner has active cards and the new card is linked from none of them.
    #[error(
        "the identity already has {active} active card(s): a new card for it must be linked from one of them (signed with that card's key; docs/format.md §7)"
    )]
    LinkRequired {
        /// How many active cards the owner has.
        active: usize,
    },
    /// A link signature on the new card that does not vouch for it.
    #[error("the card's link from card {from} does not count: {why}")]
    BadLink {
        /// The card the link names.
        from: CardId,
        /// Why.
        why: &'static str,
    },
    /// The owner has [`MAX_ACTIVE_CARDS`] active cards and the new one replaces none.
    #[error(
        "the identity already has {MAX_ACTIVE_CARDS} active cards, the most allowed: revoke one, or publish the new card as a replacement (previous_card_id)"
    )]
    TooManyCards,
    /// A reset of the owner is pending already.
    #[error(
        "a reset of this identity is pending already (card {0}): an active card of the identity can cancel it by revoking it; otherwise wait until it becomes active"
    )]
    ResetPending(CardId),
    /// A reset was cancelled less than the cooldown ago.
    #[error(
        "a reset of this identity was cancelled recently: no new reset can start before {retry_at} (seconds since the Unix epoch)"
    )]
    ResetTooSoon {
        /// When a reset may start again.
        retry_at: u64,
    },
    /// `previous_card_id` names no card of this application.
    #[error("the card to replace ({0}) does not exist in this application")]
    PreviousNotFound(CardId),
    /// `previous_card_id` names a card of another owner.
    #[error("the card to replace ({0}) belongs to another identity")]
    PreviousMismatch(CardId),
    /// `previous_card_id` names a card that is not active.
    #[error("the card to replace ({0}) is no longer active (already replaced or revoked)")]
    PreviousNotActive(CardId),
}

/// Decides what becomes of `new` (already verified: self and application signatures),
/// given its owner's `state` at `now`. The store runs this inside the transaction that
/// read `state` and carries the decision out in it.
pub fn admit(
    state: &IdentityState,
    new: &Card,
    now: u64,
    policy: ResetPolicy,
) -> Result<Admission, Refusal> {
    let owner = new.owner();
    let mine = |card: &&Card| owner.owns(card);
    let active: Vec<&Card> = state.active().filter(mine).collect();

    // Rule 1: one card per key.
    if let Some(same) = active
        .iter()
        .find(|card| card.public_key() == new.public_key())
    {
        return Ok(Admission::SameKey(*same.id()));
    }
    // Rule 2: every link must be from an active card of the owner, and verify.
    for from in new.links() {
        let Some(linking) = active.iter().find(|card| card.id() == from) else {
            return Err(Refusal::BadLink {
                from: *from,
                why: "it is not an active card of this identity (a revoked, superseded or pending card vouches for nothing)",
            });
        };
        if !new.is_linked_from(linking) {
            return Err(Refusal::BadLink {
                from: *from,
                why: "the link signature does not verify against that card's key",
            });
        }
    }
    // Rule 4: resets.
    if is_reset(new) && !active.is_empty() {
        if let Some((pending, _)) = state
            .cards
            .iter()
            .find(|(card, status)| owner.owns(card) && matches!(status, CardStatus::Pending { .. }))
        {
            return Err(Refusal::ResetPending(*pending.id()));
        }
        if let Some(cancelled) = state.last_cancelled_reset {
            let retry_at = cancelled.saturating_add(policy.cooldown);
            if now < retry_at {
                return Err(Refusal::ResetTooSoon { retry_at });
            }
        }
        return Ok(if policy.delay == 0 {
            Admission::ActiveReset {
                revokes: active.iter().map(|card| *card.id()).collect(),
            }
        } else {
            Admission::PendingReset {
                activates_at: now.saturating_add(policy.delay),
            }
        });
    }
    // Rule 3: linked from an active card, bounded, replacing an active card.
    if !active.is_empty() && new.links().next().is_none() {
        return Err(Refusal::LinkRequired {
            active: active.len(),
        });
    }
    let previous = if is_reset(new) {
        None
    } else {
        new.content().previous_card_id
    };
    if active.len() >= MAX_ACTIVE_CARDS
        && !previous.is_some_and(|previous| active.iter().any(|card| *card.id() == previous))
    {
        return Err(Refusal::TooManyCards);
    }
    let Some(previous) = previous else {
        return Ok(Admission::Active { supersedes: None });
    };
    match &state.previous {
        Some((card, _)) if card.id() != &previous => Err(Refusal::PreviousNotFound(previous)),
        None => Err(Refusal::PreviousNotFound(previous)),
        Some((card, _)) if !owner.owns(card) => Err(Refusal::PreviousMismatch(previous)),
        Some((_, status)) if !status.is_active() => Err(Refusal::PreviousNotActive(previous)),
        Some(_) => Ok(Admission::Active {
            supersedes: Some(previous),
        }),
    }
}

/// Whether `answer` may be the service's answer to publishing `sent` (rule 1): `sent`
/// itself, or the owner's existing card for the same key, never another owner's or
/// another key's card.
pub fn answers_publication(sent: &Card, answer: &Card) -> bool {
    sent.same_owner(answer) && sent.public_key() == answer.public_key()
}

/// The cards a reset card revokes when it becomes active (after its delay): every
/// other active card of its owner.
pub fn revoked_by_reset(state: &IdentityState, reset: &Card) -> Vec<CardId> {
    let owner = reset.owner();
    state
        .active()
        .filter(|card| owner.owns(card) && card.id() != reset.id())
        .map(|card| *card.id())
        .collect()
}

/// Who signed a revocation request.
#[derive(Clone, Copy, Debug)]
pub enum Revoker<'a> {
    /// The application: the signature must verify against one of these keys.
    Application(&'a [PublicKey]),
    /// The owner: the card whose key signed, with its status.
    Owner(&'a Card, &'a CardStatus),
}

/// Why a revocation is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationRefusal {
    /// The request names another card than the one revoked.
    #[error("the revocation request names another card")]
    NamesAnotherCard,
    /// The card is revoked already.
    #[error("card {0} is already revoked")]
    AlreadyRevoked(CardId),
    /// The signing card is not the revoked card itself nor an active card of its owner.
    #[error(
        "card {0} may not revoke it: only the card itself, another active card of the same identity, or the application's key revoke a card"
    )]
    NotOwner(CardId),
    /// The signature does not verify against the key it claims.
    #[error("the revocation request is not signed by {0}")]
    BadSignature(&'static str),
}

/// Decides whether `request`, signed by `revoker` with `signature`, revokes `target`
/// (rule 5); returns the record to store and serve with the revoked card.
pub fn authorize_revocation(
    target: (&Card, &CardStatus),
    request: &RevocationRequest,
    signature: &Signature,
    revoker: Revoker<'_>,
) -> Result<RevocationRecord, RevocationRefusal> {
    let (card, status) = target;
    if request.card_id != *card.id() {
        return Err(RevocationRefusal::NamesAnotherCard);
    }
    if matches!(status, CardStatus::Revoked { .. }) {
        return Err(RevocationRefusal::AlreadyRevoked(*card.id()));
    }
    let encoded = || {
        (
            to_base64(&request.to_bytes()),
            to_base64(signature.as_bytes()),
        )
    };
    match revoker {
        Revoker::Application(keys) => {
            if !keys.iter().any(|key| request.verify(key, signature)) {
                return Err(RevocationRefusal::BadSignature("this application's key"));
            }
            let (request, signature) = encoded();
            Ok(RevocationRecord::Application { request, signature })
        }
        Revoker::Owner(signer, signer_status) => {
            let itself = signer.id() == card.id();
            let active_of_owner = signer.same_owner(card) && signer_status.is_active();
            if !(itself || active_of_owner) {
                return Err(RevocationRefusal::NotOwner(*signer.id()));
            }
            if !request.verify(signer.public_key(), signature) {
                return Err(RevocationRefusal::BadSignature("the signing card's key"));
            }
            let (request, signature) = encoded();
            Ok(RevocationRecord::Owner {
                request,
                signature,
                signer: signer.to_json(),
            })
        }
    }
}

/// A card vouched for by a link from a card already trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkedCard {
    /// The new card.
    pub card: CardId,
    /// The trusted (or, through a chain, already vouched) card whose key signed the link.
    pub from: CardId,
}

/// Which of `candidates` are vouched for by a link from an *anchor* (a card the caller
/// trusts; `anchor` gives its key, or `None`), directly or through a chain of links
/// among the candidates themselves, whatever their order. Every candidate must be of one
/// owner, the anchors' (the caller filters). Used alike by the contact store (anchors:
/// the cards pinned for a contact) and by a device checking its own identity (anchors:
/// the cards its own keys made).
pub fn vouched(
    candidates: &[&Card],
    anchor: impl Fn(&CardId) -> Option<PublicKey>,
) -> Vec<LinkedCard> {
    let mut found: Vec<LinkedCard> = Vec::new();
    let mut vouched_keys: Vec<(CardId, PublicKey)> = Vec::new();
    let mut pending: Vec<&Card> = candidates.to_vec();
    loop {
        let before = pending.len();
        pending.retain(|card| {
            let from = card.links().find(|link| {
                *link != card.id()
                    && anchor(link)
                        .or_else(|| {
                            vouched_keys
                                .iter()
                                .find(|(id, _)| id == *link)
                                .map(|(_, key)| key.clone())
                        })
                        .is_some_and(|key| card.is_signed_by(&Signer::Link(**link), &key))
            });
            match from {
                Some(from) => {
                    found.push(LinkedCard {
                        card: *card.id(),
                        from: *from,
                    });
                    vouched_keys.push((*card.id(), card.public_key().clone()));
                    false
                }
                None => true,
            }
        });
        if pending.len() == before {
            return found;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::{CardRequest, RevocationReason};
    use virgil_crypto::PrivateKey;

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_seed(&[n; 32]).unwrap()
    }

    fn card(identity: &str, owner: u8) -> Card {
        CardRequest::new(identity, "chat")
            .created_at(1)
            .sign(&key(owner))
            .unwrap()
    }

    fn linked(identity: &str, owner: u8, from: &Card, from_owner: u8) -> Card {
        let mut card = card(identity, owner);
        card.link_from(from, &key(from_owner)).unwrap();
        card
    }

    fn reset_card(owner: u8) -> Card {
        CardRequest::new("bob", "chat")
            .data(RESET_DATA_KEY, "1")
            .created_at(1)
            .sign(&key(owner))
            .unwrap()
    }

    fn state(cards: &[(&Card, CardStatus)]) -> IdentityState {
        IdentityState {
            cards: cards
                .iter()
                .map(|(card, status)| ((*card).clone(), status.clone()))
                .collect(),
            ..IdentityState::default()
        }
    }

    const NO_DELAY: ResetPolicy = ResetPolicy {
        delay: 0,
        cooldown: 0,
    };
    const A_DAY: ResetPolicy = ResetPolicy {
        delay: 86_400,
        cooldown: 86_400,
    };

    #[test]
    fn a_first_card_is_admitted_and_every_later_one_needs_a_link_from_an_active_card() {
        let first = card("bob", 1);
        let empty = IdentityState::default();
        assert_eq!(
            admit(&empty, &first, 0, NO_DELAY),
            Ok(Admission::Active { supersedes: None })
        );
        let held = state(&[(&first, CardStatus::Active)]);
        // Rule 1: the same key again is the same card.
        let again = CardRequest::new("bob", "chat").sign(&key(1)).unwrap();
        assert_eq!(
            admit(&held, &again, 0, NO_DELAY),
            Ok(Admission::SameKey(*first.id()))
        );
        // Rule 3: unlinked is refused, whatever its identity type; linked is admitted.
        assert_eq!(
            admit(&held, &card("bob", 2), 0, NO_DELAY),
            Err(Refusal::LinkRequired { active: 1 })
        );
        let typed = CardRequest::new("bob", "chat")
            .identity_type("other")
            .sign(&key(2))
            .unwrap();
        assert_eq!(
            admit(&held, &typed, 0, NO_DELAY),
            Err(Refusal::LinkRequired { active: 1 })
        );
        assert_eq!(
            admit(&held, &linked("bob", 2, &first, 1), 0, NO_DELAY),
            Ok(Admission::Active { supersedes: None })
        );
        // Another owner's cards are not bob's: alice's first card is a first card.
        assert_eq!(
            admit(&held, &card("alice", 3), 0, NO_DELAY),
            Ok(Admission::Active { supersedes: None })
        );
    }

    #[test]
    fn a_link_from_a_card_that_is_not_active_vouches_for_nothing() {
        let first = card("bob", 1);
        let second = card("bob", 2);
        for status in [
            CardStatus::Revoked {
                reason: RevocationReason::Compromised,
                at: 5,
            },
            CardStatus::Superseded { by: *second.id() },
            CardStatus::Pending { activates_at: 9 },
        ] {
            // Even when the owner has no active card left (a "first" card), and for a
            // reset card, which needs no link: a link it carries must still count.
            let held = state(&[(&first, status)]);
            let from_revoked = linked("bob", 3, &first, 1);
            assert!(matches!(
                admit(&held, &from_revoked, 0, NO_DELAY),
                Err(Refusal::BadLink { from, .. }) if from == *first.id()
            ));
            let mut reset = reset_card(3);
            reset.link_from(&first, &key(1)).unwrap();
            assert!(matches!(
                admit(&held, &reset, 0, NO_DELAY),
                Err(Refusal::BadLink { .. })
            ));
        }
        // A link signature by another key, claiming an active card: refused.
        let held = state(&[(&first, CardStatus::Active)]);
        let mut forged = card("bob", 3);
        forged.sign_as(Signer::Link(*first.id()), &key(3)).unwrap();
        assert!(matches!(
            admit(&held, &forged, 0, NO_DELAY),
            Err(Refusal::BadLink { .. })
        ));
    }

    #[test]
    fn resets_wait_their_delay_one_at_a_time_and_not_again_right_after_a_cancellation() {
        let first = card("bob", 1);
        let held = state(&[(&first, CardStatus::Active)]);
        let reset = reset_card(2);
        assert_eq!(
            admit(&held, &reset, 100, NO_DELAY),
            Ok(Admission::ActiveReset {
                revokes: vec![*first.id()]
            })
        );
        assert_eq!(
            admit(&held, &reset, 100, A_DAY),
            Ok(Admission::PendingReset {
                activates_at: 86_500
            })
        );
        let pending = state(&[
            (&first, CardStatus::Active),
            (&reset, CardStatus::Pending { activates_at: 1 }),
        ]);
        assert_eq!(
            admit(&pending, &reset_card(3), 100, A_DAY),
            Err(Refusal::ResetPending(*reset.id()))
        );
        let mut cancelled = held.clone();
        cancelled.last_cancelled_reset = Some(100);
        assert_eq!(
            admit(&cancelled, &reset_card(3), 200, A_DAY),
            Err(Refusal::ResetTooSoon { retry_at: 86_500 })
        );
        assert!(matches!(
            admit(&cancelled, &reset_card(3), 86_500, A_DAY),
            Ok(Admission::PendingReset { .. })
        ));
        // An identity's first card may be a reset card: active, nothing to revoke.
        assert_eq!(
            admit(&IdentityState::default(), &reset, 0, A_DAY),
            Ok(Admission::Active { supersedes: None })
        );
        assert_eq!(revoked_by_reset(&pending, &reset), vec![*first.id()]);
    }

    #[test]
    fn a_replacement_supersedes_an_active_card_of_the_same_owner() {
        let first = card("bob", 1);
        let mut held = state(&[(&first, CardStatus::Active)]);
        let mut replacement = CardRequest::new("bob", "chat")
            .replaces(*first.id())
            .sign(&key(2))
            .unwrap();
        replacement.link_from(&first, &key(1)).unwrap();
        assert_eq!(
            admit(&held, &replacement, 0, NO_DELAY),
            Err(Refusal::PreviousNotFound(*first.id()))
        );
        held.previous = Some((first.clone(), CardStatus::Active));
        assert_eq!(
            admit(&held, &replacement, 0, NO_DELAY),
            Ok(Admission::Active {
                supersedes: Some(*first.id())
            })
        );
        let alice = card("alice", 5);
        let mut wrong = CardRequest::new("bob", "chat")
            .replaces(*alice.id())
            .sign(&key(2))
            .unwrap();
        wrong.link_from(&first, &key(1)).unwrap();
        held.previous = Some((alice.clone(), CardStatus::Active));
        assert_eq!(
            admit(&held, &wrong, 0, NO_DELAY),
            Err(Refusal::PreviousMismatch(*alice.id()))
        );
        held.previous = Some((first.clone(), CardStatus::Superseded { by: *alice.id() }));
        assert_eq!(
            admit(&held, &replacement, 0, NO_DELAY),
            Err(Refusal::PreviousNotActive(*first.id()))
        );
    }

    #[test]
    fn an_owner_has_at_most_the_maximum_of_active_cards_but_may_always_replace_one() {
        let first = card("bob", 1);
        let mut cards = vec![first.clone()];
        for n in 2..=u8::try_from(MAX_ACTIVE_CARDS).unwrap() {
            cards.push(linked("bob", n, &first, 1));
        }
        let held = IdentityState {
            cards: cards
                .iter()
                .map(|card| (card.clone(), CardStatus::Active))
                .collect(),
            previous: Some((first.clone(), CardStatus::Active)),
            last_cancelled_reset: None,
        };
        assert_eq!(
            admit(&held, &linked("bob", 60, &first, 1), 0, NO_DELAY),
            Err(Refusal::TooManyCards)
        );
        let mut replacement = CardRequest::new("bob", "chat")
            .replaces(*first.id())
            .sign(&key(61))
            .unwrap();
        replacement.link_from(&first, &key(1)).unwrap();
        assert!(admit(&held, &replacement, 0, NO_DELAY).is_ok());
    }

    #[test]
    fn a_card_is_revoked_by_its_application_itself_or_another_active_card_of_its_owner() {
        let first = card("bob", 1);
        let phone = linked("bob", 2, &first, 1);
        let request = RevocationRequest {
            card_id: *first.id(),
            reason: RevocationReason::Compromised,
            created_at: 1,
        };
        let active = CardStatus::Active;
        let target = (&first, &active);
        let app = [key(9).public_key().clone()];
        assert!(matches!(
            authorize_revocation(
                target,
                &request,
                &request.sign(&key(9)),
                Revoker::Application(&app)
            ),
            Ok(RevocationRecord::Application { .. })
        ));
        assert!(
            authorize_revocation(
                target,
                &request,
                &request.sign(&key(1)),
                Revoker::Application(&app)
            )
            .is_err()
        );
        assert!(matches!(
            authorize_revocation(
                target,
                &request,
                &request.sign(&key(1)),
                Revoker::Owner(&first, &active)
            ),
            Ok(RevocationRecord::Owner { .. })
        ));
        assert!(
            authorize_revocation(
                target,
                &request,
                &request.sign(&key(2)),
                Revoker::Owner(&phone, &active)
            )
            .is_ok()
        );
        // A pending, revoked or superseded card of the owner may not revoke another.
        for status in [
            CardStatus::Pending { activates_at: 9 },
            CardStatus::Revoked {
                reason: RevocationReason::Unspecified,
                at: 1,
            },
            CardStatus::Superseded { by: *first.id() },
        ] {
            assert_eq!(
                authorize_revocation(
                    target,
                    &request,
                    &request.sign(&key(2)),
                    Revoker::Owner(&phone, &status)
                ),
                Err(RevocationRefusal::NotOwner(*phone.id()))
            );
        }
        // Another owner's card, or a signature by another key than the signer's.
        let mallory = card("mallory", 3);
        assert!(
            authorize_revocation(
                target,
                &request,
                &request.sign(&key(3)),
                Revoker::Owner(&mallory, &active)
            )
            .is_err()
        );
        assert_eq!(
            authorize_revocation(
                target,
                &request,
                &request.sign(&key(3)),
                Revoker::Owner(&phone, &active)
            ),
            Err(RevocationRefusal::BadSignature("the signing card's key"))
        );
        // Revoking twice, or a request for another card.
        let revoked = CardStatus::Revoked {
            reason: RevocationReason::Unspecified,
            at: 1,
        };
        assert_eq!(
            authorize_revocation(
                (&first, &revoked),
                &request,
                &request.sign(&key(9)),
                Revoker::Application(&app)
            ),
            Err(RevocationRefusal::AlreadyRevoked(*first.id()))
        );
        assert_eq!(
            authorize_revocation(
                (&phone, &active),
                &request,
                &request.sign(&key(9)),
                Revoker::Application(&app)
            ),
            Err(RevocationRefusal::NamesAnotherCard)
        );
    }
}
