//! Envelope tests: round trips at chunk boundaries, every tamper fails, streaming and
//! one-shot interoperate, surreptitious forwarding is caught.

use super::stream::{DecryptingReader, EncryptingWriter};
use super::*;
use crate::testing::{DeterministicRng, seal_deterministic};
use proptest::prelude::*;
use std::io::{Read as _, Write as _};

/// Plaintext lengths whose signed `inner` (97 bytes of framing) lands on chunk edges.
const SIGNED_OVERHEAD: usize = SIGNED_PREFIX_LEN + SIGNATURE_LEN;

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32]).unwrap()
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn stream_encrypt(
    plaintext: &[u8],
    signer: Option<&PrivateKey>,
    to: &[&PublicKey],
    piece: usize,
) -> Vec<u8> {
    let mut writer = match signer {
        Some(signer) => EncryptingWriter::signed(Vec::new(), signer, to).unwrap(),
        None => EncryptingWriter::unsigned(Vec::new(), to).unwrap(),
    };
    for part in plaintext.chunks(piece.max(1)) {
        writer.write_all(part).unwrap();
    }
    writer.finish().unwrap()
}

fn stream_decrypt(
    ciphertext: &[u8],
    key: &PrivateKey,
    senders: &[&PublicKey],
) -> Result<Vec<u8>, Error> {
    let mut reader = DecryptingReader::verified(ciphertext, key, senders).map_err(io_to_error)?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(io_to_error)?;
    assert!(reader.sender().is_some());
    Ok(out)
}

fn io_to_error(error: std::io::Error) -> Error {
    *error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .unwrap_or_else(|| panic!("not a crypto error: {error}"))
}

#[test]
fn round_trip_at_chunk_boundaries() {
    let (alice, bob) = (key(1), key(2));
    for len in [
        0,
        1,
        CHUNK_SIZE - SIGNED_OVERHEAD - 1,
        CHUNK_SIZE - SIGNED_OVERHEAD,
        CHUNK_SIZE - SIGNED_OVERHEAD + 1,
        CHUNK_SIZE - SIGNED_OVERHEAD + SIGNATURE_LEN,
        2 * CHUNK_SIZE - SIGNED_OVERHEAD,
        3 * CHUNK_SIZE + 12_345,
    ] {
        let plaintext = text(len);
        let ciphertext = sign_then_encrypt(&plaintext, &alice, &[bob.public_key()]).unwrap();
        let message = decrypt_then_verify(&ciphertext, &bob, &[alice.public_key()]).unwrap();
        assert_eq!(message.plaintext, plaintext, "len {len}");
        assert_eq!(&message.sender, alice.key_id());
        assert_eq!(
            stream_decrypt(&ciphertext, &bob, &[alice.public_key()]).unwrap(),
            plaintext
        );
        assert_eq!(decrypt(&ciphertext, &bob).unwrap(), plaintext);
    }
}

#[test]
fn unsigned_round_trip_and_not_signed_error() {
    let bob = key(2);
    for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1] {
        let plaintext = text(len);
        let ciphertext = encrypt(&plaintext, &[bob.public_key()]).unwrap();
        assert_eq!(decrypt(&ciphertext, &bob).unwrap(), plaintext, "len {len}");
        assert_eq!(
            decrypt_then_verify(&ciphertext, &bob, &[bob.public_key()]),
            Err(Error::NotSigned)
        );
        assert_eq!(
            stream_decrypt(&ciphertext, &bob, &[bob.public_key()]),
            Err(Error::NotSigned)
        );
    }
}

#[test]
fn every_recipient_decrypts_and_others_cannot() {
    let alice = key(1);
    let recipients: Vec<PrivateKey> = (10..15).map(key).collect();
    let public: Vec<&PublicKey> = recipients.iter().map(PrivateKey::public_key).collect();
    let ciphertext = sign_then_encrypt(b"to all", &alice, &public).unwrap();
    for recipient in &recipients {
        let message = decrypt_then_verify(&ciphertext, recipient, &[alice.public_key()]).unwrap();
        assert_eq!(message.plaintext, b"to all");
    }
    assert_eq!(decrypt(&ciphertext, &key(99)), Err(Error::NotARecipient));
    assert_eq!(
        decrypt_then_verify(&ciphertext, &alice, &[alice.public_key()]),
        Err(Error::NotARecipient)
    );
}

