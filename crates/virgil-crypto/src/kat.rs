//! Known-answer tests of the primitives, through the same calls the crate makes:
//! RFC 9180 (HPKE), the `hpke` crate (differential), Wycheproof (AES-256-GCM, ECDH
//! P-256, Ed25519) and RFC 8032 (Ed25519).

use crate::hpke;
use crate::hpke::dhkem_p256::{self, DhKemP256};
use crate::key::PublicKey;
use crate::rng::SystemRandom;
use crate::sign::{self, Signature};
use crate::{Error, PrivateKey};
use alloc::vec::Vec;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use serde::Deserialize;
use std::string::String;

#[derive(Deserialize)]
struct HpkeVector {
    mode: u8,
    info: String,
    #[serde(rename = "ikmR")]
    ikm_r: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    #[serde(rename = "skEm")]
    sk_em: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    #[serde(rename = "pkEm")]
    pk_em: String,
    enc: String,
    shared_secret: String,
    key: String,
    base_nonce: String,
    encryptions: Vec<HpkeEncryption>,
}

#[derive(Deserialize)]
struct HpkeEncryption {
    aad: String,
    ct: String,
    nonce: String,
    pt: String,
}

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn rfc9180_vectors() -> Vec<HpkeVector> {
    serde_json::from_str(include_str!(
        "../tests/vectors/hpke-rfc9180-p256-sha256-aes256gcm.json"
    ))
    .unwrap()
}

#[test]
fn rfc9180_kem_and_key_schedule() {
    let vectors = rfc9180_vectors();
    assert_eq!(vectors.len(), 4);
    for vector in &vectors {
        // DeriveKeyPair and the KEM are the same in every mode.
        let sk_e = dhkem_p256::derive_key_pair(&h(&vector.ikm_e)).unwrap();
        let sk_r = dhkem_p256::derive_key_pair(&h(&vector.ikm_r)).unwrap();
        assert_eq!(
            sk_e.to_bytes().to_vec(),
            h(&vector.sk_em),
            "skEm, mode {}",
            vector.mode
        );
        assert_eq!(
            sk_r.to_bytes().to_vec(),
            h(&vector.sk_rm),
            "skRm, mode {}",
            vector.mode
        );
        assert_eq!(
            dhkem_p256::serialize_public_key(&sk_e.public_key()).to_vec(),
            h(&vector.pk_em)
        );
        let pk_rm: [u8; 65] = h(&vector.pk_rm).try_into().unwrap();
        assert_eq!(dhkem_p256::serialize_public_key(&sk_r.public_key()), pk_rm);
        let sk_r = dhkem_p256::RecipientKey::new(&sk_r).unwrap();
        assert_eq!(sk_r.public_point(), &pk_rm);
        if vector.mode > 1 {
            continue; // auth modes mix in the sender's static key; we use base mode only
        }
        let (enc, shared_secret) = dhkem_p256::encap_with(&sk_e, &pk_rm).unwrap();
        assert_eq!(enc.to_vec(), h(&vector.enc));
        assert_eq!(shared_secret.to_vec(), h(&vector.shared_secret));
        let decapped = dhkem_p256::decap(&enc, &sk_r).unwrap();
        assert_eq!(decapped.to_vec(), h(&vector.shared_secret));
        if vector.mode != 0 {
            continue; // psk mode has another key schedule
        }
        let schedule = hpke::key_schedule::<DhKemP256>(&shared_secret, &h(&vector.info)).unwrap();
        assert_eq!(schedule.key.to_vec(), h(&vector.key));
        assert_eq!(schedule.base_nonce.to_vec(), h(&vector.base_nonce));
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, schedule.key.as_ref()).unwrap());
        for (seq, encryption) in vector.encryptions.iter().enumerate() {
            let mut nonce = schedule.base_nonce;
            nonce[11] ^= seq as u8;
            assert_eq!(nonce.to_vec(), h(&encryption.nonce));
            let mut in_out = h(&encryption.pt);
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(h(&encryption.aad)),
                &mut in_out,
            )
            .unwrap();
            assert_eq!(in_out, h(&encryption.ct), "seq {seq}");
        }
        // Single-shot open (sequence 0) through the crate's own function.
        let first = &vector.encryptions[0];
        let opened =
            hpke::open::<DhKemP256>(&enc, &sk_r, &h(&vector.info), &h(&first.aad), &h(&first.ct))
                .unwrap();
        assert_eq!(opened.to_vec(), h(&first.pt));
        let mut bad_ct = h(&first.ct);
        bad_ct[0] ^= 1;
        assert_eq!(
            hpke::open::<DhKemP256>(&enc, &sk_r, &h(&vector.info), &h(&first.aad), &bad_ct)
                .unwrap_err(),
            Error::Corrupted
        );
    }
}

