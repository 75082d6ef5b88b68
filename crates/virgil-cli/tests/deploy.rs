//! deploy/'s compose file and systemd units, run as written on this machine.
//!
//! Docker and systemd are not on these machines (and the tests do not run as root), so
//! each test does what the container runtime or systemd would, from the files alone:
//! it runs the set-up commands the file's header gives (`virgil init …`, the
//! environment file), puts the deployment directory where the container or unit sees
//! it (the compose volume's target, `/etc/virgil`), made read-only as the `:ro` mount
//! and `ProtectSystem=strict` make it, and starts each server with its own command line
//! (compose `entrypoint` + `command`; `ExecStart=`), its environment (compose
//! `environment:`; `Environment=` and `EnvironmentFile=`) and working directory. Paths
//! under `/etc/virgil`, `/var/lib/virgil` and `/usr/local/bin` are mapped into a
//! temporary root, the ports to free ones, the compose network's `cards` host to
//! localhost and its PostgreSQL to the test database; nothing else is changed. Then the
//! healthcheck's own command must say healthy, and the walkthrough (keys, register,
//! log in, publish, send, read) must work against the servers.
//!
//! What this cannot prove: the image build, container networking and volumes, systemd's
//! sandbox and the user, group and ownership commands (they need root; they are
//! skipped and named in the output).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use virgil_testkit::process::ServerProcess;

