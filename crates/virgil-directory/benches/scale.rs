//! The key directory at scale, on SQLite (and PostgreSQL with
//! `VIRGIL_DIRECTORY_BACKEND=postgres`): build time for N identities (published in epochs
//! of 10,000), then the lookup proof's size, the service's time to make one, the client's
//! time to verify one, the process's peak RSS, and the verification of one
//! 1,000-change epoch's append-only proof.
//!
//! `cargo bench -p virgil-directory --bench scale` (N = 10,000; `VIRGIL_DIRECTORY_IDENTITIES`
//! sets it, e.g. 1000000 for the scale: a long run, not part of CI).
//!
//! `VIRGIL_DIRECTORY_DB=FILE` (SQLite) keeps the database: a first run builds it, a second
//! run over the same file only serves it (a fresh process: its peak RSS is the serving
//! one). `VIRGIL_DIRECTORY_DB=postgres://…/DATABASE` does the same on an existing, empty
//! PostgreSQL database (the first run's root is kept in `DATABASE.root` in the system's
//! temporary folder). Lookups are made twice: cold (every VRF answer computed) and warm (remembered,
//! as for an identity looked up before). `VIRGIL_DIRECTORY_LOOKUPS=N` then makes N lookups of
//! distinct identities (from a snapshot and from the directory) and reports the peak RSS
//! again, with every cache filled to its bound. `VIRGIL_DIRECTORY_CACHE_BYTES` sets another
//! cache size than the service's.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Instant;
use virgil_card::checkpoint::Checkpoint;
use virgil_card::directory::{self, DirectoryEntry};
use virgil_card::{CardId, CardIdentity, CardStatus};
use virgil_crypto::PrivateKey;
use virgil_directory::directory::DEFAULT_CACHE_BYTES;
use virgil_directory::{KeyDirectory, VrfKey};
use virgil_server::database::Database;

const BATCH: usize = 10_000;

fn owner(n: usize) -> CardIdentity {
    CardIdentity::new("chat", &format!("user{n}"))
}

