//! Suite 2 in the envelope: post-quantum and mixed recipient lists, the tagged header
//! layout, and the attacks on it (wrong kind under a key id, unknown kinds, cut or
//! modified X-Wing stanzas).

use super::stream::{DecryptingReader, EncryptingWriter};
use super::*;
use crate::Suite;
use proptest::prelude::*;
use std::io::{Read as _, Write as _};

fn classic(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32]).unwrap()
}

fn pq(n: u8) -> PrivateKey {
    PrivateKey::from_seed_with_suite(&[n; 32], Suite::PostQuantum).unwrap()
}

const CLASSIC_STANZA: usize = 32 + 65 + 48;
const TAGGED_CLASSIC_STANZA: usize = 1 + CLASSIC_STANZA;
const TAGGED_PQ_STANZA: usize = 1 + 32 + 1120 + 48;

fn stream_decrypt(
    ciphertext: &[u8],
    key: &PrivateKey,
    senders: &[&PublicKey],
) -> Result<Vec<u8>, Error> {
    let fail = |error: std::io::Error| {
        *error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .unwrap_or_else(|| panic!("not a crypto error: {error}"))
    };
    let mut reader = DecryptingReader::verified(ciphertext, key, senders).map_err(fail)?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(fail)?;
    Ok(out)
}

#[test]
fn post_quantum_only_round_trip() {
    let (alice, bob) = (pq(1), pq(2));
    let sealed = sign_then_encrypt(b"hello", &alice, &[bob.public_key()]).unwrap();
    assert_eq!(sealed[5], header::SUITE_TAGGED);
    assert_eq!(sealed[26], Suite::PostQuantum.id());
    assert_eq!(
        sealed.len(),
        26 + TAGGED_PQ_STANZA + 32 + (1 + 32 + 5 + 64 + 16)
    );
    let message = decrypt_then_verify(&sealed, &bob, &[alice.public_key()]).unwrap();
    assert_eq!(message.plaintext, b"hello");
    assert_eq!(&message.sender, alice.key_id());
    assert_eq!(
        stream_decrypt(&sealed, &bob, &[alice.public_key()]).unwrap(),
        b"hello"
    );
    // Alice is not a recipient; her key is post-quantum too, and finds no stanza.
    assert_eq!(decrypt(&sealed, &alice).unwrap_err(), Error::NotARecipient);
}

/// The tutorial's two directions: a post-quantum sender to a classic recipient and back,
/// each also encrypting to themselves, so every envelope has both stanza kinds.
#[test]
fn mixed_recipients_both_directions() {
    let (alice, bob) = (pq(1), classic(2));
    for (sender, recipient) in [(&alice, &bob), (&bob, &alice)] {
        let to = [recipient.public_key(), sender.public_key()];
        let sealed = sign_then_encrypt(b"mixed", sender, &to).unwrap();
        assert_eq!(sealed[5], header::SUITE_TAGGED);
        assert_eq!(
            recipient_suites(&sealed).unwrap(),
            vec![
                (*recipient.key_id(), recipient.suite()),
                (*sender.key_id(), sender.suite())
            ]
        );
        for reader in [sender, recipient] {
            let message = decrypt_then_verify(&sealed, reader, &[sender.public_key()]).unwrap();
            assert_eq!(message.plaintext, b"mixed");
            assert_eq!(
                stream_decrypt(&sealed, reader, &[sender.public_key()]).unwrap(),
                b"mixed"
            );
        }
        assert_eq!(decrypt(&sealed, &pq(9)).unwrap_err(), Error::NotARecipient);
        assert_eq!(
            decrypt(&sealed, &classic(9)).unwrap_err(),
            Error::NotARecipient
        );
    }
}

