//! `virgil demo` runs the whole tutorial and exits 0 only if everything verified.
#![allow(missing_docs, clippy::unwrap_used)]

/// Runs `virgil ARGS`, which must succeed; its standard output.
fn demo(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_virgil"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_demo_runs_the_tutorial_end_to_end() {
    let stdout = demo(&["demo"]);
    assert!(
        stdout.contains("bob reads: \"Hey Bob, how's it going?\""),
        "{stdout}"
    );
    assert!(stdout.contains("temporary files removed"), "{stdout}");
    // One line per key-change check.
    for check in [
        "pinned it as a new contact",
        "carries a link signature",
        "no key-change warning",
        "proven by the cards service's key directory",
        "versions of his directory entry up to epoch",
        "safety number of alice and bob",
        "bob's phone read it too",
    ] {
        assert!(stdout.contains(check), "{check:?} missing:\n{stdout}");
    }
}

#[test]
fn help_explains_the_demo() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_virgil"))
        .args(["demo", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Exits 0 only if everything verified")
    );
}

#[test]
fn the_demo_runs_with_post_quantum_keys() {
    let stdout = demo(&["demo", "--suite", "pq"]);
    assert!(
        stdout.contains("alice: pq (post-quantum) key generated"),
        "{stdout}"
    );
    assert!(stdout.contains("X-Wing stanzas only"), "{stdout}");
    assert!(
        stdout.contains("bob reads: \"Hey Bob, how's it going?\""),
        "{stdout}"
    );
}

#[test]
fn the_demo_restores_a_backed_up_key_on_a_new_device() {
    let stdout = demo(&["demo", "--backup"]);
    for step in [
        "alice backed her key up",
        "restored her key (a wrong backup password first: refused)",
        "counted 3 guesses",
        "alice reads: \"Fine, and you?\"",
        "temporary files removed",
    ] {
        assert!(stdout.contains(step), "{step:?} missing:\n{stdout}");
    }
}
