//! Key names: checked before anything touches the disk.

use crate::KeyStoreError;
use core::fmt;

/// Longest key name.
pub const MAX_NAME_LEN: usize = 64;

/// A valid key name: 1–64 characters of `[A-Za-z0-9._-]`, not starting with `.`. Such a
/// name is always a plain file name: never a path, never hidden, never `.` or `..`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, KeyStoreError> {
        let invalid = |reason| KeyStoreError::InvalidName {
            name: name.chars().take(80).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("it is longer than 64 characters"));
        }
        if name.starts_with('.') {
            return Err(invalid("it starts with '.'"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(invalid(
                "only letters, digits, '.', '_' and '-' are allowed",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_rejects() {
        for good in ["alice", "a", "Key-1.backup_2", &"x".repeat(64)] {
            KeyName::new(good).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            ".hidden",
            "a\0b",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(KeyName::new(bad), Err(KeyStoreError::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn valid_names_are_plain_file_names(name in "\\PC{0,80}") {
            if let Ok(name) = KeyName::new(&name) {
                let path = std::path::Path::new(name.as_str());
                prop_assert_eq!(path.components().count(), 1);
                prop_assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(name.as_str()));
                prop_assert!(!name.as_str().starts_with('.'));
            }
        }
    }
}
