//! A password hardened by a server that never sees it: RFC 9497's verifiable oblivious
//! PRF in its partially oblivious mode (POPRF), suite P256-SHA256, over Meta's `voprf`.
//!
//! ```text
//! client                                   server (secret key k, public key K = k·G)
//! (state, blinded) = Blind(password)
//!                      ── blinded (33 bytes) ──▶
//!                                          (element, proof) = BlindEvaluate(k, blinded, info)
//!                      ◀── element ‖ proof (33 + 64 bytes) ──
//! hardened = Finalize(state, element, proof, K, info)   (refused unless the proof holds)
//! ```
//!
//! The server learns nothing about the password, and the client learns only
//! `PRF(k, info, password)` — and a proof that the server used the key `K` it published.
//! `info` is public and bound into the evaluation: the cards service puts the
//! authenticated caller's identity there, so an evaluation under one identity is useless
//! for guessing another's password (a plain VOPRF could not bind it; docs/decisions.md).
//! Without the server, each password guess costs nothing; with it, one evaluation,
//! which the server counts and limits.
//!
//! The output locks a key backup ([`crate::keyblob::lock_hardened`]).
//!
//! ```
//! use virgil_crypto::oprf::{OprfKey, PasswordBlind};
//! let server = OprfKey::derive(&[3; 32], b"app")?;
//! let public_key = server.public_key();
//! let (state, blinded) = PasswordBlind::new(b"correct horse")?;
//! let evaluation = server.evaluate(&blinded, b"alice")?;
//! let hardened = state.finalize(&evaluation, &public_key, b"alice")?;
//! # let (again, blinded) = PasswordBlind::new(b"correct horse")?;
//! # let evaluation = server.evaluate(&blinded, b"alice")?;
//! # assert_eq!(again.finalize(&evaluation, &public_key, b"alice")?, hardened);
//! # Ok::<(), virgil_crypto::Error>(())
//! ```

use crate::Error;
use crate::keyblob::HardenedPassword;
use crate::rng::RandCoreRng as Rng;
use core::fmt;
use p256::NistP256;
use voprf::{BlindedElement, EvaluationElement, PoprfClient, PoprfServer, Proof};
use zeroize::Zeroizing;

/// Bytes of a group element (compressed SEC1 P-256 point): a public key, a blinded
/// password, an evaluated element.
pub const ELEMENT_LEN: usize = 33;
/// Bytes of a proof (two P-256 scalars).
pub const PROOF_LEN: usize = 64;
/// Bytes of an [`Evaluation`]: the element, then the proof.
pub const EVALUATION_LEN: usize = ELEMENT_LEN + PROOF_LEN;
/// The longest `info` RFC 9497 allows.
pub const MAX_INFO_LEN: usize = u16::MAX as usize;
/// The longest password [`PasswordBlind::new`] takes (RFC 9497's input limit).
pub const MAX_PASSWORD_LEN: usize = u16::MAX as usize;

/// The server's secret OPRF key. Zeroized on drop (by `voprf`); its `Debug` shows only
/// the public key.
pub struct OprfKey(PoprfServer<NistP256>);

impl OprfKey {
    /// RFC 9497's `DeriveKeyPair(seed, key_info)`: the same seed and info always give the
    /// same key. The cards service derives its seed from its service key and uses the
    /// application id as `key_info`, so each application has its own key.
    pub fn derive(seed: &[u8; 32], key_info: &[u8]) -> Result<Self, Error> {
        PoprfServer::new_from_seed(seed, key_info)
            .map(Self)
            .map_err(|_| Error::Malformed)
    }

    /// The public key clients check evaluations against.
    pub fn public_key(&self) -> OprfPublicKey {
        let bytes = <NistP256 as voprf::Group>::serialize_elem(self.0.get_public_key());
        let mut out = [0u8; ELEMENT_LEN];
        out.copy_from_slice(&bytes);
        OprfPublicKey(out)
    }

    /// Evaluates a client's blinded password under `info`, with a proof that this key
    /// was used. Errors: [`Error::Malformed`] for an `info` over [`MAX_INFO_LEN`];
    /// [`Error::RandomFailed`].
    pub fn evaluate(&self, blinded: &BlindedPassword, info: &[u8]) -> Result<Evaluation, Error> {
        if info.len() > MAX_INFO_LEN {
            return Err(Error::Malformed);
        }
        let mut rng = Rng::new();
        let result = self
            .0
            .blind_evaluate(&mut rng, &blinded.0, Some(info))
            .map_err(|_| Error::Malformed);
        rng.check()?;
        let result = result?;
        let mut element = [0u8; ELEMENT_LEN];
        element.copy_from_slice(&result.message.serialize());
        let mut proof = [0u8; PROOF_LEN];
        proof.copy_from_slice(&result.proof.serialize());
        Ok(Evaluation { element, proof })
    }
}

