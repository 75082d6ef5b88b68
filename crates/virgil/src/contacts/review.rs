//! A lookup's answer against what the device knows, by the card crate's rules: the
//! user's own identity (`virgil_card::OwnCards`: trusted, or an alarm) and each contact
//! (`virgil_card::Contact`: known, linked, revoked, or a key change).

use super::book::{ContactBook, ContactStore, Lookup};
use super::{ContactEvent, ForeignCard, KeyChange, KeyChangePolicy, Reviewed, SelfCheckAlarm};
use crate::{CardId, Error};
use virgil_card::contact::{PinnedCards, PinnedState};
use virgil_card::{Card, CardIdentity, CardStatus};
use virgil_client::PublishedCard;

/// Records the fetched statuses of `pinned` cards the answer no longer holds; returns
/// what changed.
fn record_statuses(
    pinned: &mut PinnedCards,
    answer: &[&Card],
    statuses: &[PublishedCard],
) -> Result<Vec<(CardId, PinnedState)>, Error> {
    let mut changes = Vec::new();
    for id in pinned.missing_from(answer) {
        if let Some(fetched) = statuses.iter().find(|f| *f.card.id() == id)
            && let Some(state) = pinned.record_status(&id, &fetched.status)?
        {
            changes.push((id, state));
        }
    }
    Ok(changes)
}

