"""Virgil: end-to-end encryption for applications, on the virgil-rs Rust core.

The tutorial's API::

    from virgil import Virgil, VirgilBuffer

    virgil = Virgil.from_config("local/client.toml", key_dir="alice-keys")
    alice_key = virgil.keys.generate()
    alice_key.save("alice", "key password")
    alice_card = virgil.cards.create(virgil.identities.create_user("alice"), alice_key)

Every format and protocol is implemented once, in Rust (``virgil._native``); this
package only re-exports it. See docs/python.md for the reference.
"""

from virgil._native import (
    Account,
    Backups,
    Card,
    CardNotFound,
    Cards,
    Contacts,
    DecryptionError,
    Devices,
    Identities,
    Identity,
    KeyChangeWarning,
    KeyExists,
    KeyNotFound,
    Keys,
    Messages,
    NotLoggedIn,
    PairingError,
    Received,
    SelfCheckAlarm,
    MonitorAlarm,
    ServiceError,
    VerificationError,
    Virgil,
    VirgilBuffer,
    VirgilError,
    VirgilKey,
    WrongPassword,
)

__all__ = [
    "Account",
    "Backups",
    "Card",
    "CardNotFound",
    "Cards",
    "Contacts",
    "DecryptionError",
    "Devices",
    "Identities",
    "Identity",
    "KeyChangeWarning",
    "KeyExists",
    "KeyNotFound",
    "Keys",
    "Messages",
    "NotLoggedIn",
    "PairingError",
    "Received",
    "SelfCheckAlarm",
    "MonitorAlarm",
    "ServiceError",
    "VerificationError",
    "Virgil",
    "VirgilBuffer",
    "VirgilError",
    "VirgilKey",
    "WrongPassword",
]
