//! Identities and cards: card requests made on the device, cards checked against the
//! pinned keys, and (with the `client` feature) found and fetched from the cards service.

use crate::{Card, Error, Key, Virgil};
use virgil_card::CardRequest;
#[cfg(feature = "client")]
use {
    crate::CardId,
    virgil_card::{RevocationReason, RevocationRequest},
    virgil_client::PublishedCard,
    virgil_crypto::PrivateKey,
};

/// An identity to create a card for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The identity, e.g. a user name.
    pub value: String,
    /// Its type, e.g. `user`.
    pub identity_type: String,
}

/// [`Error::NoCard`] for the first of `identities` without a card in `found`.
#[cfg(feature = "client")]
pub(crate) fn each_has_a_card<C: std::borrow::Borrow<Card>>(
    identities: &[&str],
    found: &[C],
) -> Result<(), Error> {
    match identities.iter().find(|identity| {
        !found
            .iter()
            .any(|card| card.borrow().identity() == **identity)
    }) {
        Some(missing) => Err(Error::NoCard {
            identity: (*missing).to_owned(),
        }),
        None => Ok(()),
    }
}

/// Identity operations ([`Virgil::identities`]).
pub struct Identities;

impl Identities {
    /// A user identity (type `user`).
    pub fn create_user(&self, name: &str) -> Identity {
        Identity {
            value: name.to_owned(),
            identity_type: "user".to_owned(),
        }
    }
}

/// Card operations ([`Virgil::cards`]).
pub struct Cards<'a> {
    pub(crate) virgil: &'a Virgil,
}

