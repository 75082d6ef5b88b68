//! The directory's proofs on the wire (docs/format.md §15): akd's protobuf messages with
//! two kinds of field left out, by the service, and put back by the client before akd
//! verifies.
//!
//! In every `MembershipProof` (alone, or inside a `NonMembershipProof`, a `LookupProof`
//! or a `HistoryProof`), each `SiblingProof` leaves out its `label` and `direction`.
//! Both follow from the path: walking from the proven node (the membership proof's
//! `label`) towards the root, the parent of the current node and its sibling is their
//! longest common prefix (the root label, length 0, when the sibling is akd's empty
//! node), and the direction is the current node's bit at the parent's length. akd hashes
//! both into the parent, so a client that restores them checks them as akd would: a
//! wrong one changes the root. Left out, they save 10–14 bytes per tree level, about
//! 14 % of a lookup proof at a million identities.
//!
//! And in a `LookupProof` whose marker is its own version (versions 1, 2, 4, 8, …: the
//! marker proof and its VRF proof are copies of the existence proof and its VRF proof),
//! the copies are left out: most identities are at version 1, and this takes a third
//! off their proofs.
//!
//! A proof that carries a left-out field is refused (one encoding per proof).

use super::{Configuration, DirectoryProofError};
use akd_core::NodeLabel;
use akd_core::configuration::Configuration as _;
use akd_core::proto::specs::types as pb;
use protobuf::{Message as _, MessageField};

fn malformed(what: &str, detail: impl std::fmt::Display) -> DirectoryProofError {
    DirectoryProofError::Malformed(format!("{what}: {detail}"))
}

/// A lookup proof's wire bytes.
pub fn encode_lookup_proof(proof: &akd_core::LookupProof) -> Vec<u8> {
    let mut message = pb::LookupProof::from(proof);
    elide_membership(&mut message.existence_proof);
    elide_membership(&mut message.marker_proof);
    if message.marker_proof == message.existence_proof
        && message.marker_vrf_proof == message.existence_vrf_proof
    {
        message.marker_proof = MessageField::none();
        message.marker_vrf_proof = None;
    }
    if let Some(freshness) = message.freshness_proof.as_mut() {
        elide_membership(&mut freshness.longest_prefix_membership_proof);
    }
    write(&message)
}

/// A history proof's wire bytes.
pub fn encode_history_proof(proof: &akd_core::HistoryProof) -> Vec<u8> {
    let mut message = pb::HistoryProof::from(proof);
    for update in &mut message.update_proofs {
        elide_membership(&mut update.existence_proof);
        elide_membership(&mut update.previous_version_proof);
    }
    for past in &mut message.existence_of_past_marker_proofs {
        elide(past);
    }
    for future in &mut message.non_existence_of_future_marker_proofs {
        elide_membership(&mut future.longest_prefix_membership_proof);
    }
    write(&message)
}

/// Decodes a lookup proof's wire bytes (the fields left out restored).
pub fn decode_lookup_proof(bytes: &[u8]) -> Result<akd_core::LookupProof, DirectoryProofError> {
    const WHAT: &str = "lookup proof";
    let mut message = pb::LookupProof::parse_from_bytes(bytes).map_err(|e| malformed(WHAT, e))?;
    match (
        message.marker_proof.is_some(),
        message.marker_vrf_proof.is_some(),
    ) {
        (false, false) => {
            message.marker_proof = message.existence_proof.clone();
            message.marker_vrf_proof = message.existence_vrf_proof.clone();
        }
        _ if message.marker_proof == message.existence_proof
            && message.marker_vrf_proof == message.existence_vrf_proof =>
        {
            return Err(malformed(
                WHAT,
                "carries a copy of its existence proof as its marker proof",
            ));
        }
        _ => {}
    }
    restore_membership(&mut message.existence_proof)?;
    restore_membership(&mut message.marker_proof)?;
    if let Some(freshness) = message.freshness_proof.as_mut() {
        restore_membership(&mut freshness.longest_prefix_membership_proof)?;
    }
    akd_core::LookupProof::try_from(&message).map_err(|e| malformed(WHAT, format!("{e:?}")))
}

