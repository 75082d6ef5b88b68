//! Card content and its snapshot: the exact bytes that are hashed into the card id and
//! signed, encoded once and then kept verbatim.
//!
//! The snapshot is bincode 2 (big-endian, fixed-width integers); `docs/format.md`
//! ("Card snapshot") spells out every byte. Decoding validates every field and rejects
//! any encoding that is not the canonical one, so one content has one snapshot.

use crate::{CardError, CardId};
use bincode::{Decode, Encode};
use std::collections::BTreeMap;
use virgil_crypto::{PUBLIC_KEY_LEN, PublicKey, Suite};

/// Most data entries a card may carry.
pub const MAX_DATA_ENTRIES: usize = 16;
/// Longest data key, in characters.
pub const MAX_DATA_KEY_CHARS: usize = 64;
/// Longest data value, in characters.
pub const MAX_DATA_VALUE_CHARS: usize = 256;
/// Longest identity, in characters.
pub const MAX_IDENTITY_CHARS: usize = 256;
/// Longest identity type or application id, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest device or device name, in characters.
pub const MAX_INFO_CHARS: usize = 256;
/// The largest snapshot a decoder accepts, in bytes.
pub const MAX_SNAPSHOT_LEN: usize = 32 * 1024;
/// The default identity type.
pub const DEFAULT_IDENTITY_TYPE: &str = "user";

const MAGIC: [u8; 4] = *b"VGLC";
/// Version 1: a suite-1 public key, as a fixed 100-byte field.
const VERSION_CLASSIC: u8 = 1;
/// Version 2: a public key of any later suite, as length-prefixed bytes.
const VERSION_SIZED_KEY: u8 = 2;
const NAME_CHARS: &str = "letters, digits, '_', '.' and '-'";

/// Optional description of the device a key lives on.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DeviceInfo {
    /// Device kind, e.g. `"iPhone"`.
    pub device: String,
    /// Device name, e.g. `"Alice's phone"`.
    pub device_name: String,
}

/// What a card says: who (identity), which key, for which application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardContent {
    /// Who the card is for, e.g. a user name.
    pub identity: String,
    /// What kind of identity (default [`DEFAULT_IDENTITY_TYPE`]).
    pub identity_type: String,
    /// The identity's public key.
    pub public_key: PublicKey,
    /// The application the card belongs to.
    pub app_id: String,
    /// Application-defined attributes.
    pub data: BTreeMap<String, String>,
    /// The device the key lives on, if given.
    pub info: Option<DeviceInfo>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// The card this one replaces (key rotation), if any.
    pub previous_card_id: Option<CardId>,
}

/// The wire form; field order is the byte order (see docs/format.md). `Key` is
/// `[u8; 100]` in version 1 and `Vec<u8>` (length-prefixed) in version 2.
#[derive(Encode, Decode)]
struct SnapshotWire<Key> {
    magic: [u8; 4],
    version: u8,
    identity: String,
    identity_type: String,
    public_key: Key,
    app_id: String,
    data: Vec<(String, String)>,
    info: Option<(String, String)>,
    created_at: u64,
    previous_card_id: Option<[u8; 32]>,
}

/// Checks the 4-byte magic and the version byte every card format starts with.
pub(crate) fn check_magic_and_version(
    bytes: &[u8],
    magic: [u8; 4],
    version: u8,
    what: &'static str,
) -> Result<(), CardError> {
    check_magic_and_versions(bytes, magic, &[version], what).map(|_| ())
}

/// Like [`check_magic_and_version`], for a format with several versions: which one.
pub(crate) fn check_magic_and_versions(
    bytes: &[u8],
    magic: [u8; 4],
    versions: &[u8],
    what: &'static str,
) -> Result<u8, CardError> {
    if bytes.get(..4) != Some(magic.as_slice()) {
        return Err(CardError::Malformed {
            what,
            reason: "wrong magic",
        });
    }
    match bytes.get(4) {
        Some(found) if versions.contains(found) => Ok(*found),
        Some(&found) => Err(CardError::UnsupportedVersion {
            what,
            version: found,
        }),
        None => Err(CardError::Malformed {
            what,
            reason: "truncated",
        }),
    }
}

pub(crate) fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_SNAPSHOT_LEN>()
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), CardError> {
    if value.chars().count() > max {
        return Err(CardError::TooLong { field, max });
    }
    Ok(())
}

fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), CardError> {
    if value.is_empty() {
        return Err(CardError::Empty { field });
    }
    check_len(field, value, max)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(CardError::InvalidCharacters {
            field,
            allowed: NAME_CHARS,
        });
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), CardError> {
    check_len(field, value, max)?;
    if value.chars().any(char::is_control) {
        return Err(CardError::InvalidCharacters {
            field,
            allowed: "printable characters (no control characters)",
        });
    }
    Ok(())
}

/// Data keys starting with this are the format's own markers (format.md §7).
pub const RESERVED_DATA_PREFIX: &str = "virgil.";

/// The data entry that marks a reset card: the one card an owner may get without a
/// link, after losing every key (format.md §7; the rule is
/// [`crate::lifecycle::admit`]'s).
pub const RESET_DATA_KEY: &str = "virgil.reset";

/// Whether `card` says, in its signed content, that it is a reset card.
pub fn is_reset(card: &crate::Card) -> bool {
    card.content()
        .data
        .get(RESET_DATA_KEY)
        .is_some_and(|value| value == "1")
}