const BIN: &str = env!("CARGO_BIN_EXE_virgil");
const SERVICE_KEY_PASSWORD: &str = "service key password 1";
const APP_KEY_PASSWORD: &str = "app key password 1";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Where the server binaries are: beside `virgil` (a workspace build, as `cargo xtask
/// ci` runs, builds them all).
fn binaries() -> PathBuf {
    let dir = Path::new(BIN).parent().unwrap().to_path_buf();
    for server in ["virgil-cards-service", "virgil-app-server"] {
        assert!(
            dir.join(server).is_file(),
            "{server} is not built beside virgil: run the tests of the workspace (cargo xtask ci), or cargo build -p {server} first"
        );
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The machine the files are run on: a temporary root with the paths they name, free
/// ports for 8080 and 8081, and what else must be mapped.
struct Machine {
    dir: tempfile::TempDir,
    cards_port: u16,
    app_port: u16,
    /// Further (from, to) replacements.
    also: Vec<(String, String)>,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["repo/deploy", "etc", "var/lib", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Self {
            dir,
            cards_port: free_port(),
            app_port: free_port(),
            also: Vec::new(),
        }
    }

    fn path(&self, path: &str) -> PathBuf {
        self.dir.path().join(path.trim_start_matches('/'))
    }

    /// `text` from a deploy file as it reads on this machine.
    fn map(&self, text: &str) -> String {
        let root = self.dir.path().display().to_string();
        let mut text = text
            .replace("/etc/virgil", &format!("{root}/etc/virgil"))
            .replace("/var/lib/virgil", &format!("{root}/var/lib/virgil"))
            .replace("/usr/local/bin/", &format!("{}/", binaries().display()))
            .replace(":8080", &format!(":{}", self.cards_port))
            .replace(":8081", &format!(":{}", self.app_port))
            .replace("${VIRGIL_SERVICE_KEY_PASSWORD}", SERVICE_KEY_PASSWORD)
            .replace("${VIRGIL_APP_KEY_PASSWORD}", APP_KEY_PASSWORD);
        for (from, to) in &self.also {
            text = text.replace(from, to);
        }
        text
    }

    /// Runs a set-up line from a file's header with bash, in `cwd`, with both key
    /// passwords set and the built binaries first on PATH. Lines that need root or
    /// docker are skipped, and said so.
    fn set_up(&self, line: &str, cwd: &Path) {
        let needs = ["useradd", "chgrp", "chown", "docker", "export"];
        if let Some(tool) = needs.iter().find(|tool| line.starts_with(*tool)) {
            eprintln!("not run here ({tool}: root or docker): {line}");
            return;
        }
        let line = self.map(line);
        let path = format!(
            "{}:{}",
            binaries().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("bash")
            .args(["-euc", &line])
            .current_dir(cwd)
            .env("PATH", path)
            .env("VIRGIL_SERVICE_KEY_PASSWORD", SERVICE_KEY_PASSWORD)
            .env("VIRGIL_APP_KEY_PASSWORD", APP_KEY_PASSWORD)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts `program args` with exactly `env` added, in `cwd`.
    fn start(
        &self,
        program: &str,
        args: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
    ) -> ServerProcess {
        let program = if program.contains('/') {
            PathBuf::from(program)
        } else {
            binaries().join(program)
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env)
            .env_remove("VIRGIL_CONFIG")
            .env("RUST_LOG", "warn")
            .current_dir(cwd);
        ServerProcess::start(command)
    }

    /// Runs a healthcheck command (`virgil-… health …`) with the server's environment;
    /// it must exit 0 and say "ok".
    fn healthy(&self, command: &[String], env: &BTreeMap<String, String>) {
        let output = Command::new(binaries().join(&command[0]))
            .args(&command[1..])
            .envs(env)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("\"ok\""),
            "{command:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The walkthrough against the servers, as two users of `client_toml`.
    fn walkthrough(&self, client_toml: &Path) {
        let run = |user: &str, args: &[&str], input: &[u8]| {
            let mut child = Command::new(BIN)
                .args(args)
                .env("VIRGIL_HOME", self.path(&format!("home/{user}")))
                .env("VIRGIL_CONFIG", client_toml)
                .env("VIRGIL_PASSWORD", "key password 1")
                .env("VIRGIL_ACCOUNT_PASSWORD", "account password 1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(input).unwrap();
            }
            let output = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(
                output.status.success(),
                "virgil {args:?} as {user}: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            stdout
        };
        for user in ["alice", "bob"] {
            run(user, &["key", "generate", user], b"");
            run(user, &["register", user], b"");
            run(user, &["login", user], b"");
            assert!(run(user, &["card", "publish"], b"").contains("approved and published"));
        }
        run("alice", &["send", "bob"], b"Hey Bob, how's it going?");
        let inbox = run("bob", &["inbox"], b"");
        assert!(inbox.contains("Hey Bob, how's it going?"), "{inbox}");
    }

    /// Makes `dir` read-only (a `:ro` mount, `ProtectSystem=strict`'s /etc) until the
    /// machine is dropped.
    fn read_only(&self, dir: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        let etc = self.path("etc/virgil");
        let _ = std::fs::set_permissions(etc, std::fs::Permissions::from_mode(0o755));
    }
}

/// A file's set-up lines: the indented commands (`#   …`) of its header comment.
fn set_up_lines(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("#   "))
        .map(|line| line.trim().to_owned())
        .collect()
}

/// One service of compose.yaml: its `entrypoint` + `command`, `environment`, the
/// volume's `source:target`, and the healthcheck's command (without "CMD").
struct ComposeService {
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    volume: String,
    healthcheck: Vec<String>,
}

/// The service `name` of compose.yaml (the simple YAML this file is written in: flow
/// sequences of double-quoted strings, which are JSON, and `KEY: value` maps).
fn compose_service(text: &str, name: &str) -> ComposeService {
    let header = format!("  {name}:");
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with("   "))
        .collect();
    let list = |key: &str| -> Vec<String> {
        lines
            .iter()
            .find_map(|line| line.trim().strip_prefix(key))
            .map(|value| serde_json::from_str(value.trim()).unwrap())
            .unwrap_or_default()
    };
    let mut command = list("entrypoint:");
    command.extend(list("command:"));
    let mut environment = BTreeMap::new();
    let mut in_environment = false;
    let mut volume = String::new();
    let mut in_volumes = false;
    for line in &lines {
        if line.starts_with("    ") && !line.starts_with("     ") {
            in_environment = line.trim() == "environment:";
            in_volumes = line.trim() == "volumes:";
            continue;
        }
        if in_environment && let Some((key, value)) = line.trim().split_once(": ") {
            environment.insert(key.to_owned(), value.to_owned());
        }
        if in_volumes && let Some(source) = line.trim().strip_prefix("- ") {
            volume = source.to_owned();
        }
    }
    let mut healthcheck = list("test:");
    assert_eq!(
        healthcheck.first().map(String::as_str),
        Some("CMD"),
        "{name}"
    );
    healthcheck.remove(0);
    assert!(!command.is_empty() && !volume.is_empty(), "{name}");
    ComposeService {
        command,
        environment,
        volume,
        healthcheck,
    }
}

/// deploy/compose.yaml: init as its header says, the directory mounted where the
/// containers see it, both servers on PostgreSQL as the file starts them, healthy by
/// their healthchecks, and the walkthrough through them.
#[test]
fn the_compose_file_runs_as_written() {
    let Some(database) = virgil_testkit::postgres::TempPostgres::or_skip(concat!(
        module_path!(),
        "::the_compose_file_runs_as_written"
    )) else {
        return;
    };
    let text = std::fs::read_to_string(root().join("deploy/compose.yaml")).unwrap();
    let mut machine = Machine::new();
    machine.also = vec![
        (
            "postgres://virgil:virgil@postgres/virgil".to_owned(),
            database.url().to_owned(),
        ),
        // The compose network's name of the cards service.
        ("https://cards:".to_owned(), "https://localhost:".to_owned()),
    ];
    let repo = machine.path("repo");
    let lines = set_up_lines(&text);
    assert!(
        lines.iter().any(|line| line.starts_with("virgil init")),
        "{lines:?}"
    );
    for line in &lines {
        machine.set_up(line, &repo);
    }
    let cards = compose_service(&text, "cards");
    let app = compose_service(&text, "app");
    // The volume: SOURCE (relative to deploy/) at TARGET, read-only.
    let mount = |volume: &str| -> (PathBuf, String) {
        let mut parts = volume.split(':');
        let source = parts.next().unwrap();
        let target = parts.next().unwrap();
        assert_eq!(parts.next(), Some("ro"), "{volume}");
        (repo.join("deploy").join(source), target.to_owned())
    };
    let (source, target) = mount(&cards.volume);
    assert_eq!(mount(&app.volume), (source.clone(), target.clone()));
    let target = PathBuf::from(machine.map(&target));
    std::fs::rename(&source, &target).unwrap();
    machine.read_only(&target);
    // No file init wrote names the directory it was made in.
    for entry in std::fs::read_dir(&target).unwrap() {
        let path = entry.unwrap().path();
        if let Ok(content) = std::fs::read_to_string(&path) {
            assert!(
                !content.contains(&source.display().to_string()),
                "{} names where init ran",
                path.display()
            );
        }
    }

    let env = |service: &ComposeService| -> BTreeMap<String, String> {
        service
            .environment
            .iter()
            .map(|(key, value)| (key.clone(), machine.map(value)))
            .collect()
    };
    let args = |service: &ComposeService| -> Vec<String> {
        service.command[1..]
            .iter()
            .map(|arg| machine.map(arg))
            .collect()
    };
    let health = |service: &ComposeService| -> Vec<String> {
        service
            .healthcheck
            .iter()
            .map(|arg| machine.map(arg))
            .collect()
    };
    // The image's WORKDIR.
    let workdir = machine.path("var/lib/virgil");
    std::fs::create_dir_all(&workdir).unwrap();
    let _cards = machine.start(&cards.command[0], &args(&cards), &env(&cards), &workdir);
    machine.healthy(&health(&cards), &env(&cards));
    let _app = machine.start(&app.command[0], &args(&app), &env(&app), &workdir);
    machine.healthy(&health(&app), &env(&app));
    machine.walkthrough(&target.join("client.toml"));
}

/// One systemd unit's `ExecStart=` (split on spaces), `Environment=` and
/// `EnvironmentFile=` (as KEY=VALUE lines), `WorkingDirectory=` and `StateDirectory=`.
struct Unit {
    exec_start: Vec<String>,
    environment: BTreeMap<String, String>,
    environment_file: String,
    working_directory: String,
    state_directory: String,
}

fn unit(text: &str) -> Unit {
    let value = |key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| line.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
            .collect()
    };
    let one = |key: &str| -> String {
        let values = value(key);
        assert_eq!(values.len(), 1, "{key}");
        values[0].clone()
    };
    Unit {
        exec_start: one("ExecStart").split(' ').map(str::to_owned).collect(),
        environment: value("Environment")
            .iter()
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap();
                (key.to_owned(), value.to_owned())
            })
            .collect(),
        environment_file: one("EnvironmentFile"),
        working_directory: one("WorkingDirectory"),
        state_directory: one("StateDirectory"),
    }
}

/// deploy/*.service: set up as their headers say, each server started by its
/// `ExecStart=` with its environment, in its working directory, with /etc/virgil
/// read-only; the databases land in the state directory; healthy; the walkthrough.
#[test]
fn the_systemd_units_run_as_written() {
    let machine = Machine::new();
    let mut servers = Vec::new();
    let mut units = Vec::new();
    for name in ["virgil-cards-service", "virgil-app-server"] {
        let text = std::fs::read_to_string(root().join(format!("deploy/{name}.service"))).unwrap();
        for line in set_up_lines(&text) {
            machine.set_up(&line, &machine.path("/"));
        }
        units.push(unit(&text));
    }
    let etc = machine.path("etc/virgil");
    assert!(etc.join("cards.toml").is_file() && etc.join("app.env").is_file());
    // init's default ports, in the files it wrote, to free ones.
    for file in ["cards.toml", "app.toml", "client.toml"] {
        let text = std::fs::read_to_string(etc.join(file)).unwrap();
        let text = text
            .replace(":8080", &format!(":{}", machine.cards_port))
            .replace(":8081", &format!(":{}", machine.app_port));
        std::fs::write(etc.join(file), text).unwrap();
    }
    machine.read_only(&etc);
    for unit in &units {
        // systemd makes the state directory.
        assert_eq!(unit.state_directory, "virgil");
        std::fs::create_dir_all(machine.path(&format!("var/lib/{}", unit.state_directory)))
            .unwrap();
        let mut env: BTreeMap<String, String> = unit
            .environment
            .iter()
            .map(|(key, value)| (key.clone(), machine.map(value)))
            .collect();
        let file = std::fs::read_to_string(machine.map(&unit.environment_file)).unwrap();
        for line in file.lines().filter(|line| !line.trim().is_empty()) {
            let (key, value) = line.split_once('=').unwrap();
            env.insert(key.to_owned(), value.to_owned());
        }
        let command: Vec<String> = unit.exec_start.iter().map(|arg| machine.map(arg)).collect();
        let cwd = PathBuf::from(machine.map(&unit.working_directory));
        servers.push(machine.start(&command[0], &command[1..], &env, &cwd));
        // The health command, over the same configuration.
        let program = Path::new(&command[0])
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let mut health = vec![program.to_owned(), "health".to_owned()];
        health.extend(command[2..].iter().cloned());
        machine.healthy(&health, &env);
    }
    // The health check accepts only the server its configuration describes: with
    // another deployment's certificate it says so and fails.
    let other = machine.path("other");
    let init = Command::new(BIN)
        .args(["init", "--unprotected", "--dir"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(init.status.success());
    let output = Command::new(binaries().join("virgil-cards-service"))
        .arg("health")
        .arg("--config")
        .arg(etc.join("cards.toml"))
        .arg("--tls-cert")
        .arg(other.join("tls.pem"))
        .arg("--tls-key")
        .arg(other.join("tls.key"))
        .env(
            "VIRGIL_CARDS_LISTEN",
            format!("127.0.0.1:{}", machine.cards_port),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("another certificate"),
        "{stderr}"
    );
    for db in ["cards.db", "app.db"] {
        assert!(machine.path("var/lib/virgil").join(db).is_file(), "{db}");
    }
    machine.walkthrough(&etc.join("client.toml"));
}