#[test]
fn many_recipients_all_decrypt() {
    // Enough recipients for the parallel build to seal stanzas on several threads.
    let alice = key(1);
    let recipients: Vec<PrivateKey> = (100..120).map(key).collect();
    let public: Vec<&PublicKey> = recipients.iter().map(PrivateKey::public_key).collect();
    let ciphertext = sign_then_encrypt(b"to many", &alice, &public).unwrap();
    assert_eq!(
        ciphertext.len(),
        header::FIXED_LEN + 20 * header::STANZA_LEN + header::MAC_LEN + 1 + 32 + 7 + 64 + 16
    );
    for recipient in &recipients {
        let message = decrypt_then_verify(&ciphertext, recipient, &[alice.public_key()]).unwrap();
        assert_eq!(message.plaintext, b"to many");
    }
}

#[test]
fn duplicate_recipients_are_merged_and_limits_enforced() {
    let (alice, bob) = (key(1), key(2));
    let once = sign_then_encrypt(b"x", &alice, &[bob.public_key()]).unwrap();
    let twice = sign_then_encrypt(b"x", &alice, &[bob.public_key(), bob.public_key()]).unwrap();
    assert_eq!(once.len(), twice.len());
    assert_eq!(encrypt(b"x", &[]), Err(Error::Misuse(Misuse::NoRecipients)));
}

#[test]
fn wrong_sender_is_unknown_and_forged_signature_is_bad() {
    let (alice, bob, mallory) = (key(1), key(2), key(3));
    let ciphertext = sign_then_encrypt(b"hi", &alice, &[bob.public_key()]).unwrap();
    assert_eq!(
        decrypt_then_verify(&ciphertext, &bob, &[mallory.public_key()]),
        Err(Error::UnknownSender)
    );
    assert_eq!(
        stream_decrypt(&ciphertext, &bob, &[mallory.public_key()]),
        Err(Error::UnknownSender)
    );
    assert_eq!(
        decrypt_then_verify(&ciphertext, &bob, &[]),
        Err(Error::UnknownSender)
    );
}

/// Bob decrypts Alice's signed message and re-encrypts her inner signed payload for
/// Carol. Carol must not accept it as a message from Alice.
#[test]
fn surreptitious_forwarding_is_detected() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let plaintext = b"I owe you 100 coins";
    let to_bob = sign_then_encrypt(plaintext, &alice, &[bob.public_key()]).unwrap();
    let opened = open_into(&to_bob, &bob, false, &mut Vec::new()).unwrap();
    let (sender, signature) = opened.signature.unwrap();
    assert_eq!(&sender, alice.key_id());

    // Bob builds an envelope for Carol whose payload is exactly Alice's signed inner.
    let header = header::seal(&[carol.public_key()], &mut SystemRandom::new()).unwrap();
    let mut inner = Vec::new();
    inner.push(KIND_SIGNED);
    inner.extend_from_slice(sender.as_bytes());
    inner.extend_from_slice(plaintext);
    inner.extend_from_slice(signature.as_bytes());
    let tag = seal_chunk(&header.opened.payload_key, 0, true, &mut inner).unwrap();
    let mut forged = header.bytes.clone();
    forged.extend_from_slice(&inner);
    forged.extend_from_slice(tag.as_ref());

    // The framing is right (plain decryption works) but the signature is bound to the
    // header Alice made, whose recipient list was Bob.
    assert_eq!(decrypt(&forged, &carol).unwrap(), plaintext);
    assert_eq!(
        decrypt_then_verify(&forged, &carol, &[alice.public_key()]),
        Err(Error::BadSignature)
    );
    assert_eq!(
        stream_decrypt(&forged, &carol, &[alice.public_key()]),
        Err(Error::BadSignature)
    );
}