/// The user's own identity: trusted cards are used, a pending reset of this device's
/// is announced, and anything else is an alarm. Sets `changed` when the book changed
/// (also before raising the alarm).
pub(super) fn review_own(
    book: &mut ContactBook,
    owner: &CardIdentity,
    found: &[&PublishedCard],
    lookup: &Lookup<'_>,
    reviewed: &mut Reviewed,
    changed: &mut bool,
) -> Result<(), Error> {
    let own = book.own(owner);
    let answer: Vec<&Card> = found.iter().map(|f| &f.card).collect();
    *changed |= !record_statuses(&mut own.cards, &answer, lookup.statuses)?.is_empty();
    let with_status: Vec<(&Card, &CardStatus)> =
        found.iter().map(|f| (&f.card, &f.status)).collect();
    let review = own.review(&with_status, lookup.local_keys);
    reviewed.own_checked = review.knows;
    if review.is_alarm() {
        return Err(Error::SelfCheck(SelfCheckAlarm {
            identity: owner.identity.clone(),
            cards: found
                .iter()
                .filter(|f| review.foreign.contains(f.card.id()))
                .map(|f| ForeignCard {
                    card: *f.card.id(),
                    created_at: f.card.content().created_at,
                    pending_until: match f.status {
                        CardStatus::Pending { activates_at } => Some(activates_at),
                        _ => None,
                    },
                })
                .collect(),
            own_active: found
                .iter()
                .filter(|f| review.trusted.contains(f.card.id()) && f.status.is_active())
                .count(),
        }));
    }
    reviewed.events.extend(
        review
            .linked
            .iter()
            .map(|link| ContactEvent::OwnCardLinked {
                card: link.card,
                from: link.from,
            }),
    );
    for found in found
        .iter()
        .filter(|f| review.trusted.contains(f.card.id()))
    {
        if own.cards.get(found.card.id()).is_none() {
            own.record(&found.card);
            *changed = true;
        }
        match found.status {
            CardStatus::Active => reviewed.cards.push((*found).clone()),
            CardStatus::Pending { activates_at } => {
                reviewed.events.push(ContactEvent::OwnResetPending {
                    card: *found.card.id(),
                    activates_at,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Another identity: its active cards against its contact. Sets `changed` when the
/// book changed (also before refusing a key change).
pub(super) fn review_contact(
    book: &mut ContactBook,
    owner: &CardIdentity,
    found: &[&PublishedCard],
    lookup: &Lookup<'_>,
    policy: KeyChangePolicy,
    reviewed: &mut Reviewed,
    changed: &mut bool,
) -> Result<(), Error> {
    let identity = owner.identity.clone();
    let (active, pending): (Vec<&PublishedCard>, Vec<&PublishedCard>) =
        found.iter().partition(|f| f.status.is_active());
    reviewed
        .events
        .extend(pending.iter().filter_map(|f| match f.status {
            CardStatus::Pending { activates_at } => Some(ContactEvent::ResetPending {
                identity: identity.clone(),
                card: *f.card.id(),
                activates_at,
            }),
            _ => None,
        }));
    let known = book.contacts.iter().any(|c| c.is_of(owner));
    if !known && active.is_empty() {
        return Ok(());
    }
    let contact = book.contact(owner);
    let answer: Vec<&Card> = active.iter().map(|f| &f.card).collect();
    let changes = record_statuses(&mut contact.cards, &answer, lookup.statuses)?;
    *changed |= !changes.is_empty();
    reviewed.events.extend(
        changes
            .into_iter()
            .map(|(card, state)| ContactEvent::CardRevoked {
                identity: identity.clone(),
                card,
                reason: match state {
                    PinnedState::Revoked(reason) => Some(reason),
                    _ => None,
                },
            }),
    );
    if active.is_empty() {
        return Ok(());
    }
    let cards: Vec<Card> = active.iter().map(|f| f.card.clone()).collect();
    if contact.cards.0.is_empty() {
        reviewed.events.push(ContactEvent::FirstContact {
            identity,
            cards: cards.iter().map(|c| *c.id()).collect(),
        });
        contact.pin(&cards);
        reviewed.cards.extend(active.into_iter().cloned());
        *changed = true;
        return Ok(());
    }
    let review = contact.review(&answer);
    if let Some(card) = review.revoked.first() {
        return Err(Error::RevokedCardOffered {
            identity,
            card: *card,
        });
    }
    if review.is_key_change() {
        let change = KeyChange {
            identity: identity.clone(),
            cards: review.unlinked.clone(),
            reset: !review.reset.is_empty(),
            verified: contact.verified,
        };
        match policy {
            _ if contact.verified => return Err(Error::KeyChanged(change)),
            KeyChangePolicy::Block => return Err(Error::KeyChanged(change)),
            KeyChangePolicy::Warn => reviewed.events.push(ContactEvent::KeyChanged(change)),
            KeyChangePolicy::Accept => {}
        }
        *changed = true;
    }
    reviewed
        .events
        .extend(review.linked.iter().map(|link| ContactEvent::Linked {
            identity: identity.clone(),
            card: link.card,
            from: link.from,
        }));
    *changed |= !review.linked.is_empty();
    contact.pin(&cards);
    reviewed.cards.extend(active.into_iter().cloned());
    Ok(())
}

impl ContactStore {
    /// Reviews a lookup under `policy`: the user's own identity against what this
    /// device knows of it (an alarm is an error), every other identity against its
    /// contact (pinning what is accepted).
    pub(crate) fn review(
        &self,
        book: ContactBook,
        lookup: &Lookup<'_>,
        policy: KeyChangePolicy,
    ) -> Result<Reviewed, Error> {
        // What was learned (a revocation, a card recorded) is saved even when the lookup
        // is refused: the refusal is the closure's result, not its failure.
        self.update_from(book, |book| {
            let mut reviewed = Reviewed {
                cards: Vec::new(),
                events: Vec::new(),
                own_checked: false,
            };
            let mut changed = false;
            let mut done: Vec<&str> = Vec::new();
            for identity in lookup.identities {
                if done.contains(identity) {
                    continue;
                }
                done.push(identity);
                let owner = CardIdentity::new(lookup.app_id, identity);
                let found: Vec<&PublishedCard> = lookup
                    .found
                    .iter()
                    .filter(|f| owner.owns(&f.card))
                    .collect();
                let outcome = if lookup.me == Some(&owner) {
                    review_own(book, &owner, &found, lookup, &mut reviewed, &mut changed)
                } else {
                    review_contact(
                        book,
                        &owner,
                        &found,
                        lookup,
                        policy,
                        &mut reviewed,
                        &mut changed,
                    )
                };
                if let Err(refused) = outcome {
                    return Ok((changed, Err(refused)));
                }
            }
            Ok((changed, Ok(reviewed)))
        })?
    }
}
