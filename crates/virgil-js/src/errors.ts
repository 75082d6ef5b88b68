/**
 * The one error type of the package, with the same kinds as the Rust core's
 * `virgil_crypto::Error` (docs/format.md names each where it applies).
 */
export type VirgilErrorKind =
  | "invalid_public_key"
  | "malformed"
  | "unsupported_version"
  | "wrong_password"
  | "corrupted"
  | "not_a_recipient"
  | "unknown_sender"
  | "bad_signature"
  | "not_signed"
  | "directory_proof"
  | "misuse";

const MESSAGES: Record<VirgilErrorKind, string> = {
  invalid_public_key: "not a valid public key",
  malformed: "data is not in the expected format",
  unsupported_version: "unsupported format version (made by a newer version of the software?)",
  wrong_password: "wrong password for this key",
  corrupted: "data is corrupted, truncated or was tampered with",
  not_a_recipient: "not encrypted for this key",
  unknown_sender: "signed by a key that is not among the expected senders",
  bad_signature: "signature does not match the sender's key",
  not_signed: "message is not signed, but a signature was required",
  directory_proof: "the key directory does not vouch for this answer",
  misuse: "the API was used in a way it does not allow",
};

/** Everything this package throws on bad input. `kind` is stable; the message is for people. */
export class VirgilError extends Error {
  readonly kind: VirgilErrorKind;

  constructor(kind: VirgilErrorKind, detail?: string) {
    super(detail === undefined ? MESSAGES[kind] : `${MESSAGES[kind]}: ${detail}`);
    this.name = "VirgilError";
    this.kind = kind;
  }
}