/// Our seal (ring's ephemeral ECDH) opens with the `hpke` crate and vice versa.
#[test]
fn differential_against_hpke_crate() {
    use ::hpke::{
        Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _, aead::AesGcm256,
        kdf::HkdfSha256, kem::DhP256HkdfSha256,
    };
    type Kem = DhP256HkdfSha256;
    let mut os_rng = rand_core::OsRng;
    for i in 0..8u8 {
        let ikm = [i; 32];
        let ours = dhkem_p256::derive_key_pair(&ikm).unwrap();
        let (their_sk, their_pk) = Kem::derive_keypair(&ikm);
        assert_eq!(their_sk.to_bytes().to_vec(), ours.to_bytes().to_vec());
        let pk_rm = dhkem_p256::serialize_public_key(&ours.public_key());
        assert_eq!(their_pk.to_bytes().to_vec(), pk_rm.to_vec());

        let pt = alloc::vec![i; 32 + usize::from(i)];
        let sealed =
            hpke::seal::<DhKemP256>(&pk_rm, b"info", b"aad", &pt, &mut SystemRandom::new())
                .unwrap();
        let enc = <Kem as ::hpke::Kem>::EncappedKey::from_bytes(&sealed.enc).unwrap();
        let opened = ::hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
            &OpModeR::Base,
            &their_sk,
            &enc,
            b"info",
            &sealed.ciphertext,
            b"aad",
        )
        .unwrap();
        assert_eq!(opened, pt);

        let (their_enc, their_ct) = ::hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem, _>(
            &OpModeS::Base,
            &their_pk,
            b"info",
            &pt,
            b"aad",
            &mut os_rng,
        )
        .unwrap();
        let opened = hpke::open::<DhKemP256>(
            &their_enc.to_bytes(),
            &dhkem_p256::RecipientKey::new(&ours).unwrap(),
            b"info",
            b"aad",
            &their_ct,
        )
        .unwrap();
        assert_eq!(opened.to_vec(), pt);
    }
}

#[test]
fn wycheproof_aes_256_gcm() {
    use wycheproof::{TestResult, aead};
    let set = aead::TestSet::load(aead::TestName::AesGcm).unwrap();
    let mut checked = 0;
    for group in set.test_groups {
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            continue;
        }
        for test in group.tests {
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &test.key).unwrap());
            let nonce: [u8; 12] = test.nonce.as_ref().try_into().unwrap();
            let tag: [u8; 16] = test.tag.as_ref().try_into().unwrap();
            let mut data = test.ct.to_vec();
            let opened = key.open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(test.aad.as_ref()),
                Tag::from(tag),
                &mut data,
                0..,
            );
            match test.result {
                TestResult::Valid => {
                    assert_eq!(opened.unwrap(), test.pt.as_ref(), "tc {}", test.tc_id);
                    let mut sealed = test.pt.to_vec();
                    let our_tag = key
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(test.aad.as_ref()),
                            &mut sealed,
                        )
                        .unwrap();
                    assert_eq!(sealed, test.ct.as_ref());
                    assert_eq!(our_tag.as_ref(), tag);
                }
                _ => assert!(opened.is_err(), "tc {} must fail", test.tc_id),
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} AES-256-GCM cases ran");
}

