//! The verification policy every client applies before using a card.

use crate::{Card, Signer, VerifyError};
use std::collections::BTreeMap;
use virgil_crypto::PublicKey;

/// Which signatures a card must carry, and whose keys they must match.
///
/// A card passes when:
/// 1. its self-signature verifies against the card's own public key;
/// 2. its application is trusted and the `app:<app id>` signature verifies against one
///    of that application's keys (several keys per application allow rotation);
/// 3. if any service key is configured, the `service` signature verifies against one of
///    them (a verifier with no service key checks card requests, before publication);
/// 4. it carries no other signature — unless [`Verifier::allow_extra_signers`] is set,
///    in which case signatures by other signers are ignored (never trusted). Link
///    signatures (`link:<card id>`) are allowed but not checked here: a link means
///    something only next to the identity's other cards ([`Card::is_linked_from`]).
///
/// The card id needs no check of its own: a [`Card`] always computes it from its
/// snapshot, and decoders that receive an id ([`crate::CardJson`]) compare it.
///
/// ```
/// use virgil_card::{CardRequest, Signer, Verifier};
/// use virgil_crypto::PrivateKey;
///
/// let (user, app, service) = (PrivateKey::generate()?, PrivateKey::generate()?, PrivateKey::generate()?);
/// let mut card = CardRequest::new("alice", "chat").sign(&user)?;
/// card.sign_as(Signer::App("chat".into()), &app)?;
/// card.sign_as(Signer::Service, &service)?;
///
/// let verifier = Verifier::new()
///     .trust_service(service.public_key().clone())
///     .trust_app("chat", app.public_key().clone());
/// verifier.verify(&card)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    service_keys: Vec<PublicKey>,
    app_keys: BTreeMap<String, Vec<PublicKey>>,
    allow_extra_signers: bool,
}

impl Verifier {
    /// A verifier that trusts nothing yet: add service and application keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires a service signature by this key (or another trusted service key).
    pub fn trust_service(mut self, key: PublicKey) -> Self {
        self.service_keys.push(key);
        self
    }

    /// Trusts application `app_id` with this key; its cards must carry its signature.
    pub fn trust_app(mut self, app_id: &str, key: PublicKey) -> Self {
        self.app_keys
            .entry(app_id.to_owned())
            .or_default()
            .push(key);
        self
    }

    /// Accepts (and ignores) signatures by signers this policy does not know. Off by
    /// default: an unknown signature is then an error.
    pub fn allow_extra_signers(mut self, allow: bool) -> Self {
        self.allow_extra_signers = allow;
        self
    }

    /// The trusted keys of application `app_id` (empty if none).
    pub fn app_keys(&self, app_id: &str) -> &[PublicKey] {
        self.app_keys.get(app_id).map_or(&[], Vec::as_slice)
    }

    /// The trusted service keys (empty: a verifier of card requests).
    pub fn service_keys(&self) -> &[PublicKey] {
        &self.service_keys
    }

    /// Checks `card` against the policy; the error names the check that failed.
    pub fn verify(&self, card: &Card) -> Result<(), VerifyError> {
        let id = *card.id();
        let app_id = &card.content().app_id;

        card.verify_self_signature()?;

        let app_signer = Signer::App(app_id.clone());
        let app_keys =
            self.app_keys
                .get(app_id)
                .ok_or_else(|| VerifyError::UntrustedApplication {
                    card: id,
                    app_id: app_id.clone(),
                })?;
        if card.signature_by(&app_signer).is_none() {
            return Err(VerifyError::MissingAppSignature {
                card: id,
                app_id: app_id.clone(),
            });
        }
        if !app_keys
            .iter()
            .any(|key| card.is_signed_by(&app_signer, key))
        {
            return Err(VerifyError::BadAppSignature {
                card: id,
                app_id: app_id.clone(),
            });
        }

        if !self.service_keys.is_empty() {
            if card.signature_by(&Signer::Service).is_none() {
                return Err(VerifyError::MissingServiceSignature { card: id });
            }
            if !self
                .service_keys
                .iter()
                .any(|key| card.is_signed_by(&Signer::Service, key))
            {
                return Err(VerifyError::BadServiceSignature { card: id });
            }
        }

        if !self.allow_extra_signers {
            let known = |signer: &Signer| {
                *signer == Signer::SelfSigned
                    || matches!(signer, Signer::Link(_))
                    || *signer == app_signer
                    || (*signer == Signer::Service && !self.service_keys.is_empty())
            };
            if let Some(extra) = card.signatures().iter().find(|entry| !known(&entry.signer)) {
                return Err(VerifyError::UnexpectedSigner {
                    card: id,
                    signer: extra.signer.clone(),
                });
            }
        }
        Ok(())
    }
}