/// Decodes a history proof's wire bytes (the fields left out restored).
pub fn decode_history_proof(bytes: &[u8]) -> Result<akd_core::HistoryProof, DirectoryProofError> {
    const WHAT: &str = "history proof";
    let mut message = pb::HistoryProof::parse_from_bytes(bytes).map_err(|e| malformed(WHAT, e))?;
    for update in &mut message.update_proofs {
        restore_membership(&mut update.existence_proof)?;
        restore_membership(&mut update.previous_version_proof)?;
    }
    for past in &mut message.existence_of_past_marker_proofs {
        restore(past)?;
    }
    for future in &mut message.non_existence_of_future_marker_proofs {
        restore_membership(&mut future.longest_prefix_membership_proof)?;
    }
    akd_core::HistoryProof::try_from(&message).map_err(|e| malformed(WHAT, format!("{e:?}")))
}

fn write(message: &impl protobuf::Message) -> Vec<u8> {
    // Writing to a Vec fails only past 2 GiB; a proof is kilobytes.
    message.write_to_bytes().unwrap_or_default()
}

fn elide_membership(proof: &mut MessageField<pb::MembershipProof>) {
    if let Some(proof) = proof.as_mut() {
        elide(proof);
    }
}

fn elide(proof: &mut pb::MembershipProof) {
    for sibling in &mut proof.sibling_proofs {
        sibling.label = MessageField::none();
        sibling.direction = None;
    }
}

fn restore_membership(
    proof: &mut MessageField<pb::MembershipProof>,
) -> Result<(), DirectoryProofError> {
    match proof.as_mut() {
        Some(proof) => restore(proof),
        None => Ok(()),
    }
}

fn node_label(label: &MessageField<pb::NodeLabel>) -> Result<NodeLabel, DirectoryProofError> {
    const WHAT: &str = "a node label";
    let label = label.as_ref().ok_or_else(|| malformed(WHAT, "missing"))?;
    NodeLabel::try_from(label).map_err(|e| malformed(WHAT, format!("{e:?}")))
}

/// Restores the sibling proofs' labels and directions, from the proven node up.
fn restore(proof: &mut pb::MembershipProof) -> Result<(), DirectoryProofError> {
    const WHAT: &str = "a sibling proof";
    let mut current = node_label(&proof.label)?;
    for sibling_proof in proof.sibling_proofs.iter_mut().rev() {
        if sibling_proof.label.is_some() || sibling_proof.direction.is_some() {
            return Err(malformed(
                WHAT,
                "carries a label or direction the encoding leaves out",
            ));
        }
        let sibling = sibling_proof
            .siblings
            .first()
            .ok_or_else(|| malformed(WHAT, "no sibling"))?;
        let sibling = node_label(&sibling.label)?;
        let parent = if sibling == Configuration::empty_label() {
            NodeLabel::root()
        } else {
            current.get_longest_common_prefix::<Configuration>(sibling)
        };
        let direction = bit_at(&current, parent.label_len)
            .ok_or_else(|| malformed(WHAT, "its sibling is not beside the node"))?;
        sibling_proof.label = MessageField::some(pb::NodeLabel::from(&parent));
        // akd's direction is the current node's bit: 0 left, 1 right.
        sibling_proof.direction = Some(u32::from(direction));
        current = parent;
    }
    Ok(())
}

/// Bit `index` of `label` (the first is the most significant of the first byte), if the
/// label is longer than `index`.
fn bit_at(label: &NodeLabel, index: u32) -> Option<u8> {
    if index >= label.label_len {
        return None;
    }
    let byte = label.label_val.get(usize::try_from(index / 8).ok()?)?;
    Some((byte >> (7 - index % 8)) & 1)
}
