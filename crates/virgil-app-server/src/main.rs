//! `virgil-app-server`: the reference application server ([`virgil_app_server::command`]).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    virgil_app_server::command::main()
}
