//! Moving cards around: the export string and the JSON shape of the HTTP API.
//!
//! ```text
//! export = base64( bincode { "VGLX", version 0x01, snapshot: bytes, signatures: [(signer: string, signature[64])] } )
//! ```

use crate::card::{Card, CardSignature, Signer};
use crate::{CardError, CardId};
use bincode::{Decode, Encode};
use virgil_crypto::encoding::{from_base64, to_base64};
use virgil_crypto::sign::{SIGNATURE_LEN, Signature};

const MAGIC: [u8; 4] = *b"VGLX";
const VERSION: u8 = 1;
/// The largest exported card a decoder accepts, in bytes (before base64).
pub const MAX_EXPORT_LEN: usize = 64 * 1024;
/// At most this many signatures on one card.
pub const MAX_SIGNATURES: usize = 16;

#[derive(Encode, Decode)]
struct ExportWire {
    magic: [u8; 4],
    version: u8,
    snapshot: Vec<u8>,
    signatures: Vec<(String, [u8; SIGNATURE_LEN])>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_EXPORT_LEN>()
}

impl Card {
    /// The card (or card request) with its signatures as one base64 string.
    pub fn export(&self) -> String {
        let wire = ExportWire {
            magic: MAGIC,
            version: VERSION,
            snapshot: self.snapshot().to_vec(),
            signatures: self
                .signatures()
                .iter()
                .map(|entry| (entry.signer.to_string(), *entry.signature.as_bytes()))
                .collect(),
        };
        // A valid card is far below the size limit, so encoding cannot fail; an empty
        // string (which `import` rejects) stands in if it ever did.
        bincode::encode_to_vec(wire, config())
            .map(|bytes| to_base64(&bytes))
            .unwrap_or_default()
    }

    /// Parses an exported card. Validates everything (size, format, snapshot, signer
    /// names, duplicates) and never panics; signatures are verified by a
    /// [`crate::Verifier`], not here.
    pub fn import(text: &str) -> Result<Card, CardError> {
        const WHAT: &str = "exported card";
        let malformed = |reason| CardError::Malformed { what: WHAT, reason };
        if text.len() > MAX_EXPORT_LEN.div_ceil(3) * 4 {
            return Err(malformed("larger than 64 KiB"));
        }
        let bytes = from_base64(text.trim()).map_err(|_| malformed("not base64"))?;
        crate::content::check_magic_and_version(&bytes, MAGIC, VERSION, WHAT)?;
        let (wire, used): (ExportWire, usize) = bincode::decode_from_slice(&bytes, config())
            .map_err(|_| malformed("truncated or invalid field encoding"))?;
        if used != bytes.len() {
            return Err(malformed("trailing bytes"));
        }
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(malformed("more than 16 signatures"));
        }
        let signatures = wire
            .signatures
            .into_iter()
            .map(|(signer, signature)| {
                Ok(CardSignature {
                    signer: signer.parse()?,
                    signature: Signature::from_bytes(signature),
                })
            })
            .collect::<Result<Vec<_>, CardError>>()?;
        Card::from_parts(wire.snapshot, signatures)
    }
}

/// One signature in the HTTP API's JSON.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignatureJson {
    /// `self`, `service` or `app:<app id>`.
    pub signer: String,
    /// The 64-byte Ed25519 signature, base64.
    pub signature: String,
}

/// A card in the HTTP API's JSON: the snapshot as base64 (never re-encoded), its id and
/// its signatures. Convert with [`Card::to_json`] and [`CardJson::into_card`].
///
/// ```json
/// {"id": "3f…", "content_snapshot": "VkdMQwEAAAAA…", "signatures": [{"signer": "self", "signature": "…"}]}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardJson {
    /// SHA-256 of the snapshot, hex.
    pub id: CardId,
    /// The snapshot, base64.
    pub content_snapshot: String,
    /// The signatures.
    pub signatures: Vec<SignatureJson>,
}

impl Card {
    /// The JSON shape of this card.
    pub fn to_json(&self) -> CardJson {
        CardJson {
            id: *self.id(),
            content_snapshot: to_base64(self.snapshot()),
            signatures: self
                .signatures()
                .iter()
                .map(|entry| SignatureJson {
                    signer: entry.signer.to_string(),
                    signature: to_base64(entry.signature.as_bytes()),
                })
                .collect(),
        }
    }
}

impl CardJson {
    /// Validates and converts to a [`Card`]; the id must match the snapshot.
    pub fn into_card(self) -> Result<Card, CardError> {
        const WHAT: &str = "card JSON";
        if self.content_snapshot.len() > crate::content::MAX_SNAPSHOT_LEN.div_ceil(3) * 4 {
            return Err(CardError::Malformed {
                what: WHAT,
                reason: "snapshot larger than 32 KiB",
            });
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(CardError::Malformed {
                what: WHAT,
                reason: "more than 16 signatures",
            });
        }
        let snapshot = from_base64(&self.content_snapshot).map_err(|_| CardError::Malformed {
            what: WHAT,
            reason: "content_snapshot is not base64",
        })?;
        let signatures = self
            .signatures
            .into_iter()
            .map(|entry| {
                let signer: Signer = entry.signer.parse()?;
                let bytes = from_base64(&entry.signature).map_err(|_| CardError::Malformed {
                    what: WHAT,
                    reason: "signature is not base64",
                })?;
                let signature =
                    Signature::from_slice(&bytes).map_err(|_| CardError::Malformed {
                        what: WHAT,
                        reason: "signature is not 64 bytes",
                    })?;
                Ok(CardSignature { signer, signature })
            })
            .collect::<Result<Vec<_>, CardError>>()?;
        let card = Card::from_parts(snapshot, signatures)?;
        if card.id() != &self.id {
            return Err(CardError::IdMismatch {
                expected: *card.id(),
            });
        }
        Ok(card)
    }
}
