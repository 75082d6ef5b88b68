//! Maintainer tasks for the workspace (matklad's xtask convention).
//!
//! `cargo xtask ci` runs every check CI runs, in order; `cargo xtask fuzz` runs the
//! cargo-fuzz targets; `cargo xtask bench` runs the criterion benchmarks. This crate has
//! no dependencies so that it builds in seconds on a clean machine.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

mod layers;

const USAGE: &str = "\
cargo xtask <task> [options]

Tasks:
  ci [--keep-going]               run every check CI runs, in order: layers, fmt,
                                  clippy, no_std build, tests, docs, spec check (an independent
                                  Python reader of docs/format.md), Python SDK, the
                                  TypeScript package (node), fuzz check
  fuzz [TARGET] [--seconds N] [--no-sanitizer]
                                  run one cargo-fuzz target (or all of them) for N
                                  seconds each (default 60); installs cargo-fuzz if
                                  missing. --no-sanitizer: without AddressSanitizer
                                  (our crates forbid `unsafe`): about twice the rate
  bench [ARGS...]                 run the criterion benchmarks (ARGS go to `cargo bench`)
  python [--release] [--wheel] [PYTEST ARGS...]
                                  build the Python SDK's wheel (maturin, in a fresh
                                  virtualenv under the target directory), install it
                                  there and run its pytest suite against real servers;
                                  --release builds an optimised wheel (for benchmarks
                                  and to hand out); --wheel stops after the build and
                                  prints the wheel's path (abi3: one file for every
                                  CPython >= 3.9 on this platform; `pip install` it
                                  anywhere without Rust)
  layers                          check the crate layering: each crate depends only on
                                  lower layers (README's crate map), and the virgil
                                  binary links no server crate without `server`
  man                             regenerate the CLI's manual pages in docs/man/ (a test
                                  checks they match the binary)
  help                            print this message

Examples:
  cargo xtask ci --keep-going
  cargo xtask python -k tutorial
  cargo xtask python --release --wheel
  cargo xtask fuzz envelope_decrypt --seconds 600
  cargo xtask bench -p virgil-crypto -- envelope";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "ci" => ci(rest),
        "fuzz" => fuzz(rest),
        "bench" => bench(rest),
        "man" => man(),
        "layers" => check_layers(),
        "python" => python(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// One CI step: a name, the commands it runs and what to do when it fails.
struct Step {
    name: &'static str,
    commands: Vec<Command>,
    fix: &'static str,
}

fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(root());
    command
}

/// `cargo +nightly …`, run through rustup so the toolchain override is honoured even
/// when `CARGO` points at a specific toolchain's cargo.
fn cargo_nightly(args: &[&str]) -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["run", "nightly", "cargo"])
        .args(args)
        .current_dir(root());
    // `CARGO`/`RUSTC` from the outer stable cargo would otherwise leak into the nightly one.
    for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTC_WRAPPER"] {
        command.env_remove(var);
    }
    command
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

fn has_nextest() -> bool {
    succeeds(&mut cargo(&["nextest", "--version"]))
}

/// Whether this is CI (`CI=true`), where every step must run.
fn ci_required() -> bool {
    env::var("CI").is_ok_and(|value| value == "true")
}

/// The last line of a passing `cargo xtask ci`: how many steps ran, and how many steps
/// and tests were skipped (each listed above it).
fn passed_summary(ran: usize, skipped_steps: usize, skipped_tests: usize) -> String {
    let mut line = match skipped_steps {
        0 => format!("all {ran} steps passed"),
        n => format!("{ran} steps passed, {n} skipped (listed above: not a full check)"),
    };
    if skipped_tests > 0 {
        line.push_str(&format!("; {skipped_tests} tests skipped, listed above"));
    }
    line
}

fn has_nightly() -> bool {
    succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "--version"]))
}

/// Whether `python3` can run the independent format check (docs/reference/).
fn python_can_check_spec() -> bool {
    succeeds(Command::new("python3").args([
        "-c",
        "import blake3; from cryptography.hazmat.primitives.asymmetric import mlkem",
    ]))
}

