//! Criterion benches for the crypto core. Each group carries its own baseline measured in
//! the same run, so results read as ratios (see docs/performance.md).
//!
//! `cargo xtask bench -p virgil-crypto` (one core for one-shot calls) and
//! `cargo xtask bench -p virgil-crypto --features parallel` (all cores).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest as _, Sha256};
use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::num::NonZeroU32;
use std::time::Duration;
use virgil_crypto::envelope::stream::{DecryptingReader, EncryptingWriter};
use virgil_crypto::{PrivateKey, PublicKey, envelope, keyblob};

const MODE: &str = if cfg!(feature = "parallel") {
    "parallel"
} else {
    "one-core"
};
const CHUNK: usize = 64 * 1024;

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32]).unwrap()
}

/// The floor for sign_then_encrypt: AES-256-GCM over 64 KiB chunks plus one BLAKE3
/// pass over the plaintext (the envelope's plaintext hash), single-threaded, in place,
/// with no framing, copy or allocation.
fn raw_aead_plus_hash(key: &LessSafeKey, data: &mut [u8]) -> [u8; 32] {
    let digest: [u8; 32] = blake3::hash(data).into();
    for (i, chunk) in data.chunks_mut(CHUNK).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), chunk)
            .unwrap();
        let _ = black_box(tag);
    }
    digest
}

/// age (the `age` crate, X25519 recipients, ChaCha20-Poly1305 STREAM, no signature):
/// the peer the goals in docs/performance.md are stated against. Encrypts into `out`.
fn age_encrypt(plaintext: &[u8], recipients: &[age::x25519::Recipient], out: &mut Vec<u8>) {
    out.clear();
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .unwrap();
    let mut writer = encryptor.wrap_output(out).unwrap();
    writer.write_all(plaintext).unwrap();
    writer.finish().unwrap();
}

fn age_decrypt(ciphertext: &[u8], identity: &age::x25519::Identity, out: &mut Vec<u8>) {
    out.clear();
    // `new_buffered`: age's fast header parser for in-memory input (`new` re-parses the
    // header as it reads it, and is several times slower).
    let decryptor = age::Decryptor::new_buffered(ciphertext).unwrap();
    let mut reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .unwrap();
    reader.read_to_end(out).unwrap();
}

fn age_identities(n: usize) -> (Vec<age::x25519::Identity>, Vec<age::x25519::Recipient>) {
    let identities: Vec<_> = (0..n).map(|_| age::x25519::Identity::generate()).collect();
    let recipients = identities.iter().map(|i| i.to_public()).collect();
    (identities, recipients)
}

/// The floor for a writer that owns its buffer (`io::Write` gets a `&[u8]` it cannot
/// seal in place, and ring seals only in place): each 64 KiB chunk copied into one reused
/// buffer, hashed (BLAKE3, aligned) and sealed there.
fn raw_copy_aead_plus_hash(key: &LessSafeKey, data: &[u8], buffer: &mut [u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for (i, chunk) in data.chunks(CHUNK).enumerate() {
        let buffer = &mut buffer[..chunk.len()];
        buffer.copy_from_slice(chunk);
        hasher.update(buffer);
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), buffer)
            .unwrap();
        let _ = black_box(tag);
    }
    hasher.finalize().into()
}

