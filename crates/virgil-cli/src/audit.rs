//! `virgil audit`: an independent auditor of the cards service's key directory. It
//! checks, epoch by epoch, that every checkpoint is signed by the pinned service key and
//! that each epoch's tree only added to the one before (akd's append-only proofs), and
//! remembers where it stopped; `--compare` checks another auditor's (or device's)
//! checkpoint against this one's view: two signed roots for one epoch are a fork.

use crate::config::{Global, write_private_file};
use crate::error::{CliError, Exit, context};
use clap::Args;
use std::path::{Path, PathBuf};
use virgil::card::checkpoint::{Checkpoint, SignedCheckpoint};
use virgil_api::cards::MAX_AUDIT_EPOCHS;

/// `virgil audit`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Start at this epoch [default: where the last audit stopped, else 1].
    #[arg(long, value_name = "EPOCH")]
    from: Option<u64>,
    /// Where to remember the last audited checkpoint [default: HOME/audit.checkpoint].
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Another auditor's state file (or a device's `keys/directory.checkpoint`): its
    /// checkpoint must be the one this service signed for its epoch.
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
}

/// The fork alarm: two checkpoints for one epoch, both signed by the service key.
fn fork(mine: &Checkpoint, theirs: &Checkpoint, whose: &str) -> CliError {
    eprintln!(
        "virgil: ALARM: the cards service signed two different directories for epoch {}:\n  {whose}: root {}\n  the service now: root {}\nkeep both files: together they prove the split view to anyone",
        mine.epoch,
        hex(&theirs.root),
        hex(&mine.root)
    );
    CliError::with(
        Exit::Rejected,
        format!(
            "the key directory forked at epoch {} (see the ALARM above)",
            mine.epoch
        ),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn read_checkpoint(path: &Path) -> Result<Option<SignedCheckpoint>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => SignedCheckpoint::from_bytes(&bytes)
            .map(Some)
            .map_err(context(format!("{} is not a checkpoint", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(context(format!("cannot read {}", path.display()))(e)),
    }
}

/// Runs `virgil audit`.
pub(crate) fn run(global: &Global, args: AuditArgs) -> Result<(), CliError> {
    let virgil = global.virgil()?;
    let state = match args.state {
        Some(path) => path,
        None => global.home()?.join("audit.checkpoint"),
    };
    let remembered = read_checkpoint(&state)?;
    if let Some(remembered) = &remembered {
        remembered
            .verify(&[virgil.service_key().clone()])
            .map_err(context(format!("{}", state.display())))?;
    }
    let latest = virgil.directory_checkpoint(None)?;
    let mut position = match (args.from, &remembered) {
        (Some(from), _) => from.max(1),
        (None, Some(remembered)) => remembered.checkpoint.epoch,
        (None, None) => 1,
    };
    if let Some(remembered) = &remembered
        && latest.checkpoint.epoch < remembered.checkpoint.epoch
    {
        return Err(CliError::with(
            Exit::Rejected,
            format!(
                "the cards service's latest epoch is {}, but this auditor already verified epoch {}: a rollback or a second view of the directory",
                latest.checkpoint.epoch, remembered.checkpoint.epoch
            ),
        ));
    }
    let target = latest.checkpoint.epoch;
    let mut last = remembered.clone();
    let mut audited = 0u64;
    let progress = indicatif::ProgressBar::new(target.saturating_sub(position));
    progress.set_style(
        indicatif::ProgressStyle::with_template("auditing epochs {pos}/{len} {bar:30} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while position < target {
        let to = target.min(position + MAX_AUDIT_EPOCHS);
        let (checkpoints, proof) = virgil.directory_audit(position, to)?;
        // The chain must start where this auditor stopped, with the same root.
        if let (Some(first), Some(seen)) = (checkpoints.first(), &last)
            && first.checkpoint.epoch == seen.checkpoint.epoch
            && first.checkpoint != seen.checkpoint
        {
            progress.abandon();
            return Err(fork(
                &first.checkpoint,
                &seen.checkpoint,
                "this auditor's record",
            ));
        }
        let roots: Vec<[u8; 32]> = checkpoints.iter().map(|c| c.checkpoint.root).collect();
        virgil_directory::audit::verify_append_only_blocking(position, &roots, &proof).map_err(
            |e| {
                progress.abandon();
                CliError::with(
                    Exit::Rejected,
                    format!("the key directory failed its audit: {e}"),
                )
            },
        )?;
        last = checkpoints.last().cloned();
        if let Some(last) = &last {
            write_private_file(&state, &last.to_bytes())?;
        }
        audited += to - position;
        progress.inc(to - position);
        position = to;
    }
    progress.finish_and_clear();
    // The latest checkpoint itself, when nothing was left to audit.
    let newest = last.unwrap_or_else(|| latest.clone());
    if newest.checkpoint.epoch == target && newest.checkpoint != latest.checkpoint {
        return Err(fork(
            &latest.checkpoint,
            &newest.checkpoint,
            "this auditor's record",
        ));
    }
    if audited == 0 && remembered.is_none() {
        write_private_file(&state, &newest.to_bytes())?;
    }
    println!(
        "directory {:?}: epochs up to {} verified append-only ({} new), root {}; remembered in {}",
        newest.checkpoint.directory,
        newest.checkpoint.epoch,
        audited,
        hex(&newest.checkpoint.root),
        state.display()
    );
    if let Some(path) = &args.compare {
        compare(&virgil, &newest, path)?;
    }
    Ok(())
}

/// Checks another auditor's checkpoint in `path` against the service's for its epoch.
fn compare(
    virgil: &virgil::Virgil,
    newest: &SignedCheckpoint,
    path: &Path,
) -> Result<(), CliError> {
    let theirs = read_checkpoint(path)?
        .ok_or_else(|| CliError::new(format!("no such file: {}", path.display())))?;
    let whose = format!("{}", path.display());
    let theirs = theirs
        .verify(&[virgil.service_key().clone()])
        .map_err(context(&whose))?
        .clone();
    if theirs.directory != newest.checkpoint.directory {
        return Err(CliError::new(format!(
            "{whose} is of directory {:?}, not {:?}",
            theirs.directory, newest.checkpoint.directory
        )));
    }
    if theirs.epoch > newest.checkpoint.epoch {
        return Err(CliError::with(
            Exit::Rejected,
            format!(
                "{whose} holds epoch {}, which this cards service has not shown us (latest {}): a split view, or a replica behind; run the audit again",
                theirs.epoch, newest.checkpoint.epoch
            ),
        ));
    }
    let ours = virgil.directory_checkpoint(Some(theirs.epoch))?;
    if ours.checkpoint != theirs {
        return Err(fork(&ours.checkpoint, &theirs, &whose));
    }
    println!(
        "{whose}: epoch {} is the same directory (root {})",
        theirs.epoch,
        hex(&theirs.root)
    );
    Ok(())
}

/// Checks that `a` and `b` (signed checkpoints of one directory, already verified) are
/// on one append-only chain of the service's: the same checkpoint for one epoch, or
/// every epoch between them signed and proven append-only, starting at the older one
/// and ending at the newer one. `whose` names where `b` came from. A fork is an ALARM.
pub(crate) fn same_chain(
    virgil: &virgil::Virgil,
    a: &Checkpoint,
    b: &Checkpoint,
    whose: &str,
) -> Result<(), CliError> {
    if a.directory != b.directory {
        return Err(CliError::with(
            Exit::Rejected,
            format!(
                "{whose} follows directory {:?}, this device {:?}: not the same cards service",
                b.directory, a.directory
            ),
        ));
    }
    if a.epoch == b.epoch {
        return if a == b {
            Ok(())
        } else {
            Err(fork(a, b, whose))
        };
    }
    let (older, newer) = if a.epoch < b.epoch {
        ((a, "this device"), (b, whose))
    } else {
        ((b, whose), (a, "this device"))
    };
    let (older, older_name) = older;
    let (newer, newer_name) = newer;
    let mut position = older.epoch;
    while position < newer.epoch {
        let to = newer.epoch.min(position + MAX_AUDIT_EPOCHS);
        let (checkpoints, proof) = virgil.directory_audit(position, to)?;
        let ends = [
            (older, older_name, checkpoints.first()),
            (newer, newer_name, checkpoints.last()),
        ];
        for (held, name, signed) in ends {
            if let Some(signed) = signed
                && signed.checkpoint.epoch == held.epoch
                && signed.checkpoint != *held
            {
                return Err(fork(&signed.checkpoint, held, name));
            }
        }
        let roots: Vec<[u8; 32]> = checkpoints.iter().map(|c| c.checkpoint.root).collect();
        virgil_directory::audit::verify_append_only_blocking(position, &roots, &proof).map_err(
            |e| {
                CliError::with(
                    Exit::Rejected,
                    format!("the key directory failed its audit: {e}"),
                )
            },
        )?;
        position = to;
    }
    Ok(())
}