/// Invalid and off-curve points must be rejected where `PublicKey::from_bytes` and
/// `Decap` parse them; valid ones must give the expected shared secret.
#[test]
fn wycheproof_ecdh_p256() {
    use wycheproof::{TestResult, ecdh};
    let set = ecdh::TestSet::load(ecdh::TestName::EcdhSecp256r1Ecpoint).unwrap();
    let (mut valid, mut rejected) = (0, 0);
    for group in set.test_groups {
        for test in group.tests {
            let private = test.private_key.as_ref();
            let private = &private[private.len().saturating_sub(32)..];
            let mut padded = [0u8; 32];
            padded[32 - private.len()..].copy_from_slice(private);
            let secret = p256::SecretKey::from_bytes(&padded.into()).unwrap();
            // The recipient's static ECDH (AWS-LC by default) agrees with `p256` on
            // every case and refuses what `p256` refuses.
            let recipient = dhkem_p256::RecipientKey::new(&secret).unwrap();
            let static_dh = recipient.dh(&test.public_key, |dh| Ok(dh.to_vec()));
            match &static_dh {
                Ok(shared) => assert_eq!(shared, &test.shared_secret.to_vec(), "tc {}", test.tc_id),
                Err(error) => assert_eq!(error, &Error::Corrupted),
            }
            assert_eq!(
                static_dh.is_ok(),
                dhkem_p256::deserialize_public_key(&test.public_key).is_ok(),
                "tc {}",
                test.tc_id
            );
            match dhkem_p256::deserialize_public_key(&test.public_key) {
                Ok(public) => {
                    let shared =
                        p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
                    assert_ne!(
                        test.result,
                        TestResult::Invalid,
                        "tc {} accepted",
                        test.tc_id
                    );
                    assert_eq!(
                        shared.raw_secret_bytes().to_vec(),
                        test.shared_secret.to_vec()
                    );
                    valid += 1;
                }
                Err(error) => {
                    assert_eq!(error, Error::InvalidPublicKey);
                    // Compressed points are "acceptable"; we require the uncompressed form.
                    assert_ne!(
                        test.result,
                        TestResult::Valid,
                        "tc {} rejected: {}",
                        test.tc_id,
                        test.comment
                    );
                    rejected += 1;
                }
            }
        }
    }
    assert!(
        valid > 10 && rejected > 10,
        "valid {valid}, rejected {rejected}"
    );
}

/// A `PublicKey` whose Ed25519 half is `ed25519` (the P-256 half is a valid point).
fn with_ed25519(ed25519: &[u8]) -> PublicKey {
    let base = PrivateKey::from_seed(&[1; 32]).unwrap();
    let mut bytes = base.public_key().as_bytes().to_vec();
    bytes[3..35].copy_from_slice(ed25519);
    PublicKey::from_bytes(&bytes).unwrap()
}

#[test]
fn wycheproof_ed25519_verify() {
    use wycheproof::{TestResult, eddsa};
    let set = eddsa::TestSet::load(eddsa::TestName::Ed25519).unwrap();
    let mut checked = 0;
    for group in set.test_groups {
        let public = with_ed25519(&group.key.pk);
        for test in group.tests {
            let result = Signature::from_slice(&test.sig)
                .and_then(|signature| sign::verify_jws(&public, &test.msg, &signature));
            match test.result {
                TestResult::Valid => assert!(result.is_ok(), "tc {}", test.tc_id),
                _ => assert!(result.is_err(), "tc {} must fail", test.tc_id),
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} Ed25519 cases ran");
}

/// RFC 8032 §7.1, tests 1–3: ring signs with the RFC's seeds exactly as `sign` does.
#[test]
fn rfc8032_ed25519() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];
    for (seed, public, message, expected) in cases {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&h(seed)).unwrap();
        assert_eq!(
            ring::signature::KeyPair::public_key(&pair).as_ref(),
            h(public)
        );
        assert_eq!(pair.sign(&h(message)).as_ref(), h(expected));
        let signature = Signature::from_slice(&h(expected)).unwrap();
        sign::verify_jws(&with_ed25519(&h(public)), &h(message), &signature).unwrap();
    }
}

#[derive(Deserialize)]
struct XWingVector {
    seed: String,
    eseed: String,
    ss: String,
    sk: String,
    pk: String,
    ct: String,
}