impl fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OprfKey").field(&self.public_key()).finish()
    }
}

/// A server's OPRF public key: a P-256 point, never the identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OprfPublicKey([u8; ELEMENT_LEN]);

impl OprfPublicKey {
    /// Reads a compressed SEC1 point; [`Error::InvalidPublicKey`] unless it is a point of
    /// the curve other than the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bytes: [u8; ELEMENT_LEN] = bytes.try_into().map_err(|_| Error::InvalidPublicKey)?;
        <NistP256 as voprf::Group>::deserialize_elem(&bytes)
            .map_err(|_| Error::InvalidPublicKey)?;
        Ok(Self(bytes))
    }

    /// The 33 bytes.
    pub fn as_bytes(&self) -> &[u8; ELEMENT_LEN] {
        &self.0
    }

    fn element(&self) -> Result<<NistP256 as voprf::Group>::Elem, Error> {
        <NistP256 as voprf::Group>::deserialize_elem(&self.0).map_err(|_| Error::InvalidPublicKey)
    }
}

impl fmt::Debug for OprfPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OprfPublicKey({})", crate::encoding::to_hex(&self.0))
    }
}

/// A blinded password, as the client sends it: says nothing about the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BlindedPassword(BlindedElement<NistP256>);

impl BlindedPassword {
    /// Reads a blinded element; [`Error::Malformed`] unless it is a point of the curve
    /// other than the identity (a server evaluates nothing else).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != ELEMENT_LEN {
            return Err(Error::Malformed);
        }
        BlindedElement::deserialize(bytes)
            .map(Self)
            .map_err(|_| Error::Malformed)
    }

    /// The 33 bytes.
    pub fn to_bytes(&self) -> [u8; ELEMENT_LEN] {
        let mut out = [0u8; ELEMENT_LEN];
        out.copy_from_slice(&self.0.serialize());
        out
    }
}

impl fmt::Debug for BlindedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindedPassword(..)")
    }
}

/// A server's answer: the evaluated element and its proof.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    element: [u8; ELEMENT_LEN],
    proof: [u8; PROOF_LEN],
}

impl Evaluation {
    /// Reads `element ‖ proof` ([`EVALUATION_LEN`] bytes). The element and the proof's
    /// scalars are checked when the client finalizes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bytes: &[u8; EVALUATION_LEN] = bytes.try_into().map_err(|_| Error::Malformed)?;
        let (element, proof) = bytes.split_at(ELEMENT_LEN);
        Ok(Self {
            element: element.try_into().map_err(|_| Error::Malformed)?,
            proof: proof.try_into().map_err(|_| Error::Malformed)?,
        })
    }

    /// `element ‖ proof`.
    pub fn to_bytes(&self) -> [u8; EVALUATION_LEN] {
        let mut out = [0u8; EVALUATION_LEN];
        let (element, proof) = out.split_at_mut(ELEMENT_LEN);
        element.copy_from_slice(&self.element);
        proof.copy_from_slice(&self.proof);
        out
    }
}

impl fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Evaluation(..)")
    }
}

/// The client's side of one evaluation: the password and its blind, kept until the
/// server answers. Zeroized on drop; its `Debug` shows nothing.
pub struct PasswordBlind {
    state: PoprfClient<NistP256>,
    password: Zeroizing<alloc::vec::Vec<u8>>,
}