#[test]
fn truncation_and_extension_fail() {
    let (alice, bob) = (key(1), key(2));
    let plaintext = text(2 * CHUNK_SIZE + 100);
    let signed = sign_then_encrypt(&plaintext, &alice, &[bob.public_key()]).unwrap();
    let unsigned = encrypt(&plaintext, &[bob.public_key()]).unwrap();
    let payload_start = header::FIXED_LEN + header::STANZA_LEN + header::MAC_LEN;
    for ciphertext in [&signed, &unsigned] {
        // Cuts inside the header are format errors; cuts in the payload, including
        // exactly at chunk boundaries, are corruption (the last-chunk flag is missing).
        for cut in [0, 10, payload_start - 1] {
            assert_eq!(
                decrypt(&ciphertext[..cut], &bob),
                Err(Error::Malformed),
                "cut {cut}"
            );
        }
        let mut cuts = vec![payload_start, payload_start + 1];
        for chunk in 1..=3 {
            let edge = payload_start + chunk * ENCRYPTED_CHUNK_SIZE;
            cuts.extend([edge - 17, edge - 16, edge - 1, edge, edge + 1]);
        }
        cuts.push(ciphertext.len() - 1);
        for cut in cuts.into_iter().filter(|&cut| cut < ciphertext.len()) {
            let truncated = &ciphertext[..cut];
            assert_eq!(decrypt(truncated, &bob), Err(Error::Corrupted), "cut {cut}");
            let mut reader = DecryptingReader::unverified(truncated, &bob).unwrap();
            let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(io_to_error(error), Error::Corrupted, "stream cut {cut}");
        }
        for extra in [&[0u8][..], &[0; 16], &[0; 17], &text(ENCRYPTED_CHUNK_SIZE)] {
            let mut extended = ciphertext.clone();
            extended.extend_from_slice(extra);
            assert_eq!(decrypt(&extended, &bob), Err(Error::Corrupted));
            let mut reader = DecryptingReader::unverified(&extended[..], &bob).unwrap();
            assert!(reader.read_to_end(&mut Vec::new()).is_err());
        }
    }
}

#[test]
fn swapped_and_dropped_chunks_fail() {
    let (alice, bob) = (key(1), key(2));
    let plaintext = text(3 * CHUNK_SIZE);
    let ciphertext = sign_then_encrypt(&plaintext, &alice, &[bob.public_key()]).unwrap();
    let start = header::FIXED_LEN + header::STANZA_LEN + header::MAC_LEN;
    let chunk = |i: usize| start + i * ENCRYPTED_CHUNK_SIZE..start + (i + 1) * ENCRYPTED_CHUNK_SIZE;
    let mut swapped = ciphertext.clone();
    let (first, second) = (ciphertext[chunk(0)].to_vec(), ciphertext[chunk(1)].to_vec());
    swapped[chunk(0)].copy_from_slice(&second);
    swapped[chunk(1)].copy_from_slice(&first);
    assert_eq!(
        decrypt_then_verify(&swapped, &bob, &[alice.public_key()]),
        Err(Error::Corrupted)
    );
    assert_eq!(
        stream_decrypt(&swapped, &bob, &[alice.public_key()]),
        Err(Error::Corrupted)
    );
    let mut dropped = ciphertext[..chunk(1).start].to_vec();
    dropped.extend_from_slice(&ciphertext[chunk(1).end..]);
    assert_eq!(
        decrypt_then_verify(&dropped, &bob, &[alice.public_key()]),
        Err(Error::Corrupted)
    );
}