fn ci(args: &[String]) -> Result<(), String> {
    let mut keep_going = false;
    for arg in args {
        match arg.as_str() {
            "--keep-going" | "-k" => keep_going = true,
            other => return Err(format!("`ci` does not take `{other}`\n\n{USAGE}")),
        }
    }

    let fuzz_manifest = root().join("fuzz").join("Cargo.toml");
    let fuzz_manifest = fuzz_manifest.to_string_lossy().into_owned();

    // Tests that cannot run here (PostgreSQL unreachable, outside CI) record themselves
    // in this file (virgil_testkit::postgres); the summary lists them.
    let skips_file = env::temp_dir().join(format!("virgil-xtask-skips-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&skips_file);
    let mut tests = Vec::new();
    if has_nextest() {
        tests.push(cargo(&[
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ]));
        // nextest does not run doc tests.
        tests.push(cargo(&["test", "--workspace", "--all-features", "--doc"]));
    } else {
        println!(
            "note: cargo-nextest not found; using `cargo test` (install: cargo install --locked cargo-nextest)"
        );
        tests.push(cargo(&[
            "test",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ]));
    }

    // The crypto core without `aws-lc`: the recipient's static ECDH by the `p256` crate,
    // as `no_std` users get it, through the same KATs (RFC 9180, Wycheproof) and tests.
    tests.push(cargo(&[
        "test",
        "--package",
        "virgil-crypto",
        "--no-default-features",
        "--features",
        "std",
        "--lib",
    ]));
    for command in &mut tests {
        command.env("VIRGIL_TEST_SKIPS", &skips_file);
    }

    let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--all-features"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");

    let mut layer_check = Command::new(env::current_exe().map_err(|e| e.to_string())?);
    layer_check.arg("layers").current_dir(root());

    let mut steps = vec![
        Step {
            name: "layers",
            commands: vec![layer_check],
            fix: "a crate depends on one above it, or the virgil binary links a server without its `server` feature: see the lines above",
        },
        Step {
            name: "fmt",
            commands: vec![
                cargo(&["fmt", "--all", "--", "--check"]),
                cargo(&[
                    "fmt",
                    "--manifest-path",
                    &fuzz_manifest,
                    "--all",
                    "--",
                    "--check",
                ]),
            ],
            fix: "run `cargo fmt --all` and `cargo fmt --manifest-path fuzz/Cargo.toml --all`",
        },
        Step {
            name: "clippy",
            commands: vec![cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ])],
            fix: "fix the warnings above; `cargo clippy --fix` handles many of them",
        },
        Step {
            name: "no_std",
            commands: vec![
                cargo(&[
                    "clippy",
                    "--package",
                    "virgil-crypto",
                    "--no-default-features",
                    "--",
                    "-D",
                    "warnings",
                ]),
                cargo(&[
                    "build",
                    "--package",
                    "virgil-crypto",
                    "--no-default-features",
                ]),
                // The facade without its HTTP client (offline use).
                cargo(&[
                    "clippy",
                    "--package",
                    "virgil",
                    "--no-default-features",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
            ],
            fix: "virgil-crypto must build without `std` (use `core`/`alloc`, gate std-only code behind `#[cfg(feature = \"std\")]`), and the facade without its `client` feature (gate client code behind `#[cfg(feature = \"client\")]`)",
        },
        Step {
            name: "test",
            commands: tests,
            fix: "a test failed: rerun it alone with `cargo test -p <crate> <name>` and read its message",
        },
        Step {
            name: "doc",
            commands: vec![doc],
            fix: "fix the rustdoc warnings above (broken intra-doc links, missing docs, bad code blocks)",
        },
    ];
    // Steps this machine cannot run: (name, why, how to get it). Under `CI=true` each
    // is a failure: CI must run every step.
    let mut skipped_steps: Vec<(&str, String)> = Vec::new();
    if python_can_check_spec() {
        let mut check = Command::new("python3");
        check
            .arg(
                root()
                    .join("docs")
                    .join("reference")
                    .join("check_vectors.py"),
            )
            .current_dir(root());
        steps.push(Step {
            name: "spec-check",
            commands: vec![check],
            fix: "docs/vectors/crypto.json, docs/format.md and the independent Python reader in docs/reference/ disagree: fix whichever is wrong",
        });
    } else {
        skipped_steps.push((
            "spec-check",
            "python3 with `cryptography` (46 or later) and `blake3` not found (install: pip install 'cryptography>=46' blake3)".to_owned(),
        ));
    }
    match python3() {
        Ok(_) => {
            let mut python = Command::new(env::current_exe().map_err(|e| e.to_string())?);
            python
                .arg("python")
                .current_dir(root())
                .env("VIRGIL_TEST_SKIPS", &skips_file);
            steps.push(Step {
                name: "python",
                commands: vec![python],
                fix: "the Python SDK (crates/virgil-py) failed to build or a pytest test failed: rerun `cargo xtask python -x -k <test>` and read its message",
            });
        }
        Err(why) => skipped_steps.push(("python", format!("it needs {why}"))),
    }
    if succeeds(Command::new("npm").arg("--version")) {
        let package = root().join("crates").join("virgil-js");
        let mut install = Command::new("npm");
        install
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&package);
        // The interop tests run the `virgil` binary the test step built.
        let mut test = Command::new("npm");
        test.args(["test"])
            .current_dir(&package)
            .env("VIRGIL_BIN", target_dir().join("debug").join("virgil"));
        steps.push(Step {
            name: "javascript",
            commands: vec![install, test],
            fix: "the TypeScript package (crates/virgil-js) failed to build or a test failed: `cd crates/virgil-js && npm test`",
        });
    } else {
        skipped_steps.push((
            "javascript",
            "Node.js 20 or later with npm not found (install Node.js)".to_owned(),
        ));
    }
    if has_nightly() {
        steps.push(Step {
            name: "fuzz-check",
            commands: vec![cargo_nightly(&["check", "--manifest-path", &fuzz_manifest, "--bins"])],
            fix: "the fuzz targets must compile against the current API: `cargo +nightly check --manifest-path fuzz/Cargo.toml`",
        });
    } else {
        skipped_steps.push((
            "fuzz-check",
            "no nightly toolchain (install: rustup toolchain install nightly)".to_owned(),
        ));
    }
    for (name, why) in &skipped_steps {
        println!("note: skipping the {name} step: {why}");
    }
    if ci_required() && !skipped_steps.is_empty() {
        let names: Vec<&str> = skipped_steps.iter().map(|(name, _)| *name).collect();
        return Err(format!(
            "CI=true, and this machine cannot run the step(s) {}: CI runs every step (install what the notes above say)",
            names.join(", ")
        ));
    }

    let mut results: Vec<(&str, Duration, bool)> = Vec::new();
    let mut failures = Vec::new();
    for step in steps {
        println!("\n==> xtask ci: {}", step.name);
        let started = Instant::now();
        let mut ok = true;
        for mut command in step.commands {
            println!("    $ {}", describe(&command));
            let status = command.status();
            if !matches!(status, Ok(status) if status.success()) {
                ok = false;
                break;
            }
        }
        let elapsed = started.elapsed();
        results.push((step.name, elapsed, ok));
        if !ok {
            println!(
                "\n*** step `{}` failed. How to fix: {}",
                step.name, step.fix
            );
            failures.push(step.name);
            if !keep_going {
                break;
            }
        }
    }

    println!("\n==> xtask ci summary");
    for (name, elapsed, ok) in &results {
        let verdict = if *ok { "ok" } else { "FAILED" };
        println!(
            "    {name:<12} {verdict:<7} {:>7.1}s",
            elapsed.as_secs_f64()
        );
    }
    for (name, why) in &skipped_steps {
        println!("    {name:<12} SKIPPED  {why}");
    }
    let mut skipped: Vec<String> = std::fs::read_to_string(&skips_file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let _ = std::fs::remove_file(&skips_file);
    skipped.sort();
    skipped.dedup();
    for line in &skipped {
        println!("    {line}");
    }
    if failures.is_empty() {
        println!(
            "    {}",
            passed_summary(results.len(), skipped_steps.len(), skipped.len())
        );
        Ok(())
    } else {
        Err(format!(
            "failed step(s): {} (run with --keep-going to see every failure)",
            failures.join(", ")
        ))
    }
}

/// Output of a `cargo` command that must succeed.
fn cargo_output(args: &[&str]) -> Result<String, String> {
    let output = cargo(args)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| "cargo printed non-UTF-8 output".to_owned())
}