impl Cards<'_> {
    /// A self-signed card request for `identity` and `key`, to export and send to your
    /// application server for approval.
    pub fn create(&self, identity: &Identity, key: &Key) -> Result<Card, Error> {
        Ok(CardRequest::new(&identity.value, &self.virgil.app_id)
            .identity_type(&identity.identity_type)
            .sign(&key.0)?)
    }

    /// A self-signed *reset* card request for `identity` and `key`: for a user who lost
    /// every key. It needs no link; submitted with the account password
    /// ([`crate::Account::publish_reset_card`]) it revokes all of the identity's other
    /// cards, after the cards service's reset delay, during which any of those cards can
    /// cancel it. Every contact is warned of it (docs/key-changes.md).
    pub fn create_reset(&self, identity: &Identity, key: &Key) -> Result<Card, Error> {
        Ok(CardRequest::new(&identity.value, &self.virgil.app_id)
            .identity_type(&identity.identity_type)
            .data(virgil_card::contact::RESET_DATA_KEY, "1")
            .sign(&key.0)?)
    }

    /// Links `request` (a new card for an identity that already has cards: another
    /// device, or a replacement key) from `existing`, one of the identity's active
    /// cards, with `existing`'s key. The cards service refuses a new card for an
    /// identity with active cards unless it is linked from one of them.
    ///
    /// ```
    /// # let pinned = virgil::crypto::PrivateKey::generate()?.public_key().clone();
    /// # let dir = tempfile::tempdir()?;
    /// # let virgil = virgil::Virgil::new(virgil::Config::new("chat", pinned.clone(), pinned).key_dir(dir.path()))?;
    /// let alice = virgil.identities().create_user("alice");
    /// let (laptop, phone) = (virgil.keys().generate()?, virgil.keys().generate()?);
    /// let first = virgil.cards().create(&alice, &laptop)?;
    /// let mut second = virgil.cards().create(&alice, &phone)?;
    /// virgil.cards().link(&mut second, &first, &laptop)?;
    /// assert!(second.is_linked_from(&first));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link(&self, request: &mut Card, existing: &Card, key: &Key) -> Result<(), Error> {
        Ok(request.link_from(existing, &key.0)?)
    }

    /// Imports an exported card or card request (not verified: see [`Cards::verify`]).
    pub fn import(&self, exported: &str) -> Result<Card, Error> {
        Ok(Card::import(exported)?)
    }

    /// Checks a card against the pinned keys: its self signature, this application's
    /// signature and the cards service's.
    pub fn verify(&self, card: &Card) -> Result<(), Error> {
        self.virgil
            .verifier
            .verify(card)
            .map_err(|error| Error::CardNotTrusted {
                identity: card.identity().to_owned(),
                error,
            })
    }

    /// Imports an exported card and checks it with [`Cards::verify`].
    pub fn import_verified(&self, exported: &str) -> Result<Card, Error> {
        let card = self.import(exported)?;
        self.verify(&card)?;
        Ok(card)
    }

    /// The active, verified cards of `identities` (possibly none for some).
    #[cfg(feature = "client")]
    pub fn find(&self, identities: &[&str]) -> Result<Vec<Card>, Error> {
        Ok(self
            .find_published(identities)?
            .into_iter()
            .map(|found| found.card)
            .collect())
    }

    /// Like [`Cards::find`], with when each card was published.
    #[cfg(feature = "client")]
    pub fn find_published(&self, identities: &[&str]) -> Result<Vec<PublishedCard>, Error> {
        Ok(self.find_reviewed(identities)?.cards)
    }

    /// The active, verified cards of `identities`, each identity's compared with the
    /// cards used for it before (the contact store, docs/key-changes.md): a first
    /// contact is pinned, a card linked from a known one is accepted, anything else is
    /// a key change, refused with [`Error::KeyChanged`] under the default
    /// [`crate::KeyChangePolicy::Block`]. The events say what to tell the user.
    /// [`Cards::find`] and [`Cards::find_published`] apply the same checks.
    #[cfg(feature = "client")]
    pub fn find_reviewed(&self, identities: &[&str]) -> Result<crate::Reviewed, Error> {
        let (cards, pending) = self.search(identities)?;
        let mut events = self
            .virgil
            .contacts
            .review(&cards, self.virgil.key_changes)?;
        events.extend(
            pending
                .iter()
                .filter_map(crate::ContactEvent::reset_pending),
        );
        Ok(crate::Reviewed { cards, events })
    }

    /// The active cards of `identities`, not compared with the contact store.
    #[cfg(feature = "client")]
    pub(crate) fn find_unreviewed(&self, identities: &[&str]) -> Result<Vec<PublishedCard>, Error> {
        Ok(self.search(identities)?.0)
    }

    /// The search answer split into active cards and pending reset cards.
    #[cfg(feature = "client")]
    fn search(
        &self,
        identities: &[&str],
    ) -> Result<(Vec<PublishedCard>, Vec<PublishedCard>), Error> {
        Ok(self
            .virgil
            .remote
            .cards()?
            .search(identities, None)
            .map_err(Error::CardsService)?
            .into_iter()
            .partition(|found| !matches!(found.status, crate::CardStatus::Pending { .. })))
    }

    /// The reset cards of `identity` waiting out the cards service's reset delay. For
    /// your own identity, ask on every start: a reset you did not make means someone
    /// has your account password (or the application's key) and is replacing your
    /// cards; cancel it by revoking the reset card with one of your keys
    /// ([`Cards::revoke`]) before it becomes active.
    #[cfg(feature = "client")]
    pub fn pending_resets(&self, identity: &str) -> Result<Vec<PublishedCard>, Error> {
        Ok(self.search(&[identity])?.1)
    }

    /// The active, verified cards of `identities`; an identity without one is an
    /// [`Error::NoCard`].
    #[cfg(feature = "client")]
    pub fn find_each(&self, identities: &[&str]) -> Result<Vec<Card>, Error> {
        let found = self.find(identities)?;
        each_has_a_card(identities, &found)?;
        Ok(found)
    }

    /// A verified card by id, whatever its status (so old messages stay verifiable).
    #[cfg(feature = "client")]
    pub fn get(&self, id: &CardId) -> Result<Card, Error> {
        Ok(self.get_published(id)?.card)
    }

    /// Like [`Cards::get`], with the card's status (active, superseded, revoked).
    #[cfg(feature = "client")]
    pub fn get_published(&self, id: &CardId) -> Result<PublishedCard, Error> {
        let found = self
            .virgil
            .remote
            .cards()?
            .get(id)
            .map_err(Error::CardsService)?;
        if matches!(found.status, crate::CardStatus::Revoked { .. }) {
            self.virgil.contacts.saw_revoked(&found.card)?;
        }
        Ok(found)
    }

    /// Revokes one of your cards with one of your keys: the card's own key, or the key
    /// of another active card of the same identity (a lost phone revoked from the
    /// laptop). Other people's cards cannot be revoked this way.
    #[cfg(feature = "client")]
    pub fn revoke(
        &self,
        id: &CardId,
        reason: RevocationReason,
        key: &Key,
    ) -> Result<PublishedCard, Error> {
        let cards = self.virgil.remote.cards()?;
        let target = cards.get(id).map_err(Error::CardsService)?;
        let signed_by = if target.card.public_key() == key.public_key() {
            *id
        } else {
            cards
                .search(
                    &[target.card.identity()],
                    Some(&target.card.content().identity_type),
                )
                .map_err(Error::CardsService)?
                .into_iter()
                .find(|active| active.card.public_key() == key.public_key())
                .map(|active| *active.card.id())
                .ok_or_else(|| Error::NotYourCard {
                    card: *id,
                    identity: target.card.identity().to_owned(),
                })?
        };
        let request = RevocationRequest {
            card_id: *id,
            reason,
            created_at: virgil_api::unix_now(),
        };
        let signature = request.sign(&key.0);
        let revoked = cards
            .revoke_as_owner(&request, &signature, &signed_by)
            .map_err(Error::CardsService)?;
        self.virgil.contacts.saw_revoked(&revoked.card)?;
        Ok(revoked)
    }

    /// Revokes a card as the application (an operator action: signed with the
    /// application's private key, authorized with a token it issues itself).
    #[cfg(feature = "client")]
    pub fn revoke_as_application(
        &self,
        id: &CardId,
        reason: RevocationReason,
        app_key: &PrivateKey,
    ) -> Result<PublishedCard, Error> {
        let client = virgil_client::CardsClient::for_application(
            self.virgil.remote.cards_url()?,
            self.virgil.service_key.clone(),
            &self.virgil.app_id,
            app_key,
            self.virgil.remote.tls_roots().clone(),
        )
        .map_err(Error::CardsService)?;
        let request = RevocationRequest {
            card_id: *id,
            reason,
            created_at: virgil_api::unix_now(),
        };
        let signature = request.sign(app_key);
        let revoked = client
            .revoke(&request, &signature)
            .map_err(Error::CardsService)?;
        self.virgil.contacts.saw_revoked(&revoked.card)?;
        Ok(revoked)
    }
}