impl PasswordBlind {
    /// Blinds `password` (1 to [`MAX_PASSWORD_LEN`] bytes, else [`Error::Malformed`])
    /// with a fresh random blind: the state to keep and the element to send.
    pub fn new(password: &[u8]) -> Result<(Self, BlindedPassword), Error> {
        if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
            return Err(Error::Malformed);
        }
        let mut rng = Rng::new();
        let blinded = PoprfClient::<NistP256>::blind(password, &mut rng);
        rng.check()?;
        let blinded = blinded.map_err(|_| Error::Malformed)?;
        Ok((
            Self {
                state: blinded.state,
                password: Zeroizing::new(password.to_vec()),
            },
            BlindedPassword(blinded.message),
        ))
    }

    /// Checks the server's proof against its public key and `info`, and unblinds: the
    /// hardened password. [`Error::InvalidProof`] when the proof does not hold (another
    /// key, another `info`, a changed answer); [`Error::Malformed`] when the answer is
    /// not even made of group elements.
    pub fn finalize(
        self,
        evaluation: &Evaluation,
        public_key: &OprfPublicKey,
        info: &[u8],
    ) -> Result<HardenedPassword, Error> {
        if info.len() > MAX_INFO_LEN {
            return Err(Error::Malformed);
        }
        let element =
            EvaluationElement::deserialize(&evaluation.element).map_err(|_| Error::Malformed)?;
        let proof = Proof::deserialize(&evaluation.proof).map_err(|_| Error::Malformed)?;
        let output = self
            .state
            .finalize(
                &self.password,
                &element,
                &proof,
                public_key.element()?,
                Some(info),
            )
            .map_err(|error| match error {
                voprf::Error::ProofVerification => Error::InvalidProof,
                _ => Error::Malformed,
            })?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&output);
        Ok(HardenedPassword::from_bytes(bytes))
    }
}

