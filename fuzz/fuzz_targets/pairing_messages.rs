#![no_main]
//! Device pairing's messages from the mailbox (format.md §17): message 1 an existing
//! device answers, message 2 a new device finishes with, message 3 an existing device
//! opens, message 4 a new device opens. Never a panic; nothing forged is accepted.

use libfuzzer_sys::fuzz_target;
use virgil_crypto::pairing::{ExistingDevice, NewDevice, PairingSecret};

const CONTEXT: &[u8] = b"fuzz context";

fuzz_target!(|data: &[u8]| {
    let Ok(secret) = PairingSecret::parse("12345678") else {
        return;
    };
    // As message 1, to an existing device; then as message 3, to the same.
    if let Ok((awaiting, _)) = ExistingDevice::respond(&secret, CONTEXT, data) {
        // Message 3 needs a confirmation made with the shared key: fuzz input never has it.
        assert!(awaiting.open_request(data).is_err());
    }
    // As message 2, to a new device: only the real answer's confirmation holds.
    if let Ok((new_device, _)) = NewDevice::start(&secret) {
        assert!(new_device.finish(CONTEXT, data, b"request").is_err());
    }
    // As message 4, after a real exchange: only the real reply's seal holds.
    if let Ok((new_device, message1)) = NewDevice::start(&secret)
        && let Ok((_, message2)) = ExistingDevice::respond(&secret, CONTEXT, &message1)
        && let Ok((_, opener)) = new_device.finish(CONTEXT, &message2, b"request")
    {
        assert!(opener.open(data).is_err());
    }
});