/// Only suite-1 recipients: the header is byte for byte the old format, so readers that
/// predate suite 2 still read it.
#[test]
fn classic_only_keeps_the_untagged_layout() {
    let (alice, bob) = (pq(1), classic(2));
    let sealed = sign_then_encrypt(b"old readers", &alice, &[bob.public_key()]).unwrap();
    assert_eq!(sealed[5], header::SUITE_CLASSIC);
    assert_eq!(
        recipients(&sealed[..26 + CLASSIC_STANZA]).unwrap(),
        vec![*bob.key_id()]
    );
}

#[test]
fn streaming_writer_with_mixed_recipients() {
    let (alice, bob, carol) = (classic(1), pq(2), classic(3));
    let plaintext: Vec<u8> = (0..3 * CHUNK_SIZE + 5).map(|i| i as u8).collect();
    let mut writer =
        EncryptingWriter::signed(Vec::new(), &alice, &[carol.public_key(), bob.public_key()])
            .unwrap();
    writer.write_all(&plaintext).unwrap();
    let sealed = writer.finish().unwrap();
    for reader in [&bob, &carol] {
        let message = decrypt_then_verify(&sealed, reader, &[alice.public_key()]).unwrap();
        assert_eq!(message.plaintext, plaintext);
        assert_eq!(
            stream_decrypt(&sealed, reader, &[alice.public_key()]).unwrap(),
            plaintext
        );
    }
}

/// Where each stanza of `[carol (classic), bob (pq)]` starts.
fn layout() -> (Vec<u8>, usize, usize, usize) {
    let (alice, bob, carol) = (classic(1), pq(2), classic(3));
    let sealed = sign_then_encrypt(b"x", &alice, &[carol.public_key(), bob.public_key()]).unwrap();
    let carol_at = 26;
    let bob_at = carol_at + TAGGED_CLASSIC_STANZA;
    let mac_at = bob_at + TAGGED_PQ_STANZA;
    (sealed, carol_at, bob_at, mac_at)
}

#[test]
fn tagged_header_attacks() {
    let (alice, bob, carol) = (classic(1), pq(2), classic(3));
    let (sealed, carol_at, bob_at, mac_at) = layout();
    assert_eq!(&sealed[bob_at + 1..bob_at + 33], bob.key_id().as_bytes());
    assert_eq!(sealed[carol_at], Suite::Classic.id());
    assert_eq!(sealed[bob_at], Suite::PostQuantum.id());
    assert_eq!(
        recipients(&sealed[..mac_at]).unwrap(),
        vec![*carol.key_id(), *bob.key_id()]
    );
    assert_eq!(
        recipients(&sealed[..mac_at - 1]).unwrap_err(),
        Error::Malformed
    );
    let open =
        |bytes: &[u8], key: &PrivateKey| decrypt_then_verify(bytes, key, &[alice.public_key()]);

    // An unknown stanza kind, in either stanza, is malformed for everyone.
    for at in [carol_at, bob_at] {
        for kind in [0u8, 3, 0xff] {
            let mut bad = sealed.clone();
            bad[at] = kind;
            assert_eq!(open(&bad, &bob).unwrap_err(), Error::Malformed);
            assert_eq!(open(&bad, &carol).unwrap_err(), Error::Malformed);
        }
    }
    // Bob's stanza relabelled as a P-256 stanza shifts every later byte: the header no
    // longer parses to its MAC, or the MAC fails; never a success.
    let mut relabelled = sealed.clone();
    relabelled[bob_at] = Suite::Classic.id();
    assert!(open(&relabelled, &bob).is_err());
    assert!(open(&relabelled, &carol).is_err());

    // A stanza of the wrong kind under bob's key id (the attacker's own P-256 stanza,
    // made for bob's id) is corrupted, not opened with the wrong KEM.
    let forged = {
        let mut bytes = sealed[..bob_at].to_vec();
        bytes.push(Suite::Classic.id());
        bytes.extend_from_slice(bob.key_id().as_bytes());
        bytes.extend_from_slice(&sealed[carol_at + 1 + 32..carol_at + TAGGED_CLASSIC_STANZA]);
        bytes.extend_from_slice(&sealed[mac_at..]);
        bytes
    };
    assert_eq!(open(&forged, &bob).unwrap_err(), Error::Corrupted);
    assert_eq!(
        stream_decrypt(&forged, &bob, &[alice.public_key()]).unwrap_err(),
        Error::Corrupted
    );

    // Any flipped bit of bob's X-Wing ciphertext or sealed key is corrupted.
    for offset in [
        33,
        33 + 1087,
        33 + 1088,
        33 + 1119,
        33 + 1120,
        TAGGED_PQ_STANZA - 1,
    ] {
        let mut bad = sealed.clone();
        bad[bob_at + offset] ^= 0x10;
        assert_eq!(
            open(&bad, &bob).unwrap_err(),
            Error::Corrupted,
            "offset {offset}"
        );
        assert_eq!(
            open(&bad, &carol).unwrap_err(),
            Error::Corrupted,
            "offset {offset}"
        );
    }
    // Cut inside the X-Wing stanza: malformed, for both readers.
    for cut in [bob_at + 1, bob_at + 500, mac_at - 1, mac_at + 31] {
        assert_eq!(
            open(&sealed[..cut], &bob).unwrap_err(),
            Error::Malformed,
            "cut {cut}"
        );
        assert_eq!(
            stream_decrypt(&sealed[..cut], &bob, &[alice.public_key()]).unwrap_err(),
            Error::Malformed,
            "stream cut {cut}"
        );
    }
}

