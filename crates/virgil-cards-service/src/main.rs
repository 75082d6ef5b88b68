//! `virgil-cards-service`: the self-hosted cards service ([`virgil_cards_service::command`]).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    virgil_cards_service::command::main()
}