fn check_layers() -> Result<(), String> {
    let tree = cargo_output(&[
        "tree",
        "--workspace",
        "--all-features",
        "--edges",
        "normal,build",
        "--depth",
        "1",
        "--prefix",
        "depth",
        "--no-dedupe",
    ])?;
    let root = root();
    let edges = layers::workspace_edges(&tree, &root.to_string_lossy());
    let client = cargo_output(&[
        "tree",
        "--package",
        "virgil-cli",
        "--no-default-features",
        "--edges",
        "normal",
        "--prefix",
        "none",
    ])?;
    let mut problems = layers::layer_violations(&edges);
    problems.extend(layers::client_violations(&client));
    if problems.is_empty() {
        println!(
            "layers: {} edges between {} crates go down the crate map; the virgil binary without `server` links no server",
            edges.len(),
            layers::LAYERS.len()
        );
        Ok(())
    } else {
        for problem in &problems {
            eprintln!("layers: {problem}");
        }
        Err(format!("{} layering problem(s)", problems.len()))
    }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut seconds: u64 = 60;
    let mut sanitizer = "address";
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--no-sanitizer" => sanitizer = "none",
            "--seconds" => {
                let value = iter.next().ok_or("`--seconds` needs a number")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("`--seconds {value}`: not a whole number of seconds"))?;
            }
            flag if flag.starts_with('-') => {
                return Err(format!("`fuzz` does not take `{flag}`\n\n{USAGE}"));
            }
            name => target = Some(name.to_owned()),
        }
    }
    if !has_nightly() {
        return Err(
            "cargo fuzz needs a nightly toolchain: rustup toolchain install nightly".into(),
        );
    }
    if !succeeds(&mut cargo_nightly(&["fuzz", "--version"])) {
        println!("==> installing cargo-fuzz (cargo install --locked cargo-fuzz)");
        run(&mut cargo(&["install", "--locked", "cargo-fuzz"]))?;
    }
    let targets = match target {
        Some(target) => vec![target],
        None => list_fuzz_targets()?,
    };
    let max_time = format!("-max_total_time={seconds}");
    for target in targets {
        println!("\n==> fuzzing `{target}` for {seconds}s");
        let mut command = cargo_nightly(&[
            "fuzz",
            "run",
            "--sanitizer",
            sanitizer,
            &target,
            "--",
            &max_time,
        ]);
        command.current_dir(root().join("fuzz"));
        run(&mut command)?;
    }
    Ok(())
}