fn throughput(c: &mut Criterion) {
    let size = 64 * 1024 * 1024;
    let plaintext = vec![0x5au8; size];
    let (alice, bob) = (key(1), key(2));
    let ciphertext = envelope::sign_then_encrypt(&plaintext, &alice, &[bob.public_key()]).unwrap();
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap());

    let mut group = c.benchmark_group(format!("throughput-64MiB/{MODE}"));
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    let mut scratch = plaintext.clone();
    group.bench_function("baseline: raw aes-256-gcm + blake3", |b| {
        b.iter(|| raw_aead_plus_hash(&aead, black_box(&mut scratch)))
    });
    let mut chunk_buffer = vec![0u8; CHUNK];
    group.bench_function(
        "baseline: copy into a 64 KiB buffer + aes-256-gcm + blake3",
        |b| b.iter(|| raw_copy_aead_plus_hash(&aead, black_box(&plaintext), &mut chunk_buffer)),
    );
    group.bench_function("baseline: sha-256 (sha2)", |b| {
        b.iter(|| Sha256::digest(black_box(&plaintext)))
    });
    group.bench_function("baseline: sha-256 (ring)", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&plaintext)))
    });
    group.bench_function("baseline: blake3 (one core)", |b| {
        b.iter(|| blake3::hash(black_box(&plaintext)))
    });
    let mut reused = vec![0u8; size];
    group.bench_function("baseline: reused 64 MiB Vec, copied into", |b| {
        b.iter(|| {
            reused.copy_from_slice(black_box(&plaintext));
            reused[size / 2]
        })
    });
    group.bench_function("baseline: fresh 64 MiB Vec, copied into", |b| {
        b.iter(|| {
            let mut out = vec![0u8; size + 1024];
            out[..size].copy_from_slice(black_box(&plaintext));
            out
        })
    });
    group.bench_function("sign_then_encrypt", |b| {
        b.iter(|| {
            envelope::sign_then_encrypt(black_box(&plaintext), &alice, &[bob.public_key()]).unwrap()
        })
    });
    group.bench_function("stream: EncryptingWriter::signed -> io::sink", |b| {
        b.iter(|| {
            let mut writer =
                EncryptingWriter::signed(std::io::sink(), &alice, &[bob.public_key()]).unwrap();
            writer.write_all(black_box(&plaintext)).unwrap();
            writer.finish().unwrap()
        })
    });
    group.bench_function("stream: DecryptingReader::verified -> io::sink", |b| {
        b.iter(|| {
            let mut reader =
                DecryptingReader::verified(black_box(&ciphertext[..]), &bob, &[alice.public_key()])
                    .unwrap();
            std::io::copy(&mut reader, &mut std::io::sink()).unwrap()
        })
    });
    group.bench_function("decrypt_then_verify", |b| {
        b.iter(|| {
            envelope::decrypt_then_verify(black_box(&ciphertext), &bob, &[alice.public_key()])
                .unwrap()
        })
    });
    let mut out = Vec::new();
    group.bench_function("sign_then_encrypt_into (reused Vec)", |b| {
        b.iter(|| {
            envelope::sign_then_encrypt_into(
                black_box(&plaintext),
                &alice,
                &[bob.public_key()],
                &mut out,
            )
            .unwrap()
        })
    });
    group.bench_function("decrypt_then_verify_into (reused Vec)", |b| {
        b.iter(|| {
            envelope::decrypt_then_verify_into(
                black_box(&ciphertext),
                &bob,
                &[alice.public_key()],
                &mut out,
            )
            .unwrap()
        })
    });
    let (identities, age_recipients) = age_identities(1);
    group.bench_function("peer: age encrypt (reused Vec)", |b| {
        b.iter(|| age_encrypt(black_box(&plaintext), &age_recipients, &mut out))
    });
    let mut age_ciphertext = Vec::new();
    age_encrypt(&plaintext, &age_recipients, &mut age_ciphertext);
    group.bench_function("peer: age decrypt (reused Vec)", |b| {
        b.iter(|| age_decrypt(black_box(&age_ciphertext), &identities[0], &mut out))
    });
    group.finish();
}

