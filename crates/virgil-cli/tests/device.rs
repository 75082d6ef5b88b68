//! Pairing a device through the CLI and both real servers (issue 31): `virgil device
//! join` on the new device shows a code, `virgil device pair CODE` on the old one links
//! and publishes its card; a wrong code ends the pairing on both sides; `device list`
//! and `device revoke` from the other device.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use support::*;

/// Starts `virgil device join NAME` as `user`; returns the process (the caller waits for
/// it) and the code it shows.
#[allow(clippy::zombie_processes)]
fn join(deployment: &Deployment, user: &str, name: &str) -> (std::process::Child, String) {
    let mut child = deployment.spawn_as(user, &["device", "join", name]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "join ended: {shown}"
        );
        shown.push_str(&line);
        if let Some(code) = line.trim().strip_prefix("Pairing code for alice:") {
            let code = code.trim().to_owned();
            // Keep reading the rest in the background so the pipe never fills.
            std::thread::spawn(move || {
                let mut rest = String::new();
                let _ = stdout.read_to_string(&mut rest);
            });
            return (child, code);
        }
    }
}

fn active_cards(deployment: &Deployment, user: &str) -> Vec<serde_json::Value> {
    let listed: serde_json::Value =
        serde_json::from_str(&deployment.ok(user, &["device", "list", "--json"])).unwrap();
    listed["cards"].as_array().unwrap().clone()
}

#[test]
fn a_new_device_joins_with_a_code_and_is_revoked_from_the_other() {
    let deployment = Deployment::start();
    deployment.onboard("alice");
    deployment.ok("alice-laptop", &["login", "alice"]);

    // A wrong code: the new device refuses the answer (exit 3) and ends the pairing,
    // so the old device is told it ended (exit 1). Nothing is linked.
    let (child, code) = join(&deployment, "alice-laptop", "alice-laptop");
    let wrong = if code.ends_with('7') {
        format!("{}8", &code[..code.len() - 1])
    } else {
        format!("{}7", &code[..code.len() - 1])
    };
    let stderr = deployment.fails("alice", &["device", "pair", &wrong, "--yes"], 1);
    assert!(stderr.contains("pairing ended"), "{stderr}");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("does not confirm"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(active_cards(&deployment, "alice").len(), 1);

    // The right code (a new one: the key made above is used again).
    let (child, code) = join(&deployment, "alice-laptop", "alice-laptop");
    let paired = deployment.ok("alice", &["device", "pair", &code, "--yes"]);
    assert!(paired.contains("key fingerprint"), "{paired}");
    assert!(paired.contains("published, linked from"), "{paired}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let cards = active_cards(&deployment, "alice");
    assert_eq!(cards.len(), 2);
    let laptop_card = cards
        .iter()
        .find(|card| card["local_key"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The laptop sees both cards as its own (its self-check raises no alarm).
    assert_eq!(active_cards(&deployment, "alice-laptop").len(), 2);

    // Not on a terminal, pairing needs --yes.
    let stderr = deployment.fails("alice", &["device", "pair", &code], 1);
    assert!(stderr.contains("--yes"), "{stderr}");

    // The laptop is lost: revoked from the phone.
    deployment.ok(
        "alice",
        &["device", "revoke", &laptop_card, "--key", "alice"],
    );
    assert_eq!(active_cards(&deployment, "alice").len(), 1);
}