impl fmt::Debug for PasswordBlind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordBlind(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::PrimeField as _;

    fn hex(text: &str) -> alloc::vec::Vec<u8> {
        crate::encoding::from_hex(text).unwrap()
    }

    /// RFC 9497 Appendix A.3.3 (POPRF, P256-SHA256), test vectors 1 and 2.
    #[test]
    fn rfc9497_poprf_p256_vectors() {
        let seed: [u8; 32] = [0xa3; 32];
        let key = OprfKey::derive(&seed, &hex("74657374206b6579")).unwrap();
        assert_eq!(
            key.public_key().as_bytes().as_slice(),
            hex("030d7ff077fddeec965db14b794f0cc1ba9019b04a2f4fcc1fa525dedf72e2a3e3")
        );
        let info = hex("7465737420696e666f");
        let blind = p256::Scalar::from_repr(
            <[u8; 32]>::try_from(hex(
                "3338fa65ec36e0290022b48eb562889d89dbfa691d1cde91517fa222ed7ad364",
            ))
            .unwrap()
            .into(),
        )
        .unwrap();
        for (input, blinded, element, proof, output) in [
            (
                "00",
                "031563e127099a8f61ed51eeede05d747a8da2be329b40ba1f0db0b2bd9dd4e2c0",
                "02c5e5300c2d9e6ba7f3f4ad60500ad93a0157e6288eb04b67e125db024a2c74d2",
                "f8a33690b87736c854eadfcaab58a59b8d9c03b569110b6f31f8bf7577f3fbb85a8a0c38468ccde1ba942be501654adb106167c8eb178703ccb42bccffb9231a",
                "193a92520bd8fd1f37accb918040a57108daa110dc4f659abe212636d245c592",
            ),
            (
                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
                "021a440ace8ca667f261c10ac7686adc66a12be31e3520fca317643a1eee9dcd4d",
                "0208ca109cbae44f4774fc0bdd2783efdcb868cb4523d52196f700210e777c5de3",
                "043a8fb7fc7fd31e35770cabda4753c5bf0ecc1e88c68d7d35a62bf2631e875af4613641be2d1875c31d1319d191c4bbc0d04875f4fd03c31d3d17dd8e069b69",
                "1e6d164cfd835d88a31401623549bf6b9b306628ef03a7962921d62bc5ffce8c",
            ),
        ] {
            let input = hex(input);
            let fixed =
                PoprfClient::<NistP256>::deterministic_blind_unchecked(&input, blind).unwrap();
            let sent = BlindedPassword(fixed.message);
            assert_eq!(sent.to_bytes().as_slice(), hex(blinded));
            // The evaluated element is deterministic; the proof's nonce is not, so ours
            // differs from the RFC's, and both must verify.
            let ours = key.evaluate(&sent, &info).unwrap();
            assert_eq!(ours.element.as_slice(), hex(element));
            let rfc = Evaluation::from_bytes(&[hex(element), hex(proof)].concat()).unwrap();
            for evaluation in [ours, rfc] {
                let state = PasswordBlind {
                    state: fixed.state.clone(),
                    password: Zeroizing::new(input.clone()),
                };
                let hardened = state
                    .finalize(&evaluation, &key.public_key(), &info)
                    .unwrap();
                assert_eq!(hardened.as_bytes().as_slice(), hex(output));
            }
        }
    }

    #[test]
    fn the_output_depends_on_password_info_and_key_only() {
        let key = OprfKey::derive(&[1; 32], b"app-1").unwrap();
        let run = |key: &OprfKey, password: &[u8], info: &[u8]| {
            let (state, blinded) = PasswordBlind::new(password).unwrap();
            let evaluation = key.evaluate(&blinded, info).unwrap();
            state
                .finalize(&evaluation, &key.public_key(), info)
                .unwrap()
        };
        let first = run(&key, b"pw", b"alice");
        assert_eq!(
            run(&key, b"pw", b"alice"),
            first,
            "fresh blinds, same output"
        );
        assert_ne!(run(&key, b"pW", b"alice"), first);
        assert_ne!(run(&key, b"pw", b"bob"), first);
        let other_app = OprfKey::derive(&[1; 32], b"app-2").unwrap();
        assert_ne!(other_app.public_key(), key.public_key());
        assert_ne!(run(&other_app, b"pw", b"alice"), first);
    }

    #[test]
    fn an_answer_that_does_not_prove_the_published_key_is_refused() {
        let key = OprfKey::derive(&[1; 32], b"app").unwrap();
        let impostor = OprfKey::derive(&[2; 32], b"app").unwrap();
        // Another key's evaluation, checked against the published key; the right key
        // under another info (another identity's evaluation).
        for (evaluator, info) in [(&impostor, &b"alice"[..]), (&key, &b"mallory"[..])] {
            let (state, blinded) = PasswordBlind::new(b"pw").unwrap();
            let evaluation = evaluator.evaluate(&blinded, info).unwrap();
            assert_eq!(
                state
                    .finalize(&evaluation, &key.public_key(), b"alice")
                    .unwrap_err(),
                Error::InvalidProof
            );
        }
        // Every flipped bit of a good answer is refused.
        let (state, blinded) = PasswordBlind::new(b"pw").unwrap();
        let good = key.evaluate(&blinded, b"alice").unwrap().to_bytes();
        for bit in 0..EVALUATION_LEN * 8 {
            let mut bad = good;
            bad[bit / 8] ^= 1 << (bit % 8);
            let state = PasswordBlind {
                state: state.state.clone(),
                password: state.password.clone(),
            };
            let refused = Evaluation::from_bytes(&bad)
                .and_then(|bad| state.finalize(&bad, &key.public_key(), b"alice"));
            assert!(
                matches!(refused, Err(Error::InvalidProof | Error::Malformed)),
                "bit {bit}: {refused:?}"
            );
        }
    }

    #[test]
    fn inputs_that_are_not_group_elements_are_refused() {
        let identity_point = [0u8; ELEMENT_LEN];
        assert_eq!(
            BlindedPassword::from_bytes(&identity_point).unwrap_err(),
            Error::Malformed
        );
        assert_eq!(
            OprfPublicKey::from_bytes(&identity_point).unwrap_err(),
            Error::InvalidPublicKey
        );
        // An x beyond the field, and the first small x with no y on the curve.
        let mut beyond_field = [0xffu8; ELEMENT_LEN];
        beyond_field[0] = 0x02;
        assert!(BlindedPassword::from_bytes(&beyond_field).is_err());
        let not_on_curve = (1u8..=255)
            .map(|x| {
                let mut bytes = [0u8; ELEMENT_LEN];
                bytes[0] = 0x02;
                bytes[ELEMENT_LEN - 1] = x;
                bytes
            })
            .find(|bytes| {
                use p256::elliptic_curve::sec1::FromEncodedPoint as _;
                let point = p256::EncodedPoint::from_bytes(bytes).unwrap();
                bool::from(p256::AffinePoint::from_encoded_point(&point).is_none())
            })
            .unwrap();
        assert!(BlindedPassword::from_bytes(&not_on_curve).is_err());
        assert!(BlindedPassword::from_bytes(&[2; 32]).is_err());
        assert!(BlindedPassword::from_bytes(&[2; 34]).is_err());
        assert!(Evaluation::from_bytes(&[0; EVALUATION_LEN - 1]).is_err());
        assert_eq!(PasswordBlind::new(b"").unwrap_err(), Error::Malformed);
        let key = OprfKey::derive(&[1; 32], b"app").unwrap();
        assert!(alloc::format!("{key:?}").starts_with("OprfKey(OprfPublicKey("));
    }
}