/// The X-Wing draft's own vectors (draft-connolly-cfrg-xwing-kem-06, appendix C):
/// key generation from the seed, derandomised encapsulation and decapsulation, through
/// the calls suite 2 makes.
#[test]
fn xwing_draft_vectors() {
    use hpke::xwing;
    let vectors: Vec<XWingVector> =
        serde_json::from_str(include_str!("../tests/vectors/xwing-draft-06.json")).unwrap();
    assert_eq!(vectors.len(), 3);
    for vector in vectors {
        assert_eq!(vector.sk, vector.seed);
        let seed: [u8; xwing::SEED_LEN] = h(&vector.seed).try_into().unwrap();
        let recipient = xwing::RecipientKey::from_seed(&seed).unwrap();
        assert_eq!(recipient.public_key().to_vec(), h(&vector.pk));
        let public = xwing::PublicKey::from_bytes(&h(&vector.pk)).unwrap();
        let eseed: [u8; 64] = h(&vector.eseed).try_into().unwrap();
        let (enc, shared) = xwing::encap_with(&public, &eseed);
        assert_eq!(enc.to_vec(), h(&vector.ct));
        assert_eq!(shared.to_vec(), h(&vector.ss));
        assert_eq!(
            xwing::decap(&h(&vector.ct), &recipient).unwrap().to_vec(),
            h(&vector.ss)
        );
        // Modified ciphertexts decapsulate to unrelated secrets (ML-KEM's implicit
        // rejection), wrong lengths fail.
        let mut bad = h(&vector.ct);
        bad[0] ^= 1;
        assert_ne!(
            xwing::decap(&bad, &recipient).unwrap().to_vec(),
            h(&vector.ss)
        );
        assert_eq!(
            xwing::decap(&bad[..1119], &recipient).unwrap_err(),
            Error::Corrupted
        );
    }
}

#[derive(Deserialize)]
struct HpkePqVector {
    info: String,
    #[serde(rename = "ikmE")]
    ikm_e: String,
    #[serde(rename = "skRm")]
    sk_rm: String,
    #[serde(rename = "pkRm")]
    pk_rm: String,
    enc: String,
    shared_secret: String,
    suite_id: String,
    key: String,
    base_nonce: String,
    encryptions: Vec<HpkeEncryption>,
}

/// The HPKE-PQ draft's X-Wing vector (kem 0x647a, HKDF-SHA256; its AEAD is
/// ChaCha20-Poly1305, not suite 2's AES-256-GCM, so the key schedule is run with that
/// vector's suite id and the first encryption opened with ring's ChaCha20-Poly1305).
#[test]
fn hpke_pq_xwing_vector() {
    use hpke::xwing;
    use ring::aead::CHACHA20_POLY1305;
    let vectors: Vec<HpkePqVector> = serde_json::from_str(include_str!(
        "../tests/vectors/hpke-pq-xwing-sha256-chacha20poly1305.json"
    ))
    .unwrap();
    let vector = &vectors[0];
    let seed: [u8; xwing::SEED_LEN] = h(&vector.sk_rm).try_into().unwrap();
    let recipient = xwing::RecipientKey::from_seed(&seed).unwrap();
    assert_eq!(recipient.public_key().to_vec(), h(&vector.pk_rm));
    let public = xwing::PublicKey::from_bytes(&h(&vector.pk_rm)).unwrap();
    let randomness: [u8; 64] = h(&vector.ikm_e).try_into().unwrap();
    let (enc, shared) = xwing::encap_with(&public, &randomness);
    assert_eq!(enc.to_vec(), h(&vector.enc));
    assert_eq!(shared.to_vec(), h(&vector.shared_secret));
    assert_eq!(
        xwing::decap(&enc[..], &recipient).unwrap().to_vec(),
        h(&vector.shared_secret)
    );

    assert_eq!(h(&vector.suite_id), b"HPKE\x64\x7a\x00\x01\x00\x03");
    let schedule = hpke::key_schedule_for(&h(&vector.suite_id), &shared, &h(&vector.info)).unwrap();
    assert_eq!(schedule.key.to_vec(), h(&vector.key));
    assert_eq!(schedule.base_nonce.to_vec(), h(&vector.base_nonce));
    let first = &vector.encryptions[0];
    assert_eq!(h(&first.nonce), h(&vector.base_nonce));
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &h(&vector.key)).unwrap());
    let mut data = h(&first.ct);
    let pt = key
        .open_in_place(
            Nonce::assume_unique_for_key(schedule.base_nonce),
            Aad::from(h(&first.aad)),
            &mut data,
        )
        .unwrap();
    assert_eq!(pt.to_vec(), h(&first.pt));
}

