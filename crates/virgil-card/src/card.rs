//! Cards: a snapshot plus signatures, and how card requests are made and signed.

use crate::content::{CardContent, DEFAULT_IDENTITY_TYPE, DeviceInfo};
use crate::{CardError, CardId};
use core::fmt;
use core::str::FromStr;
use std::collections::BTreeMap;
use virgil_crypto::sign::{self, Context, Signature};
use virgil_crypto::{PrivateKey, PublicKey};

/// Who signed a card.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signer {
    /// The card's owner, with the card's own key.
    SelfSigned,
    /// The application that approved the card (`app:<app id>`).
    App(String),
    /// The cards service that published it.
    Service,
    /// An existing card of the same identity (`link:<card id>`), signing with its own
    /// key that this card is the identity's too: another device, or a rotation. See
    /// [`Card::link_from`].
    Link(CardId),
}

impl Signer {
    /// The signature context of this signer: `virgil/card-link` for links,
    /// `virgil/card` for the others.
    pub fn context(&self) -> Context {
        match self {
            Signer::Link(_) => Context::CARD_LINK,
            _ => Context::CARD,
        }
    }
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::SelfSigned => f.write_str("self"),
            Signer::App(app_id) => write!(f, "app:{app_id}"),
            Signer::Service => f.write_str("service"),
            Signer::Link(card) => write!(f, "link:{card}"),
        }
    }
}

impl FromStr for Signer {
    type Err = CardError;

    /// `self`, `service`, `app:<app id>` (the app id follows the app id rules) or
    /// `link:<card id>` (64 lowercase hex digits).
    fn from_str(text: &str) -> Result<Self, CardError> {
        if let Some(card) = text.strip_prefix("link:") {
            return card
                .parse()
                .map(Signer::Link)
                .map_err(|_| CardError::InvalidSigner(text.chars().take(80).collect()));
        }
        match text {
            "self" => Ok(Signer::SelfSigned),
            "service" => Ok(Signer::Service),
            _ => match text.strip_prefix("app:") {
                Some(app_id)
                    if !app_id.is_empty()
                        && app_id.len() <= crate::content::MAX_NAME_CHARS
                        && app_id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) =>
                {
                    Ok(Signer::App(app_id.to_owned()))
                }
                _ => Err(CardError::InvalidSigner(text.chars().take(80).collect())),
            },
        }
    }
}

/// One signature on a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardSignature {
    /// Who signed.
    pub signer: Signer,
    /// Ed25519 over context `virgil/card` (`virgil/card-link` for a link), message
    /// `card id ‖ signer name`.
    pub signature: Signature,
}

/// The message a card signature covers: the 32-byte card id, then the signer's name
/// (`self`, `app:<id>`, `service`), so a signature made in one role never counts in
/// another.
pub(crate) fn signed_message(id: &CardId, signer: &Signer) -> Vec<u8> {
    let name = signer.to_string();
    let mut message = Vec::with_capacity(32 + name.len());
    message.extend_from_slice(id.as_bytes());
    message.extend_from_slice(name.as_bytes());
    message
}

/// A card: its snapshot (kept verbatim), the content decoded from it, its id, and
/// signatures. A card request is a card with only its self-signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    snapshot: Vec<u8>,
    content: CardContent,
    id: CardId,
    signatures: Vec<CardSignature>,
}

impl Card {
    /// Rebuilds a card from its snapshot and signatures, validating the snapshot and
    /// rejecting duplicate signers. Signatures are *not* checked here: use a
    /// [`crate::Verifier`].
    pub fn from_parts(
        snapshot: Vec<u8>,
        signatures: Vec<CardSignature>,
    ) -> Result<Self, CardError> {
        let content = CardContent::from_snapshot(&snapshot)?;
        let id = CardId::of_snapshot(&snapshot);
        let mut card = Card {
            snapshot,
            content,
            id,
            signatures: Vec::with_capacity(signatures.len()),
        };
        for signature in signatures {
            card.push_signature(signature)?;
        }
        Ok(card)
    }

    /// The snapshot: the exact bytes the id and every signature cover.
    pub fn snapshot(&self) -> &[u8] {
        &self.snapshot
    }

    /// The decoded content.
    pub fn content(&self) -> &CardContent {
        &self.content
    }

    /// SHA-256 of the snapshot.
    pub fn id(&self) -> &CardId {
        &self.id
    }

    /// The identity the card is for.
    pub fn identity(&self) -> &str {
        &self.content.identity
    }