#[test]
fn header_fields_are_checked() {
    let (alice, bob) = (key(1), key(2));
    let ciphertext = sign_then_encrypt(b"x", &alice, &[bob.public_key()]).unwrap();
    let with = |index: usize, value: u8| {
        let mut bad = ciphertext.clone();
        bad[index] = value;
        decrypt(&bad, &bob)
    };
    assert_eq!(with(0, b'X'), Err(Error::Malformed));
    assert_eq!(with(4, 2), Err(Error::UnsupportedVersion));
    assert_eq!(with(5, 0), Err(Error::UnsupportedVersion));
    assert_eq!(with(5, 3), Err(Error::UnsupportedVersion));
    // Relabelled as a tagged header, its first key id byte is read as a kind.
    assert!(with(5, 2).is_err());
    let count = |n: u32| {
        let mut bad = ciphertext.clone();
        bad[22..26].copy_from_slice(&n.to_be_bytes());
        decrypt(&bad, &bob)
    };
    assert_eq!(count(0), Err(Error::Malformed));
    assert_eq!(count(MAX_RECIPIENTS as u32 + 1), Err(Error::Malformed));
    assert_eq!(count(u32::MAX), Err(Error::Malformed));
    assert_eq!(decrypt(&[], &bob), Err(Error::Malformed));
}

#[test]
fn stream_reader_never_ends_cleanly_after_a_failure() {
    let (alice, bob) = (key(1), key(2));
    let plaintext = text(3 * CHUNK_SIZE);
    let mut ciphertext = sign_then_encrypt(&plaintext, &alice, &[bob.public_key()]).unwrap();
    let last = ciphertext.len() - 5;
    ciphertext[last] ^= 1;
    let mut reader =
        DecryptingReader::verified(&ciphertext[..], &bob, &[alice.public_key()]).unwrap();
    let mut out = Vec::new();
    assert!(reader.read_to_end(&mut out).is_err());
    // Only whole authenticated chunks were released, and not the held-back last one.
    assert!(out.len() < plaintext.len());
    assert_eq!(out[..], plaintext[..out.len()]);
    let mut byte = [0u8; 1];
    assert!(
        reader.read(&mut byte).is_err(),
        "a failed reader must keep failing"
    );
    assert_eq!(reader.sender(), None);
}

/// A sink that fails after `budget` bytes.
struct FailingSink {
    budget: usize,
}

impl std::io::Write for FailingSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() > self.budget {
            return Err(std::io::Error::other("disk full"));
        }
        self.budget -= data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_refuses_further_use_after_an_io_error() {
    let (alice, bob) = (key(1), key(2));
    let sink = FailingSink { budget: 1000 };
    let mut writer = EncryptingWriter::signed(sink, &alice, &[bob.public_key()]).unwrap();
    assert!(writer.write_all(&text(3 * CHUNK_SIZE)).is_err());
    assert!(writer.write_all(b"more").is_err());
    assert!(writer.finish().is_err());
}