/// The one reserved entry a card may carry: `virgil.reset = "1"` (a reset card,
/// [`is_reset`]). Any other `virgil.` key, or another value, is refused, so that no
/// card says something the rules do not define.
fn check_reserved(key: &str, value: &str) -> Result<(), CardError> {
    match key.strip_prefix(RESERVED_DATA_PREFIX) {
        None => Ok(()),
        Some(_) if key == RESET_DATA_KEY && value == "1" => Ok(()),
        Some(_) => Err(CardError::ReservedData {
            key: key.to_owned(),
        }),
    }
}

/// Checks an identity: 1–256 printable characters.
pub fn validate_identity(identity: &str) -> Result<(), CardError> {
    if identity.is_empty() {
        return Err(CardError::Empty { field: "identity" });
    }
    check_text("identity", identity, MAX_IDENTITY_CHARS)
}

impl CardContent {
    /// Checks every field against the limits of the format.
    pub fn validate(&self) -> Result<(), CardError> {
        validate_identity(&self.identity)?;
        check_name("identity_type", &self.identity_type, MAX_NAME_CHARS)?;
        check_name("app_id", &self.app_id, MAX_NAME_CHARS)?;
        if self.data.len() > MAX_DATA_ENTRIES {
            return Err(CardError::TooManyDataEntries {
                max: MAX_DATA_ENTRIES,
            });
        }
        for (key, value) in &self.data {
            check_name("data key", key, MAX_DATA_KEY_CHARS)?;
            check_text("data value", value, MAX_DATA_VALUE_CHARS)?;
            check_reserved(key, value)?;
        }
        if let Some(info) = &self.info {
            check_text("info.device", &info.device, MAX_INFO_CHARS)?;
            check_text("info.device_name", &info.device_name, MAX_INFO_CHARS)?;
        }
        Ok(())
    }

    /// Validates and encodes the content: the snapshot (version 1 for a suite-1 key,
    /// version 2 for any other).
    pub fn to_snapshot(&self) -> Result<Vec<u8>, CardError> {
        self.validate()?;
        let key = self.public_key.as_bytes();
        let encoded = match self.public_key.suite() {
            Suite::Classic => {
                let key: [u8; PUBLIC_KEY_LEN] =
                    key.try_into().map_err(|_| CardError::Malformed {
                        what: "card snapshot",
                        reason: "a suite-1 public key is 100 bytes",
                    })?;
                bincode::encode_to_vec(self.to_wire(VERSION_CLASSIC, key), bincode_config())
            }
            _ => bincode::encode_to_vec(
                self.to_wire(VERSION_SIZED_KEY, key.to_vec()),
                bincode_config(),
            ),
        };
        encoded.map_err(|_| CardError::Malformed {
            what: "card snapshot",
            reason: "too large",
        })
    }

    fn to_wire<Key>(&self, version: u8, public_key: Key) -> SnapshotWire<Key> {
        SnapshotWire {
            magic: MAGIC,
            version,
            identity: self.identity.clone(),
            identity_type: self.identity_type.clone(),
            public_key,
            app_id: self.app_id.clone(),
            data: self
                .data
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            info: self
                .info
                .as_ref()
                .map(|info| (info.device.clone(), info.device_name.clone())),
            created_at: self.created_at,
            previous_card_id: self.previous_card_id.map(|id| *id.as_bytes()),
        }
    }

    /// Decodes and validates a snapshot. Anything but the canonical encoding of valid
    /// content is rejected.
    pub fn from_snapshot(snapshot: &[u8]) -> Result<Self, CardError> {
        const WHAT: &str = "card snapshot";
        let malformed = |reason| CardError::Malformed { what: WHAT, reason };
        if snapshot.len() > MAX_SNAPSHOT_LEN {
            return Err(malformed("larger than 32 KiB"));
        }
        let versions = [VERSION_CLASSIC, VERSION_SIZED_KEY];
        let content =
            if check_magic_and_versions(snapshot, MAGIC, &versions, WHAT)? == VERSION_CLASSIC {
                Self::from_wire::<[u8; PUBLIC_KEY_LEN]>(snapshot)?
            } else {
                Self::from_wire::<Vec<u8>>(snapshot)?
            };
        // Validation, then canonical form: data sorted by key (which `to_snapshot`
        // produces), the version that goes with the key's suite, and no other encoding
        // of the same content.
        if content.to_snapshot()? != snapshot {
            return Err(malformed(
                "not in canonical form (data keys must be sorted; version 2 only for keys of suite 2 or later)",
            ));
        }
        Ok(content)
    }

    fn from_wire<Key>(snapshot: &[u8]) -> Result<Self, CardError>
    where
        Key: Decode<()> + AsRef<[u8]>,
    {
        let malformed = |reason| CardError::Malformed {
            what: "card snapshot",
            reason,
        };
        let (wire, used): (SnapshotWire<Key>, usize) =
            bincode::decode_from_slice(snapshot, bincode_config())
                .map_err(|_| malformed("truncated or invalid field encoding"))?;
        if used != snapshot.len() {
            return Err(malformed("trailing bytes"));
        }
        let entries = wire.data.len();
        let content = CardContent {
            identity: wire.identity,
            identity_type: wire.identity_type,
            public_key: PublicKey::from_bytes(wire.public_key.as_ref())
                .map_err(CardError::InvalidPublicKey)?,
            app_id: wire.app_id,
            data: wire.data.into_iter().collect(),
            info: wire.info.map(|(device, device_name)| DeviceInfo {
                device,
                device_name,
            }),
            created_at: wire.created_at,
            previous_card_id: wire.previous_card_id.map(CardId::from_bytes),
        };
        if content.data.len() != entries {
            return Err(malformed("duplicate data key"));
        }
        Ok(content)
    }
}