/// A suite-1 header whose suite byte says 0x02 (or the reverse) is never read as valid.
#[test]
fn header_suite_byte_is_authenticated() {
    let (alice, bob) = (classic(1), pq(2));
    let (sealed, ..) = layout();
    let mut bad = sealed.clone();
    bad[5] = header::SUITE_CLASSIC;
    assert!(decrypt(&bad, &bob).is_err());
    let only_classic = sign_then_encrypt(b"x", &alice, &[classic(3).public_key()]).unwrap();
    let mut bad = only_classic;
    bad[5] = header::SUITE_TAGGED;
    assert!(decrypt(&bad, &classic(3)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_mixed_round_trip(
        kinds in proptest::collection::vec(any::<bool>(), 1..5),
        len in 0usize..300,
    ) {
        let alice = pq(1);
        let keys: Vec<PrivateKey> = kinds
            .iter()
            .enumerate()
            .map(|(i, &post_quantum)| if post_quantum { pq(10 + i as u8) } else { classic(10 + i as u8) })
            .collect();
        let to: Vec<&PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        let plaintext = vec![7u8; len];
        let sealed = sign_then_encrypt(&plaintext, &alice, &to).unwrap();
        prop_assert_eq!(sealed[5] == header::SUITE_TAGGED, kinds.iter().any(|&k| k));
        for key in &keys {
            let message = decrypt_then_verify(&sealed, key, &[alice.public_key()]).unwrap();
            prop_assert_eq!(&message.plaintext, &plaintext);
        }
    }

    #[test]
    fn prop_any_byte_flip_fails_mixed(
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (alice, bob) = (classic(1), pq(2));
        let (mut sealed, ..) = layout();
        let index = position.index(sealed.len());
        sealed[index] ^= flip;
        prop_assert!(decrypt_then_verify(&sealed, &bob, &[alice.public_key()]).is_err(), "flip at {}", index);
        prop_assert!(decrypt_then_verify(&sealed, &classic(3), &[alice.public_key()]).is_err(), "flip at {}", index);
    }

    #[test]
    fn prop_arbitrary_tagged_headers_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        kind in 0u8..4,
    ) {
        let mut input = b"VGLE\x01\x02".to_vec();
        input.extend_from_slice(&[0; 16]);
        input.extend_from_slice(&1u32.to_be_bytes());
        input.push(kind);
        input.extend_from_slice(&bytes);
        prop_assert!(decrypt(&input, &pq(2)).is_err());
        prop_assert!(stream_decrypt(&input, &pq(2), &[]).is_err());
        let _ = recipient_suites(&input);
    }
}