fn list_fuzz_targets() -> Result<Vec<String>, String> {
    let dir = root().join("fuzz").join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut targets: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    targets.sort();
    Ok(targets)
}

fn bench(args: &[String]) -> Result<(), String> {
    let mut command = cargo(&["bench"]);
    if !args
        .iter()
        .any(|arg| arg == "-p" || arg.starts_with("--package"))
    {
        command.arg("--workspace");
    }
    command.args(args);
    run(&mut command)
}

/// Writes the manual pages the `virgil` binary renders into docs/man/, replacing the
/// old ones (so removed commands lose their page).
fn man() -> Result<(), String> {
    let dir = root().join("docs/man");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    let mut command = cargo(&["run", "--quiet", "-p", "virgil-cli", "--", "man", "--dir"]);
    command.arg(&dir);
    run(&mut command)
}

/// The target directory cargo builds into (where the Python virtualenv and wheel go too).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

/// `python3` if it is CPython >= 3.9 (the SDK's abi3 floor), else what is missing.
fn python3() -> Result<&'static str, String> {
    let version_ok = Command::new("python3")
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)",
        ])
        .status();
    match version_ok {
        Ok(status) if status.success() => Ok("python3"),
        Ok(_) => Err("CPython >= 3.9 as `python3` (found an older one)".into()),
        Err(_) => Err("CPython >= 3.9 as `python3` on PATH (not found)".into()),
    }
}