/// Suite 2's seal opens with the `hpke` crate's X-Wing / HKDF-SHA256 / AES-256-GCM and
/// vice versa; key generation agrees with the `x-wing` crate used there.
#[test]
fn differential_against_hpke_crate_xwing() {
    use ::hpke_pq::{
        Deserializable as _, OpModeR, OpModeS, Serializable as _, aead::AesGcm256, kdf::HkdfSha256,
        kem::XWing,
    };
    use hpke::xwing;
    type Kem = XWing;
    for i in 0..6u8 {
        let seed = [i; xwing::SEED_LEN];
        let ours = xwing::RecipientKey::from_seed(&seed).unwrap();
        let their_sk = <Kem as ::hpke_pq::Kem>::PrivateKey::from_bytes(&seed).unwrap();
        let their_pk = <Kem as ::hpke_pq::Kem>::sk_to_pk(&their_sk);
        assert_eq!(their_pk.to_bytes().to_vec(), ours.public_key().to_vec());

        let public = xwing::PublicKey::from_bytes(ours.public_key()).unwrap();
        let pt = alloc::vec![i; 32 + usize::from(i)];
        let sealed =
            hpke::seal::<xwing::XWing>(&public, b"info", b"aad", &pt, &mut SystemRandom::new())
                .unwrap();
        let enc = <Kem as ::hpke_pq::Kem>::EncappedKey::from_bytes(&sealed.enc[..]).unwrap();
        let opened = ::hpke_pq::single_shot_open::<AesGcm256, HkdfSha256, Kem>(
            &OpModeR::Base,
            &their_sk,
            &enc,
            b"info",
            &sealed.ciphertext,
            b"aad",
        )
        .unwrap();
        assert_eq!(opened, pt);

        let (their_enc, their_ct) = ::hpke_pq::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
            &OpModeS::Base,
            &their_pk,
            b"info",
            &pt,
            b"aad",
        )
        .unwrap();
        let opened =
            hpke::open::<xwing::XWing>(&their_enc.to_bytes(), &ours, b"info", b"aad", &their_ct)
                .unwrap();
        assert_eq!(opened.to_vec(), pt);
        let mut bad = their_ct.to_vec();
        bad[0] ^= 1;
        assert_eq!(
            hpke::open::<xwing::XWing>(&their_enc.to_bytes(), &ours, b"info", b"aad", &bad)
                .unwrap_err(),
            Error::Corrupted
        );
    }
}

/// A stanza whose X25519 share makes the shared point all zero (a low-order point:
/// 0 or 1 here) is refused, on whichever backend decapsulates: no honest writer makes
/// one, and accepting it would drop X25519 from the hybrid.
#[test]
fn xwing_refuses_non_contributory_x25519_shares() {
    use hpke::xwing;
    let recipient = xwing::RecipientKey::from_seed(&[4; xwing::SEED_LEN]).unwrap();
    let public = xwing::PublicKey::from_bytes(recipient.public_key()).unwrap();
    let (enc, shared) = xwing::encap(&public, &mut SystemRandom::new()).unwrap();
    assert_eq!(xwing::decap(&enc[..], &recipient).unwrap(), shared);
    for low_order in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let mut bad = enc.to_vec();
        bad[1088..].copy_from_slice(&low_order);
        assert_eq!(
            xwing::decap(&bad, &recipient).unwrap_err(),
            Error::Corrupted
        );
    }
}

/// The AWS-LC encapsulation (system generator) and `x-wing`'s derandomised one both
/// decapsulate to what they promised, many times over (each uses fresh randomness).
#[test]
fn xwing_encapsulation_paths_agree() {
    use hpke::xwing;
    for i in 0..16u8 {
        let recipient = xwing::RecipientKey::from_seed(&[i; xwing::SEED_LEN]).unwrap();
        let public = xwing::PublicKey::from_bytes(recipient.public_key()).unwrap();
        let (enc, shared) = xwing::encap(&public, &mut SystemRandom::new()).unwrap();
        assert_eq!(xwing::decap(&enc[..], &recipient).unwrap(), shared);
        let (enc, shared) = xwing::encap_with(&public, &[i; 64]);
        assert_eq!(xwing::decap(&enc[..], &recipient).unwrap(), shared);
    }
}
