//! Revocation requests: an application withdrawing one of its cards.
//!
//! ```text
//! request   = "VGLR" ‖ version 0x01 ‖ card_id[32] ‖ reason u8 ‖ u64be(created_at)   (46 bytes)
//! signature = Ed25519(app key, context "virgil/card-revocation", request)
//! ```

use crate::{CardError, CardId};
use virgil_crypto::sign::{self, Context, Signature};
use virgil_crypto::{PrivateKey, PublicKey};

const MAGIC: [u8; 4] = *b"VGLR";
const VERSION: u8 = 1;
/// Length of an encoded revocation request.
pub const REVOCATION_LEN: usize = 4 + 1 + 32 + 1 + 8;

/// Why a card is revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// The private key was (or may have been) compromised.
    Compromised,
    /// The identity was reset (its owner said every key was lost): set by the cards
    /// service when a reset card becomes active, never by a revocation request.
    Reset,
}

impl RevocationReason {
    /// The byte that stands for the reason in revocation requests and status
    /// statements (docs/format.md §9, §12).
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::Compromised => 1,
            RevocationReason::Reset => 2,
        }
    }
}

/// A request to revoke a card, signed by the card's application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationRequest {
    /// The card to revoke.
    pub card_id: CardId,
    /// Why.
    pub reason: RevocationReason,
    /// When the request was made, seconds since the Unix epoch.
    pub created_at: u64,
}

impl RevocationRequest {
    /// The 46 signed bytes.
    pub fn to_bytes(&self) -> [u8; REVOCATION_LEN] {
        let mut bytes = [0u8; REVOCATION_LEN];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4] = VERSION;
        bytes[5..37].copy_from_slice(self.card_id.as_bytes());
        bytes[37] = self.reason.code();
        bytes[38..].copy_from_slice(&self.created_at.to_be_bytes());
        bytes
    }

    /// Decodes the 46 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CardError> {
        const WHAT: &str = "revocation request";
        let bytes: &[u8; REVOCATION_LEN] = bytes.try_into().map_err(|_| CardError::Malformed {
            what: WHAT,
            reason: "wrong length (expected 46 bytes)",
        })?;
        let (magic, rest) = bytes.split_at(4);
        let (version, rest) = rest.split_at(1);
        let (id, rest) = rest.split_at(32);
        let (reason, created_at) = rest.split_at(1);
        if magic != MAGIC {
            return Err(CardError::Malformed {
                what: WHAT,
                reason: "wrong magic",
            });
        }
        if version != [VERSION] {
            return Err(CardError::UnsupportedVersion {
                what: WHAT,
                version: version.first().copied().unwrap_or_default(),
            });
        }
        let reason = match reason {
            [0] => RevocationReason::Unspecified,
            [1] => RevocationReason::Compromised,
            [2] => {
                return Err(CardError::Malformed {
                    what: WHAT,
                    reason: "reason \"reset\" is set by the cards service, not requested",
                });
            }
            _ => {
                return Err(CardError::Malformed {
                    what: WHAT,
                    reason: "unknown reason",
                });
            }
        };
        let id: [u8; 32] = id.try_into().map_err(|_| CardError::InvalidCardId)?;
        let created_at: [u8; 8] = created_at.try_into().map_err(|_| CardError::Malformed {
            what: WHAT,
            reason: "truncated",
        })?;
        Ok(Self {
            card_id: CardId::from_bytes(id),
            reason,
            created_at: u64::from_be_bytes(created_at),
        })
    }

    /// Signs the request with the application key.
    pub fn sign(&self, app_key: &PrivateKey) -> Signature {
        sign::sign(app_key, Context::CARD_REVOCATION, &self.to_bytes())
    }

    /// Whether `signature` is this request signed by `app_key`.
    pub fn verify(&self, app_key: &PublicKey, signature: &Signature) -> bool {
        sign::verify(
            app_key,
            Context::CARD_REVOCATION,
            &self.to_bytes(),
            signature,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sign_and_tamper() {
        let app = PrivateKey::from_seed(&[5; 32]).unwrap();
        let request = RevocationRequest {
            card_id: CardId::of_snapshot(b"card"),
            reason: RevocationReason::Compromised,
            created_at: 1_700_000_000,
        };
        let bytes = request.to_bytes();
        assert_eq!(RevocationRequest::from_bytes(&bytes).unwrap(), request);
        let signature = request.sign(&app);
        assert!(request.verify(app.public_key(), &signature));
        let other = RevocationRequest {
            reason: RevocationReason::Unspecified,
            ..request.clone()
        };
        assert!(!other.verify(app.public_key(), &signature));
        let mut bad = bytes;
        bad[37] = 9;
        assert!(RevocationRequest::from_bytes(&bad).is_err());
        assert!(RevocationRequest::from_bytes(&bytes[..45]).is_err());
    }
}