fn recipients(c: &mut Criterion) {
    let plaintext = vec![0x5au8; 1024];
    let alice = key(1);
    let keys: Vec<PrivateKey> = (0..1000)
        .map(|i| {
            PrivateKey::from_seed(&[
                (i % 251) as u8,
                (i / 251) as u8,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
                9,
            ])
            .unwrap()
        })
        .collect();
    let public: Vec<&PublicKey> = keys.iter().map(PrivateKey::public_key).collect();

    let mut group = c.benchmark_group(format!("sign_then_encrypt-1KiB/{MODE}"));
    group.sample_size(10);
    let rng = ring::rand::SystemRandom::new();
    let peer = keys[0].public_key().as_bytes()[35..].to_vec();
    group.bench_function(
        "baseline: ring P-256 ephemeral keygen + ECDH (per recipient)",
        |b| {
            b.iter(|| {
                let ephemeral = ring::agreement::EphemeralPrivateKey::generate(
                    &ring::agreement::ECDH_P256,
                    &rng,
                )
                .unwrap();
                let _public = ephemeral.compute_public_key().unwrap();
                let peer =
                    ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, &peer);
                ring::agreement::agree_ephemeral(ephemeral, &peer, |z| z[0]).unwrap()
            })
        },
    );
    let (identities, age_recipients) = age_identities(100);
    let mut out = Vec::new();
    // What two cores give this machine on this work: 200 ECDHs on one thread against
    // 2 threads × 100 (the scaling ceiling for sealing stanzas in parallel).
    let ecdh = |count: usize| {
        for _ in 0..count {
            let ephemeral =
                ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng)
                    .unwrap();
            let peer = ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, &peer);
            black_box(ring::agreement::agree_ephemeral(ephemeral, &peer, |z| z[0]).unwrap());
        }
    };
    group.bench_function("baseline: 200 ECDH, one thread", |b| b.iter(|| ecdh(200)));
    group.bench_function("baseline: 200 ECDH, 2 threads x 100", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                scope.spawn(|| ecdh(100));
                ecdh(100);
            })
        })
    });
    for n in [1usize, 10, 100, 1000] {
        group.bench_with_input(BenchmarkId::new("recipients", n), &n, |b, &n| {
            b.iter(|| {
                envelope::sign_then_encrypt(black_box(&plaintext), &alice, &public[..n]).unwrap()
            })
        });
        if n <= 100 {
            group.bench_with_input(BenchmarkId::new("peer: age, recipients", n), &n, |b, &n| {
                b.iter(|| age_encrypt(black_box(&plaintext), &age_recipients[..n], &mut out))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group(format!("decrypt_then_verify-1KiB/{MODE}"));
    let one = envelope::sign_then_encrypt(&plaintext, &alice, &public[..1]).unwrap();
    let hundred = envelope::sign_then_encrypt(&plaintext, &alice, &public[..100]).unwrap();
    let thousand = envelope::sign_then_encrypt(&plaintext, &alice, &public).unwrap();
    // The parts of one decryption, each on its own: the static ECDH by either backend,
    // and the signature check.
    let scalar = [7u8; 32];
    let pk_e = keys[1].public_key().as_bytes()[35..].to_vec();
    let p256_secret = p256::SecretKey::from_bytes(&scalar.into()).unwrap();
    group.bench_function("baseline: p256 static ECDH (pure Rust)", |b| {
        b.iter(|| {
            let pk_e = p256::PublicKey::from_sec1_bytes(black_box(&pk_e)).unwrap();
            p256::ecdh::diffie_hellman(p256_secret.to_nonzero_scalar(), pk_e.as_affine())
                .raw_secret_bytes()[0]
        })
    });
    let aws_secret = aws_lc_rs::agreement::PrivateKey::from_private_key(
        &aws_lc_rs::agreement::ECDH_P256,
        &scalar,
    )
    .unwrap();
    group.bench_function("baseline: aws-lc static ECDH", |b| {
        b.iter(|| {
            let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(
                &aws_lc_rs::agreement::ECDH_P256,
                black_box(&pk_e),
            );
            aws_lc_rs::agreement::agree(&aws_secret, peer, (), |z| Ok(z[0])).unwrap()
        })
    });
    let signature =
        virgil_crypto::sign::sign(&alice, virgil_crypto::sign::Context::MESSAGE, &[1; 64]);
    group.bench_function("baseline: Ed25519 verify (sign::verify)", |b| {
        b.iter(|| {
            virgil_crypto::sign::verify(
                alice.public_key(),
                virgil_crypto::sign::Context::MESSAGE,
                black_box(&[1; 64]),
                &signature,
            )
            .unwrap()
        })
    });
    group.bench_function("baseline: only recipient of 1", |b| {
        b.iter(|| {
            envelope::decrypt_then_verify(black_box(&one), &keys[0], &[alice.public_key()]).unwrap()
        })
    });
    group.bench_function("decrypt (unverified), only recipient", |b| {
        b.iter(|| envelope::decrypt(black_box(&one), &keys[0]).unwrap())
    });
    group.bench_function("last recipient of 100", |b| {
        b.iter(|| {
            envelope::decrypt_then_verify(black_box(&hundred), &keys[99], &[alice.public_key()])
                .unwrap()
        })
    });
    let mut age_one = Vec::new();
    age_encrypt(&plaintext, &age_recipients[..1], &mut age_one);
    let mut age_hundred = Vec::new();
    age_encrypt(&plaintext, &age_recipients, &mut age_hundred);
    group.bench_function("peer: age decrypt, only recipient", |b| {
        b.iter(|| age_decrypt(black_box(&age_one), &identities[0], &mut out))
    });
    group.bench_function("peer: age decrypt, last of 100", |b| {
        b.iter(|| age_decrypt(black_box(&age_hundred), &identities[99], &mut out))
    });
    group.bench_function("last recipient of 1000", |b| {
        b.iter(|| {
            envelope::decrypt_then_verify(black_box(&thousand), &keys[999], &[alice.public_key()])
                .unwrap()
        })
    });
    group.finish();
}

/// One Ed25519 signature over 1 KiB: what `sign::sign` costs against ring rebuilding the
/// key pair from its seed per signature (the signer before issue 16) and ring with a
/// cached pair (the floor).
fn signing(c: &mut Criterion) {
    use ring::signature::Ed25519KeyPair;
    use virgil_crypto::sign::{Context, sign};
    let message = vec![0x5au8; 1024];
    let alice = key(1);
    let seed = [9u8; 32];
    let cached = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let mut group = c.benchmark_group("sign-1KiB");
    group.bench_function("baseline: ring, key pair rebuilt from the seed", |b| {
        b.iter(|| {
            Ed25519KeyPair::from_seed_unchecked(black_box(&seed))
                .unwrap()
                .sign(black_box(&message))
        })
    });
    group.bench_function("baseline: ring, cached key pair", |b| {
        b.iter(|| cached.sign(black_box(&message)))
    });
    group.bench_function("sign::sign (ed25519-dalek, expanded once)", |b| {
        b.iter(|| sign(&alice, Context::MESSAGE, black_box(&message)))
    });
    group.finish();
}

fn unlock(c: &mut Criterion) {
    let alice = key(1);
    let blob = keyblob::lock(&alice, b"password", keyblob::Params::default()).unwrap();
    let iterations = keyblob::DEFAULT_ITERATIONS;
    let mut group = c.benchmark_group("unlock-600k");
    group.sample_size(10);
    group.bench_function("baseline: ring pbkdf2", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                NonZeroU32::new(iterations).unwrap(),
                b"saltsaltsaltsalt",
                black_box(b"password"),
                &mut out,
            );
            out
        })
    });
    group.bench_function("baseline: pbkdf2 crate", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(
                black_box(b"password"),
                b"saltsaltsaltsalt",
                iterations,
                &mut out,
            );
            out
        })
    });
    group.bench_function("keyblob::unlock", |b| {
        b.iter(|| keyblob::unlock(black_box(&blob), Some(b"password")).unwrap())
    });
    group.finish();
}

