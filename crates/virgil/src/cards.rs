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
            .sign(&key.private)?)
    }

    /// A self-signed *reset* card request for `identity` and `key`: for a user who lost
    /// every key. It needs no link; submitted with the account password
    /// ([`crate::Account::publish_reset_card`]) it revokes all of the identity's other
    /// cards, after the cards service's reset delay, during which any of those cards can
    /// cancel it. Every contact is warned of it (docs/key-changes.md).
    pub fn create_reset(&self, identity: &Identity, key: &Key) -> Result<Card, Error> {
        Ok(CardRequest::new(&identity.value, &self.virgil.app_id)
            .identity_type(&identity.identity_type)
            .data(virgil_card::lifecycle::RESET_DATA_KEY, "1")
            .sign(&key.private)?)
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
        Ok(request.link_from(existing, &key.private)?)
    }

    /// A card request for `key` that *replaces* `previous`, one of the identity's
    /// active cards (key rotation): linked from it with `previous_key` and naming it as
    /// `previous_card_id`, so that once published `previous` is superseded in the same
    /// step. Contacts take it as a rotation (the superseded card still vouches for the
    /// card that replaced it); revoking the old card instead would make it vouch for
    /// nothing and show contacts a key change.
    pub fn create_replacement(
        &self,
        identity: &Identity,
        key: &Key,
        previous: &Card,
        previous_key: &Key,
    ) -> Result<Card, Error> {
        let mut request = CardRequest::new(&identity.value, &self.virgil.app_id)
            .identity_type(&identity.identity_type)
            .replaces(*previous.id())
            .sign(&key.private)?;
        request.link_from(previous, &previous_key.private)?;
        Ok(request)
    }

    /// Imports an exported, published card and checks it with [`Cards::verify`]. (An
    /// unverified card or card request: [`Card::import`].)
    pub fn import(&self, exported: &str) -> Result<Card, Error> {
        let card = Card::import(exported)?;
        self.verify(&card)?;
        Ok(card)
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

    /// The usable, verified cards of `identities` (possibly none for some: require one
    /// each with [`crate::Reviewed::check_each`]), each identity's compared with what
    /// this device knows (docs/key-changes.md), and what happened on the way. Encrypt
    /// to them with `key.sign_then_encrypt(message, &found.cards)`.
    ///
    /// For a contact: a first contact is pinned, a card linked from a known one is
    /// accepted, anything else is a key change, refused with [`Error::KeyChanged`] under
    /// the default [`crate::KeyChangePolicy::Block`]; a pinned card the directory no
    /// longer lists has its status fetched, and if revoked is reported and no longer
    /// vouches. For the user's own identity ([`Virgil::self_check`]): only the cards
    /// this device's keys made or link are used, and any other card is an
    /// [`Error::SelfCheck`] alarm. The events say what to tell the user.
    #[cfg(feature = "client")]
    pub fn find(&self, identities: &[&str]) -> Result<crate::Reviewed, Error> {
        let virgil = self.virgil;
        let cards = virgil.remote.cards()?;
        let found = cards.search(identities).map_err(Error::CardsService)?;
        let me = virgil.own_identity();
        // The contact file is read once: most lookups change nothing in it.
        let book = virgil.contacts.read()?;
        let missing = book.missing(&virgil.app_id, identities, &found, me.as_ref());
        let statuses = missing
            .iter()
            .map(|id| cards.get(id).map_err(Error::CardsService))
            .collect::<Result<Vec<_>, _>>()?;
        // The keys this device holds matter only when its own identity is looked up.
        let local_keys = match &me {
            Some(me) if identities.contains(&me.identity.as_str()) => virgil
                .keys
                .list()?
                .entries
                .into_iter()
                .map(|entry| entry.key_id)
                .collect(),
            _ => Vec::new(),
        };
        let lookup = crate::contacts::Lookup {
            app_id: &virgil.app_id,
            identities,
            found: &found,
            me: me.as_ref(),
            local_keys: &local_keys,
            statuses: &statuses,
        };
        virgil.contacts.review(book, &lookup, virgil.key_changes)
    }

    /// The active cards of `identities`, not compared with the contact store.
    #[cfg(feature = "client")]
    pub(crate) fn find_unreviewed(&self, identities: &[&str]) -> Result<Vec<PublishedCard>, Error> {
        Ok(self
            .search(identities)?
            .into_iter()
            .filter(|found| found.status.is_active())
            .collect())
    }

    /// Every active and pending card of `identities`, verified, unreviewed.
    #[cfg(feature = "client")]
    fn search(&self, identities: &[&str]) -> Result<Vec<PublishedCard>, Error> {
        self.virgil
            .remote
            .cards()?
            .search(identities)
            .map_err(Error::CardsService)
    }

    /// The reset cards of `identity` waiting out the cards service's reset delay (not
    /// reviewed: for your own identity, [`Virgil::self_check`] says whether this
    /// device made it).
    #[cfg(feature = "client")]
    pub fn pending_resets(&self, identity: &str) -> Result<Vec<PublishedCard>, Error> {
        Ok(self
            .search(&[identity])?
            .into_iter()
            .filter(|found| matches!(found.status, crate::CardStatus::Pending { .. }))
            .collect())
    }

    /// A verified card by id whatever its status (so old messages stay verifiable),
    /// with that status (active, superseded, revoked): `cards.get(&id)?.card`.
    #[cfg(feature = "client")]
    pub fn get(&self, id: &CardId) -> Result<PublishedCard, Error> {
        let found = self
            .virgil
            .remote
            .cards()?
            .get(id)
            .map_err(Error::CardsService)?;
        if let crate::CardStatus::Revoked { reason, .. } = found.status {
            self.virgil.contacts.saw_revoked(&found.card, reason)?;
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
                .search(&[target.card.identity()])
                .map_err(Error::CardsService)?
                .into_iter()
                .find(|active| {
                    active.status.is_active()
                        && active.card.same_owner(&target.card)
                        && active.card.public_key() == key.public_key()
                })
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
        let signature = request.sign(&key.private);
        let revoked = cards
            .revoke_as_owner(&request, &signature, &signed_by)
            .map_err(Error::CardsService)?;
        self.virgil.contacts.saw_revoked(&revoked.card, reason)?;
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
        self.virgil.contacts.saw_revoked(&revoked.card, reason)?;
        Ok(revoked)
    }
}
