//! The `virgil` command-line tool.
//!
//! It will expose every user-facing operation (keys, cards, encrypt/decrypt), run both
//! servers (`virgil serve …`) and the end-to-end demo (`virgil demo`). Until the CLI issue
//! lands it only says so.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "virgil: the command-line tool is not built yet (it lands with the CLI issue).\n\
         Use the `virgil-crypto` library meanwhile; see README.md."
    );
    ExitCode::from(2)
}