/// Issue 15: suite 2 (X-Wing) against suite 1 (P-256), in one run: the per-recipient
/// cost of sealing a stanza (16 recipients, so the stanzas dominate the 1 KiB payload)
/// and decrypting 1 KiB as the only recipient, with the X-Wing KEM's own encapsulation
/// and decapsulation as baselines.
fn post_quantum(c: &mut Criterion) {
    use virgil_crypto::Suite;
    use x_wing::{Decapsulate as _, TryKeyInit as _};
    let plaintext = vec![0x5au8; 1024];
    let of = |suite: Suite, n: u8| PrivateKey::from_seed_with_suite(&[n; 32], suite).unwrap();
    let classic: Vec<PrivateKey> = (0..16).map(|n| of(Suite::Classic, n)).collect();
    let pq: Vec<PrivateKey> = (0..16).map(|n| of(Suite::PostQuantum, n)).collect();
    let classic_public: Vec<&PublicKey> = classic.iter().map(PrivateKey::public_key).collect();
    let pq_public: Vec<&PublicKey> = pq.iter().map(PrivateKey::public_key).collect();
    let alice = of(Suite::Classic, 200);

    let mut group = c.benchmark_group(format!("suite2-1KiB/{MODE}"));
    let xwing_public =
        x_wing::EncapsulationKey::new_from_slice(&pq[0].public_key().as_bytes()[35..]).unwrap();
    let xwing_secret = x_wing::DecapsulationKey::from([3u8; 32]);
    let (ciphertext, _) = xwing_public.encapsulate_deterministic(&[9u8; 64].into());
    group.bench_function("baseline: x-wing crate encapsulate", |b| {
        b.iter(|| xwing_public.encapsulate_deterministic(black_box(&[9u8; 64].into())))
    });
    group.bench_function("baseline: x-wing crate decapsulate", |b| {
        b.iter(|| xwing_secret.decapsulate(black_box(&ciphertext)))
    });
    // The parts X-Wing is made of, from AWS-LC (ML-KEM-768, X25519) and ring (X25519).
    let ml_kem = aws_lc_rs::kem::DecapsulationKey::generate(&aws_lc_rs::kem::ML_KEM_768).unwrap();
    let ml_kem_public = ml_kem.encapsulation_key().unwrap();
    let (ml_kem_ct, _) = ml_kem_public.encapsulate().unwrap();
    let ml_kem_ct = ml_kem_ct.as_ref().to_vec();
    group.bench_function("baseline: aws-lc ML-KEM-768 encapsulate", |b| {
        b.iter(|| black_box(&ml_kem_public).encapsulate().unwrap())
    });
    group.bench_function("baseline: aws-lc ML-KEM-768 decapsulate", |b| {
        b.iter(|| {
            ml_kem
                .decapsulate(aws_lc_rs::kem::Ciphertext::from(black_box(&ml_kem_ct[..])))
                .unwrap()
        })
    });
    let rng = ring::rand::SystemRandom::new();
    let x25519_peer = [9u8; 32];
    group.bench_function("baseline: ring X25519 ephemeral keygen + agree", |b| {
        b.iter(|| {
            let ephemeral =
                ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::X25519, &rng)
                    .unwrap();
            let _public = ephemeral.compute_public_key().unwrap();
            let peer = ring::agreement::UnparsedPublicKey::new(
                &ring::agreement::X25519,
                black_box(&x25519_peer),
            );
            ring::agreement::agree_ephemeral(ephemeral, &peer, |z| z[0]).unwrap()
        })
    });
    let x25519_static = aws_lc_rs::agreement::PrivateKey::from_private_key(
        &aws_lc_rs::agreement::X25519,
        &[5u8; 32],
    )
    .unwrap();
    group.bench_function("baseline: aws-lc X25519 static agree", |b| {
        b.iter(|| {
            let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(
                &aws_lc_rs::agreement::X25519,
                black_box(&x25519_peer),
            );
            aws_lc_rs::agreement::agree(&x25519_static, peer, (), |z| Ok(z[0])).unwrap()
        })
    });
    for (name, public) in [("suite 1", &classic_public), ("suite 2", &pq_public)] {
        group.bench_function(format!("{name}: sign_then_encrypt to 16 recipients"), |b| {
            b.iter(|| envelope::sign_then_encrypt(black_box(&plaintext), &alice, public).unwrap())
        });
    }
    for (name, keys) in [("suite 1", &classic), ("suite 2", &pq)] {
        let sealed =
            envelope::sign_then_encrypt(&plaintext, &alice, &[keys[0].public_key()]).unwrap();
        group.bench_function(
            format!("{name}: decrypt_then_verify, only recipient"),
            |b| {
                b.iter(|| {
                    envelope::decrypt_then_verify(
                        black_box(&sealed),
                        &keys[0],
                        &[alice.public_key()],
                    )
                    .unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    throughput,
    recipients,
    signing,
    unlock,
    post_quantum
);
criterion_main!(benches);
