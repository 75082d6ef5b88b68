//! An auditor's check of the directory: that each epoch's tree only *added* to the one
//! before (akd's append-only proof), so no entry's past was rewritten, between roots
//! the auditor took from signed checkpoints.

use crate::directory::Configuration;
use protobuf::Message as _;

/// The longest append-only proof an auditor decodes.
pub const MAX_AUDIT_PROOF_LEN: usize = 64 * 1024 * 1024;

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The proof does not decode, or covers other epochs than asked.
    #[error("the audit proof is malformed: {0}")]
    Malformed(String),
    /// The proof does not take the first root to the last by additions only.
    #[error("the directory was not append-only between epoch {from} and epoch {to}: {reason}")]
    NotAppendOnly {
        /// The first epoch.
        from: u64,
        /// The last epoch.
        to: u64,
        /// What akd reported.
        reason: String,
    },
    /// The runtime the blocking call needs could not start.
    #[error("cannot verify now: {0}")]
    Runtime(String),
}

/// Verifies `proof` (akd's protobuf `AppendOnlyProof`) from epoch `from`, whose root is
/// `roots[0]`, through each following epoch to `from + roots.len() - 1`.
pub async fn verify_append_only(
    from: u64,
    roots: &[[u8; 32]],
    proof: &[u8],
) -> Result<(), AuditError> {
    if proof.len() > MAX_AUDIT_PROOF_LEN {
        return Err(AuditError::Malformed("too long".to_owned()));
    }
    let to = from
        .saturating_add(u64::try_from(roots.len()).unwrap_or(u64::MAX))
        .saturating_sub(1);
    let decoded = akd::proto::specs::types::AppendOnlyProof::parse_from_bytes(proof)
        .map_err(|e| AuditError::Malformed(e.to_string()))?;
    let decoded = akd::AppendOnlyProof::try_from(&decoded)
        .map_err(|e| AuditError::Malformed(format!("{e:?}")))?;
    let expected: Vec<u64> = (from..to).collect();
    if decoded.epochs != expected {
        return Err(AuditError::Malformed(format!(
            "the proof covers epochs {:?}, not {from} to {to}",
            decoded.epochs
        )));
    }
    akd::auditor::audit_verify::<Configuration>(roots.to_vec(), decoded)
        .await
        .map_err(|e| AuditError::NotAppendOnly {
            from,
            to,
            reason: e.to_string(),
        })
}

/// [`verify_append_only`] for callers without an async runtime (one is made for the
/// call; do not call it from inside one).
pub fn verify_append_only_blocking(
    from: u64,
    roots: &[[u8; 32]],
    proof: &[u8],
) -> Result<(), AuditError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| AuditError::Runtime(e.to_string()))?
        .block_on(verify_append_only(from, roots, proof))
}