    /// The card's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.content.public_key
    }

    /// The signatures, in the order they were added.
    pub fn signatures(&self) -> &[CardSignature] {
        &self.signatures
    }

    /// The signature by `signer`, if there is one.
    pub fn signature_by(&self, signer: &Signer) -> Option<&Signature> {
        self.signatures
            .iter()
            .find(|entry| &entry.signer == signer)
            .map(|entry| &entry.signature)
    }

    /// Adds a signature made elsewhere; a second signature by the same signer is an
    /// error. The card id never changes.
    pub fn push_signature(&mut self, signature: CardSignature) -> Result<(), CardError> {
        if self.signature_by(&signature.signer).is_some() {
            return Err(CardError::DuplicateSigner(signature.signer));
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the card as `signer` with `key` (an application approving a request, or
    /// the cards service countersigning it).
    pub fn sign_as(&mut self, signer: Signer, key: &PrivateKey) -> Result<(), CardError> {
        if self.signature_by(&signer).is_some() {
            return Err(CardError::DuplicateSigner(signer));
        }
        let signature = sign::sign(key, signer.context(), &signed_message(&self.id, &signer));
        self.signatures.push(CardSignature { signer, signature });
        Ok(())
    }

    /// Links this card from `existing`, a card of the same owner
    /// ([`crate::CardIdentity`]: application and identity), by signing with `existing`'s private key `key`: the proof
    /// that whoever holds an identity's key made the new card (a second device, or a
    /// rotation). The cards service refuses a new card for an identity that has active
    /// cards unless it is linked from one of them.
    pub fn link_from(&mut self, existing: &Card, key: &PrivateKey) -> Result<(), CardError> {
        self.check_linkable(existing)?;
        if key.public_key() != existing.public_key() {
            return Err(CardError::InvalidLink(
                "the key is not the linking card's key",
            ));
        }
        self.sign_as(Signer::Link(*existing.id()), key)
    }

    /// Whether this card carries a link signature by `existing` that verifies against
    /// `existing`'s key, and both cards have the same owner ([`crate::CardIdentity`]).
    pub fn is_linked_from(&self, existing: &Card) -> bool {
        self.check_linkable(existing).is_ok()
            && self.is_signed_by(&Signer::Link(*existing.id()), existing.public_key())
    }

    /// The cards this card claims to be linked from (unverified: see
    /// [`Card::is_linked_from`]).
    pub fn links(&self) -> impl Iterator<Item = &CardId> {
        self.signatures
            .iter()
            .filter_map(|entry| match &entry.signer {
                Signer::Link(card) => Some(card),
                _ => None,
            })
    }

    fn check_linkable(&self, existing: &Card) -> Result<(), CardError> {
        if existing.id == self.id {
            return Err(CardError::InvalidLink("a card cannot link itself"));
        }
        if !self.same_owner(existing) {
            return Err(CardError::InvalidLink(
                "the cards are of different identities or applications",
            ));
        }
        Ok(())
    }

    /// Checks the self-signature against the card's own key: what an application server
    /// checks on a card request before approving it (with the identity and app id).
    pub fn verify_self_signature(&self) -> Result<(), crate::VerifyError> {
        if self.signature_by(&Signer::SelfSigned).is_none() {
            return Err(crate::VerifyError::MissingSelfSignature { card: self.id });
        }
        if !self.is_signed_by(&Signer::SelfSigned, self.public_key()) {
            return Err(crate::VerifyError::BadSelfSignature { card: self.id });
        }
        Ok(())
    }

    /// Whether `signer`'s signature is present and verifies against `key`.
    pub fn is_signed_by(&self, signer: &Signer, key: &PublicKey) -> bool {
        self.signature_by(signer).is_some_and(|signature| {
            sign::verify(
                key,
                signer.context(),
                &signed_message(&self.id, signer),
                signature,
            )
            .is_ok()
        })
    }
}

/// Builds a card request: the content plus the owner's self-signature.
///
/// ```
/// use virgil_card::CardRequest;
/// use virgil_crypto::PrivateKey;
///
/// let key = PrivateKey::generate()?;
/// let request = CardRequest::new("alice", "chat-app")
///     .data("team", "blue")
///     .device("iPhone", "Alice's phone")
///     .sign(&key)?;
/// assert_eq!(request.identity(), "alice");
/// assert_eq!(request.content().identity_type, "user");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CardRequest {
    identity: String,
    identity_type: String,
    app_id: String,
    data: BTreeMap<String, String>,
    info: Option<DeviceInfo>,
    created_at: Option<u64>,
    previous_card_id: Option<CardId>,
}

impl CardRequest {
    /// A request for `identity` in application `app_id`, identity type `user`.
    pub fn new(identity: &str, app_id: &str) -> Self {
        Self {
            identity: identity.to_owned(),
            identity_type: DEFAULT_IDENTITY_TYPE.to_owned(),
            app_id: app_id.to_owned(),
            data: BTreeMap::new(),
            info: None,
            created_at: None,
            previous_card_id: None,
        }
    }

    /// Sets the identity type (default `user`).
    pub fn identity_type(mut self, identity_type: &str) -> Self {
        identity_type.clone_into(&mut self.identity_type);
        self
    }

    /// Adds a data entry (a later value for the same key replaces the earlier one).
    pub fn data(mut self, key: &str, value: &str) -> Self {
        self.data.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Describes the device the key lives on.
    pub fn device(mut self, device: &str, device_name: &str) -> Self {
        self.info = Some(DeviceInfo {
            device: device.to_owned(),
            device_name: device_name.to_owned(),
        });
        self
    }

    /// Sets the creation time (default: now).
    pub fn created_at(mut self, seconds_since_epoch: u64) -> Self {
        self.created_at = Some(seconds_since_epoch);
        self
    }

    /// Marks the new card as replacing `previous` (key rotation).
    pub fn replaces(mut self, previous: CardId) -> Self {
        self.previous_card_id = Some(previous);
        self
    }

    /// Validates the content, encodes the snapshot and self-signs it with `key`, whose
    /// public key becomes the card's.
    pub fn sign(self, key: &PrivateKey) -> Result<Card, CardError> {
        let created_at = self.created_at.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs())
        });
        let content = CardContent {
            identity: self.identity,
            identity_type: self.identity_type,
            public_key: key.public_key().clone(),
            app_id: self.app_id,
            data: self.data,
            info: self.info,
            created_at,
            previous_card_id: self.previous_card_id,
        };
        let snapshot = content.to_snapshot()?;
        let mut card = Card {
            id: CardId::of_snapshot(&snapshot),
            snapshot,
            content,
            signatures: Vec::new(),
        };
        card.sign_as(Signer::SelfSigned, key)?;
        Ok(card)
    }
}
