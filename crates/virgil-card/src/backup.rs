//! Key backup's public parts (docs/format.md §16): what the cards service evaluates a
//! backup password under, and its signed statement of each application's OPRF key.
//!
//! A backup password is hardened by the cards service's oblivious PRF
//! ([`virgil_crypto::oprf`]) under [`oprf_info`] of the caller's identity; the client
//! checks the answer's proof against the application's OPRF public key, which it takes
//! from an [`OprfKeyStatement`] signed by the pinned service key (so nothing new is
//! pinned).

use crate::CardIdentity;
use virgil_crypto::oprf::OprfPublicKey;
use virgil_crypto::sign::{self, Context, Signature};
use virgil_crypto::{PrivateKey, PublicKey};

const INFO_MAGIC: &[u8] = b"VGBI\x01";
const STATEMENT_MAGIC: &[u8] = b"VGBK\x01";

fn push_str(bytes: &mut Vec<u8>, text: &str) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// The public input every evaluation for `owner`'s backup is bound to (RFC 9497's
/// `info`): the service evaluates under the identity of the caller's access token, so
/// an evaluation bought as one identity tests no password of another's.
///
/// ```text
/// info = "VGBI" ‖ 0x01 ‖ str(app_id) ‖ str(identity)      str(s) = u32be(len) ‖ UTF-8
/// ```
pub fn oprf_info(owner: &CardIdentity) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(13 + owner.app_id.len() + owner.identity.len());
    bytes.extend_from_slice(INFO_MAGIC);
    push_str(&mut bytes, &owner.app_id);
    push_str(&mut bytes, &owner.identity);
    bytes
}

/// The service's statement "application `app_id`'s backup OPRF key is `public_key`",
/// signed with the service key (context `virgil/backup-oprf-key`):
///
/// ```text
/// statement = "VGBK" ‖ 0x01 ‖ str(app_id) ‖ public_key[33]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OprfKeyStatement {
    /// The application.
    pub app_id: String,
    /// Its OPRF public key.
    pub public_key: OprfPublicKey,
}

impl OprfKeyStatement {
    /// The signed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9 + self.app_id.len() + 33);
        bytes.extend_from_slice(STATEMENT_MAGIC);
        push_str(&mut bytes, &self.app_id);
        bytes.extend_from_slice(self.public_key.as_bytes());
        bytes
    }

    /// The service's signature over it.
    pub fn sign(&self, service_key: &PrivateKey) -> Signature {
        sign::sign(service_key, Context::BACKUP_OPRF_KEY, &self.to_bytes())
    }

    /// Whether `signature` is one of `service_keys`' over this statement.
    pub fn is_signed(&self, signature: &Signature, service_keys: &[PublicKey]) -> bool {
        service_keys.iter().any(|key| {
            sign::verify(key, Context::BACKUP_OPRF_KEY, &self.to_bytes(), signature).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use virgil_crypto::oprf::OprfKey;

    #[test]
    fn info_separates_applications_and_identities() {
        let a = oprf_info(&CardIdentity::new("ab", "c"));
        let b = oprf_info(&CardIdentity::new("a", "bc"));
        assert_ne!(a, b);
        assert_eq!(&a[..5], b"VGBI\x01");
        // Not a directory label: the two encodings never collide.
        assert_ne!(a, crate::directory::label(&CardIdentity::new("ab", "c")));
    }

    #[test]
    fn a_statement_verifies_only_for_its_key_and_application() {
        let service = PrivateKey::from_seed(&[1; 32]).unwrap();
        let other = PrivateKey::from_seed(&[2; 32]).unwrap();
        let statement = OprfKeyStatement {
            app_id: "app".to_owned(),
            public_key: OprfKey::derive(&[3; 32], b"app").unwrap().public_key(),
        };
        let signature = statement.sign(&service);
        assert!(statement.is_signed(&signature, &[service.public_key().clone()]));
        assert!(!statement.is_signed(&signature, &[other.public_key().clone()]));
        let moved = OprfKeyStatement {
            app_id: "app2".to_owned(),
            ..statement.clone()
        };
        assert!(!moved.is_signed(&signature, &[service.public_key().clone()]));
        let swapped = OprfKeyStatement {
            public_key: OprfKey::derive(&[4; 32], b"app").unwrap().public_key(),
            ..statement
        };
        assert!(!swapped.is_signed(&signature, &[service.public_key().clone()]));
    }
}