fn value(n: usize) -> Vec<u8> {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(n as u64).to_be_bytes());
    let cards = [(CardId::from_bytes(id), CardStatus::Active)];
    DirectoryEntry::of(cards.iter().map(|(id, status)| (id, status))).encode()
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let identities: usize = std::env::var("VIRGIL_DIRECTORY_IDENTITIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let backend = std::env::var("VIRGIL_DIRECTORY_BACKEND").unwrap_or_else(|_| "sqlite".into());
    let dir = tempfile::tempdir().unwrap();
    let kept = std::env::var("VIRGIL_DIRECTORY_DB").ok();
    let kept_postgres = kept.as_deref().is_some_and(|k| k.starts_with("postgres"));
    // Beside a kept database: the root before the audited epoch (the serving run audits
    // the same epoch as the building one).
    let root_file = kept.as_ref().map(|path| {
        if kept_postgres {
            let name = path.rsplit('/').next().unwrap_or("postgres");
            std::env::temp_dir()
                .join(format!("{name}.root"))
                .display()
                .to_string()
        } else {
            format!("{path}.root")
        }
    });
    let serve_only = root_file
        .as_deref()
        .is_some_and(|path| std::path::Path::new(path).exists());
    let postgres;
    let url = if let Some(path) = &kept {
        if kept_postgres {
            path.clone()
        } else {
            format!("sqlite://{path}?mode=rwc")
        }
    } else if backend == "postgres" {
        postgres = virgil_testkit::postgres::TempPostgres::new("virgil_directory_scale");
        postgres.url().to_owned()
    } else {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("directory.db").display()
        )
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let service_key = PrivateKey::from_seed(&[42; 32]).unwrap();
        let keys = KeyDirectory::open(
            Database::connect(&url).await.unwrap(),
            VrfKey::of_service_key(&service_key),
            // `VIRGIL_DIRECTORY_CACHE_BYTES`: another cache size than the service's.
            std::env::var("VIRGIL_DIRECTORY_CACHE_BYTES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(DEFAULT_CACHE_BYTES),
        )
        .await
        .unwrap();
        let started = Instant::now();
        let mut next = 0;
        while next < identities && !serve_only {
            let end = identities.min(next + BATCH);
            keys.publish(
                (next..end)
                    .map(|n| (directory::label(&owner(n)), value(n)))
                    .collect(),
            )
            .await
            .unwrap();
            next = end;
        }
        let build = started.elapsed();
        // One more epoch of 1,000 changes, for the audit row.
        let mut before_root = keys.latest().await.unwrap().root;
        if serve_only {
            let saved = std::fs::read(root_file.as_ref().unwrap()).unwrap();
            before_root.copy_from_slice(&saved);
        } else if let Some(file) = &root_file {
            std::fs::write(file, before_root).unwrap();
        }
        if !serve_only {
            keys.publish(
                (0..1000)
                    .map(|n| (directory::label(&owner(n)), value(n + identities)))
                    .collect(),
            )
            .await
            .unwrap();
        }
        let at = keys.latest().await.unwrap();
        let before_epoch = at.epoch - 1;
        let checkpoint = Checkpoint {
            directory: "bench".to_owned(),
            epoch: at.epoch,
            root: at.root,
            vrf_key: keys.vrf_public_key().await.unwrap(),
            published_at: 0,
        };
        let samples = 200;
        let (mut cold, mut warm, mut verify, mut sizes) = (0.0, 0.0, 0.0, Vec::new());
        // Every identity here is at version 1 or 2, its own marker, whose proof leaves the
        // marker proof out (format.md §15). A version with another marker (3, 5, 6, …)
        // carries one more path, as long as the existence path: its size is measured by
        // putting the copies back.
        let mut marked_sizes = Vec::new();
        for pass in 0..2 {
            for i in 0..samples {
                let who = owner((i * 7919) % identities);
                let started = Instant::now();
                let lookup = keys.lookup(&directory::label(&who)).await.unwrap();
                let took = started.elapsed().as_secs_f64();
                if pass == 0 {
                    cold += took;
                    sizes.push(lookup.proof.len());
                    marked_sizes.push({
                        use protobuf::Message as _;
                        let mut wire =
                            akd::proto::specs::types::LookupProof::parse_from_bytes(&lookup.proof)
                                .unwrap();
                        if wire.marker_proof.is_none() {
                            wire.marker_proof = wire.existence_proof.clone();
                            wire.marker_vrf_proof = wire.existence_vrf_proof.clone();
                        }
                        wire.write_to_bytes().unwrap().len()
                    });
                    let started = Instant::now();
                    directory::verify_lookup(&checkpoint, &who, &lookup.proof).unwrap();
                    verify += started.elapsed().as_secs_f64();
                } else {
                    warm += took;
                }
            }
        }
        sizes.sort_unstable();
        let (median, max) = (sizes[sizes.len() / 2], sizes[sizes.len() - 1]);
        marked_sizes.sort_unstable();
        let (marked_median, marked_max) = (
            marked_sizes[marked_sizes.len() / 2],
            marked_sizes[marked_sizes.len() - 1],
        );
        let proof = keys.audit(before_epoch, at.epoch).await.unwrap();
        let started = Instant::now();
        virgil_directory::audit::verify_append_only(before_epoch, &[before_root, at.root], &proof)
            .await
            .unwrap();
        let audit = started.elapsed();
        println!(
            "{backend}, {identities} identities: {}; lookup proof median {median} B, max {max} B (versions that are their own marker), median {marked_median} B, max {marked_max} B (with a marker proof); service makes one in {:.2} ms cold, {:.2} ms warm (VRF remembered), client verifies one in {:.2} ms (means of {samples}); audit proof of one 1,000-change epoch: {} B, verified in {:.3} s; peak RSS {:.0} MiB{}",
            if serve_only { "served only (built before)".to_owned() } else { format!("build {:.1} s ({:.0} identities/s)", build.as_secs_f64(), identities as f64 / build.as_secs_f64()) },
            cold / samples as f64 * 1e3,
            warm / samples as f64 * 1e3,
            verify / samples as f64 * 1e3,
            proof.len(),
            audit.as_secs_f64(),
            peak_rss_mib(),
            if serve_only { " (serving only)" } else { " (building and serving)" }
        );
        // `VIRGIL_DIRECTORY_LOOKUPS=N`: N more lookups of distinct identities, each from a
        // snapshot and from the directory (as the service answers them), so that every
        // cache fills to its bound; then the peak RSS again.
        let more: usize = std::env::var("VIRGIL_DIRECTORY_LOOKUPS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if more > 0 {
            let started = Instant::now();
            let snapshot = keys.snapshot().await.unwrap();
            let mut i = 0;
            while i < more {
                let labels: Vec<Vec<u8>> = (i..more.min(i + 100))
                    .map(|k| directory::label(&owner((k * 104_729 + 13) % identities)))
                    .collect();
                for found in snapshot.lookups(&labels).await.unwrap() {
                    assert!(found.is_some());
                }
                for label in &labels {
                    keys.lookup(label).await.unwrap();
                }
                i += labels.len();
            }
            println!(
                "{backend}, {identities} identities: {more} more lookups of distinct identities, from a snapshot and from the directory, in {:.0} s; peak RSS {:.0} MiB",
                started.elapsed().as_secs_f64(),
                peak_rss_mib()
            );
        }
    });
}