/// Builds the Python SDK's wheel with maturin, installs it into a fresh virtualenv and
/// runs the pytest suite (crates/virgil-py/tests) against servers started from the
/// debug `virgil` binary. `--release` builds an optimised wheel; other `args` go to pytest.
fn python(args: &[String]) -> Result<(), String> {
    let release = args.iter().any(|arg| arg == "--release");
    let wheel_only = args.iter().any(|arg| arg == "--wheel");
    let args: Vec<&String> = args
        .iter()
        .filter(|arg| *arg != "--release" && *arg != "--wheel")
        .collect();
    let python = python3()?;
    let target = target_dir();
    let venv = target.join("python-venv");
    let wheels = target.join("python-wheels");
    let package = root().join("crates").join("virgil-py");
    let bin = venv.join("bin");

    // A fresh virtualenv each run: what is tested is exactly `pip install <wheel>`.
    println!("==> a fresh virtualenv in {}", venv.display());
    run(Command::new(python)
        .args(["-m", "venv", "--clear"])
        .arg(&venv))?;
    run(Command::new(bin.join("python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "maturin>=1.9,<2",
        "pytest>=7",
        // tests/test_types.py: the stubs against the module (stubtest), the example.
        "mypy>=1.11",
    ]))?;

    // The dev profile optimises every dependency (Cargo.toml), so the debug wheel tests
    // at near-release speed and reuses what the Rust tests built.
    let profile = if release { "release" } else { "dev" };
    println!("==> building the wheel (maturin build --profile {profile})");
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels)
            .map_err(|e| format!("cannot clear {}: {e}", wheels.display()))?;
    }
    let mut build = Command::new(bin.join("maturin"));
    build
        .args(["build", "--profile", profile, "--quiet", "--out"])
        .arg(&wheels)
        .current_dir(&package)
        .env("CARGO_TARGET_DIR", &target);
    run(&mut build)?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| format!("maturin left no wheel in {}", wheels.display()))?;
    if wheel_only {
        println!("==> the wheel: {}", wheel.display());
        println!(
            "    install it with: python3 -m pip install {}",
            wheel.display()
        );
        return Ok(());
    }
    run(Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-index",
        ])
        .arg(&wheel))?;

    // The servers the tests start, and the CLI the interop tests run.
    println!("==> the `virgil` binary the tests run");
    // Built as the test step builds it (dev-dependencies unify features), so after that
    // step this is a no-op.
    run(&mut cargo(&[
        "test",
        "--workspace",
        "--all-features",
        "--no-run",
        "--quiet",
    ]))?;
    let virgil = target.join("debug").join("virgil");

    println!("==> pytest");
    let mut pytest = Command::new(bin.join("python"));
    pytest
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        .args(args)
        .current_dir(&package)
        .env("VIRGIL_BIN", &virgil)
        // Import the installed wheel, never the source tree's `python/` folder.
        .env_remove("PYTHONPATH");
    run(&mut pytest)
}

fn run(command: &mut Command) -> Result<(), String> {
    println!("    $ {}", describe(command));
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`{}` failed ({status})", describe(command))),
        Err(e) => Err(format!("could not start `{}`: {e}", describe(command))),
    }
}

#[cfg(test)]
mod tests {
    use super::passed_summary;

    #[test]
    fn a_skipped_step_is_never_all_steps_passed() {
        assert_eq!(passed_summary(9, 0, 0), "all 9 steps passed");
        let skipped = passed_summary(8, 1, 0);
        assert!(!skipped.contains("all"), "{skipped}");
        assert!(skipped.contains("1 skipped"), "{skipped}");
        let tests = passed_summary(9, 0, 2);
        assert!(tests.contains("2 tests skipped"), "{tests}");
    }
}