#[test]
fn deterministic_sealing_is_reproducible() {
    let (alice, bob) = (key(1), key(2));
    let seal = || {
        let mut rng = DeterministicRng::new([5; 32]);
        seal_deterministic(b"same", Some(&alice), &[bob.public_key()], &mut rng).unwrap()
    };
    let (first, second) = (seal(), seal());
    assert_eq!(first, second);
    assert_eq!(
        decrypt_then_verify(&first, &bob, &[alice.public_key()])
            .unwrap()
            .plaintext,
        b"same"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn prop_round_trip_streaming_and_one_shot_interoperate(
        len in prop_oneof![
            0usize..300,
            (CHUNK_SIZE - SIGNED_OVERHEAD - 2)..(CHUNK_SIZE - SIGNED_OVERHEAD + 66),
            (2 * CHUNK_SIZE - 100)..(2 * CHUNK_SIZE + 100),
        ],
        recipients in 1usize..=5,
        piece in 1usize..100_000,
        signed in any::<bool>(),
    ) {
        let alice = key(1);
        let keys: Vec<PrivateKey> = (0..recipients).map(|i| key(20 + i as u8)).collect();
        let public: Vec<&PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        let plaintext = text(len);
        let signer = signed.then_some(&alice);
        let one_shot = match signer {
            Some(signer) => sign_then_encrypt(&plaintext, signer, &public).unwrap(),
            None => encrypt(&plaintext, &public).unwrap(),
        };
        let streamed = stream_encrypt(&plaintext, signer, &public, piece);
        prop_assert_eq!(one_shot.len(), streamed.len());
        for recipient in &keys {
            for ciphertext in [&one_shot, &streamed] {
                if signed {
                    let message = decrypt_then_verify(ciphertext, recipient, &[alice.public_key()]).unwrap();
                    prop_assert_eq!(&message.plaintext, &plaintext);
                    prop_assert_eq!(stream_decrypt(ciphertext, recipient, &[alice.public_key()]).unwrap(), plaintext.clone());
                }
                prop_assert_eq!(decrypt(ciphertext, recipient).unwrap(), plaintext.clone());
            }
        }
        prop_assert_eq!(decrypt(&one_shot, &key(200)), Err(Error::NotARecipient));
    }

    #[test]
    fn prop_small_reads_see_the_same_plaintext(
        len in prop_oneof![0usize..300, (CHUNK_SIZE - SIGNED_OVERHEAD - 70)..(CHUNK_SIZE - SIGNED_OVERHEAD + 70), (2 * CHUNK_SIZE - 70)..(2 * CHUNK_SIZE + 70)],
        read_size in 1usize..200,
    ) {
        let (alice, bob) = (key(1), key(2));
        let plaintext = text(len);
        let ciphertext = sign_then_encrypt(&plaintext, &alice, &[bob.public_key()]).unwrap();
        let mut reader = DecryptingReader::verified(&ciphertext[..], &bob, &[alice.public_key()]).unwrap();
        let mut out = Vec::new();
        let mut buffer = vec![0u8; read_size];
        loop {
            let n = reader.read(&mut buffer).unwrap();
            if n == 0 { break; }
            out.extend_from_slice(&buffer[..n]);
        }
        prop_assert_eq!(out, plaintext);
        prop_assert_eq!(reader.sender(), Some(alice.key_id()));
    }

    #[test]
    fn prop_any_byte_flip_fails(
        len in prop_oneof![0usize..200, (CHUNK_SIZE - 200)..(CHUNK_SIZE + 200)],
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let plaintext = text(len);
        let mut ciphertext = sign_then_encrypt(&plaintext, &alice, &[carol.public_key(), bob.public_key()]).unwrap();
        let index = position.index(ciphertext.len());
        ciphertext[index] ^= flip;
        prop_assert!(decrypt_then_verify(&ciphertext, &bob, &[alice.public_key()]).is_err(), "flip at {}", index);
        prop_assert!(stream_decrypt(&ciphertext, &bob, &[alice.public_key()]).is_err(), "stream flip at {}", index);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let bob = key(2);
        prop_assert!(decrypt(&bytes, &bob).is_err());
        prop_assert!(stream_decrypt(&bytes, &bob, &[bob.public_key()]).is_err());
    }
}

#[test]
fn recipients_are_read_from_the_header_alone() {
    let (a, b, c) = (key(1), key(2), key(3));
    let sealed =
        sign_then_encrypt(b"hi", &a, &[b.public_key(), c.public_key(), b.public_key()]).unwrap();
    let ids = recipients(&sealed).unwrap();
    assert_eq!(
        ids,
        vec![*b.public_key().key_id(), *c.public_key().key_id()]
    );
    // The header is enough; one byte less is malformed.
    let header_len = 26 + 2 * 145;
    assert_eq!(recipients(&sealed[..header_len]).unwrap(), ids);
    assert_eq!(recipients(&sealed[..header_len - 1]), Err(Error::Malformed));
    assert_eq!(recipients(b"VGLE"), Err(Error::Malformed));
    let mut newer = sealed.clone();
    newer[4] = 2;
    assert_eq!(recipients(&newer), Err(Error::UnsupportedVersion));
    assert!(MAX_HEADER_LEN >= header_len);
}

type Outcome = Result<Vec<u8>, Error>;

/// Both readers of one envelope: the one-shot result, the streaming result, and how many
/// bytes the streaming reader released before its result.
fn both_readers(
    ciphertext: &[u8],
    key: &PrivateKey,
    senders: &[&PublicKey],
) -> (Outcome, Outcome, usize) {
    let one_shot = decrypt_then_verify(ciphertext, key, senders).map(|m| m.plaintext);
    let mut released = Vec::new();
    let streamed = DecryptingReader::verified(ciphertext, key, senders)
        .and_then(|mut reader| reader.read_to_end(&mut released))
        .map(|_| released.clone())
        .map_err(io_to_error);
    (one_shot, streamed, released.len())
}

/// format.md §4.6: what the first chunk says about the sender (a bad kind byte, no
/// signature, a sender not among the candidates) is reported only after the last chunk
/// authenticated, by both readers, and the streaming reader releases nothing of it.
#[test]
fn sender_errors_wait_for_the_last_chunk() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let sealer =
        crate::testing::InnerSealer::new(&[bob.public_key()], &mut DeterministicRng::new([5; 32]))
            .unwrap();
    let body = text(3 * CHUNK_SIZE);
    let mut bad_kind = vec![0x02];
    bad_kind.extend_from_slice(&body);
    let mut unsigned = vec![KIND_UNSIGNED];
    unsigned.extend_from_slice(&body);
    let by_carol = sealer.signed_inner(&body, &carol);
    for (inner, error) in [
        (bad_kind, Error::Malformed),
        (unsigned, Error::NotSigned),
        (by_carol, Error::UnknownSender),
    ] {
        let sealed = sealer.seal(&inner).unwrap();
        let (one_shot, streamed, released) = both_readers(&sealed, &bob, &[alice.public_key()]);
        assert_eq!((one_shot, streamed, released), (Err(error), Err(error), 0));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let (one_shot, streamed, released) = both_readers(&flipped, &bob, &[alice.public_key()]);
        assert_eq!(
            (one_shot, streamed, released),
            (Err(Error::Corrupted), Err(Error::Corrupted), 0),
            "{error:?}"
        );
    }
    // A well-formed signed inner through the same sealer verifies.
    let good = sealer.seal(&sealer.signed_inner(b"hi", &alice)).unwrap();
    let (one_shot, streamed, _) = both_readers(&good, &bob, &[alice.public_key()]);
    assert_eq!(
        (one_shot, streamed),
        (Ok(b"hi".to_vec()), Ok(b"hi".to_vec()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any `inner` at all, validly sealed: the one-shot and streaming readers agree on
    /// the plaintext or the error, and neither panics.
    #[test]
    fn prop_readers_agree_on_any_inner(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        kind in prop_oneof![Just(KIND_UNSIGNED), Just(KIND_SIGNED), any::<u8>()],
        signer_known in any::<bool>(),
        well_formed in any::<bool>(),
        flip in any::<Option<(prop::sample::Index, u8)>>(),
        pad_to_chunks in 0usize..3,
    ) {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let sealer = crate::testing::InnerSealer::new(&[bob.public_key()], &mut DeterministicRng::new([6; 32])).unwrap();
        let mut body = body;
        body.resize(body.len() + pad_to_chunks * CHUNK_SIZE, 0x55);
        let signer = if signer_known { &alice } else { &carol };
        let mut inner = if well_formed {
            sealer.signed_inner(&body, signer)
        } else {
            let mut inner = vec![kind];
            inner.extend_from_slice(&body);
            inner
        };
        if let Some((index, value)) = flip {
            let index = index.index(inner.len());
            inner[index] ^= value;
        }
        let sealed = sealer.seal(&inner).unwrap();
        let (one_shot, streamed, _) = both_readers(&sealed, &bob, &[alice.public_key()]);
        prop_assert_eq!(one_shot, streamed);
        let mut released = Vec::new();
        let unverified = DecryptingReader::unverified(&sealed[..], &bob)
            .and_then(|mut reader| reader.read_to_end(&mut released))
            .map(|_| released.clone())
            .map_err(io_to_error);
        prop_assert_eq!(decrypt(&sealed, &bob), unverified);
        // The sealer's shortcut past the header (what the envelope_inner fuzzer uses)
        // gives the same results as the real functions.
        prop_assert_eq!(sealer.decrypt_then_verify(&sealed, &[alice.public_key()]), decrypt_then_verify(&sealed, &bob, &[alice.public_key()]).map(|m| m.plaintext));
        prop_assert_eq!(sealer.decrypt(&sealed), decrypt(&sealed, &bob));
        let mut released = Vec::new();
        let shortcut = sealer.reader(&sealed, Some(&[alice.public_key()])).unwrap().read_to_end(&mut released).map(|_| released.clone()).map_err(io_to_error);
        prop_assert_eq!(shortcut, both_readers(&sealed, &bob, &[alice.public_key()]).1);
        prop_assert_eq!(decrypt(&sealed, &bob).is_ok(), matches!(inner.first(), Some(&KIND_UNSIGNED) | Some(&KIND_SIGNED)) && (inner[0] == KIND_UNSIGNED || inner.len() >= SIGNED_OVERHEAD));
    }
}

/// The `_into` functions give the one-shot functions' bytes, reuse the caller's memory
/// (no new allocation once it is large enough), and leave nothing behind on failure.
#[test]
fn into_functions_reuse_the_buffer_and_wipe_it_on_failure() {
    let (alice, bob) = (key(1), key(2));
    let (mut ciphertext, mut plaintext) = (Vec::new(), Vec::new());
    let largest = text(3 * CHUNK_SIZE + 17);
    sign_then_encrypt_into(&largest, &alice, &[bob.public_key()], &mut ciphertext).unwrap();
    decrypt_then_verify_into(&ciphertext, &bob, &[alice.public_key()], &mut plaintext).unwrap();
    assert_eq!(plaintext, largest);
    let (cipher_at, plain_at) = (ciphertext.as_ptr(), plaintext.as_ptr());
    for len in [0, 1, 1000, CHUNK_SIZE, 3 * CHUNK_SIZE + 17, 2 * CHUNK_SIZE] {
        let message = text(len);
        sign_then_encrypt_into(&message, &alice, &[bob.public_key()], &mut ciphertext).unwrap();
        assert_eq!(
            ciphertext.len(),
            sign_then_encrypt(&message, &alice, &[bob.public_key()])
                .unwrap()
                .len()
        );
        let sender =
            decrypt_then_verify_into(&ciphertext, &bob, &[alice.public_key()], &mut plaintext)
                .unwrap();
        assert_eq!((&plaintext, &sender), (&message, alice.key_id()), "{len}");
        decrypt_into(&ciphertext, &bob, &mut plaintext).unwrap();
        assert_eq!(plaintext, message);
        encrypt_into(&message, &[bob.public_key()], &mut ciphertext).unwrap();
        assert_eq!(decrypt(&ciphertext, &bob).unwrap(), message);
        assert_eq!(
            (ciphertext.as_ptr(), plaintext.as_ptr()),
            (cipher_at, plain_at),
            "{len}: reallocated"
        );
    }

    sign_then_encrypt_into(&largest, &alice, &[bob.public_key()], &mut ciphertext).unwrap();
    *ciphertext.last_mut().unwrap() ^= 1;
    plaintext = text(100);
    let error = decrypt_then_verify_into(&ciphertext, &bob, &[alice.public_key()], &mut plaintext);
    assert_eq!((error, plaintext.len()), (Err(Error::Corrupted), 0));
    plaintext = text(100);
    assert_eq!(
        decrypt_into(&ciphertext, &bob, &mut plaintext),
        Err(Error::Corrupted)
    );
    assert!(plaintext.is_empty());
    // A verification failure after every chunk opened leaves nothing either.
    sign_then_encrypt_into(&largest, &alice, &[bob.public_key()], &mut ciphertext).unwrap();
    let error = decrypt_then_verify_into(&ciphertext, &bob, &[key(3).public_key()], &mut plaintext);
    assert_eq!((error, plaintext.len()), (Err(Error::UnknownSender), 0));
    assert_eq!(
        sign_then_encrypt_into(b"x", &alice, &[], &mut ciphertext),
        Err(Error::Misuse(Misuse::NoRecipients))
    );
    assert!(ciphertext.is_empty());
}
