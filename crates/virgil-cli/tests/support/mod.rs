//! What the CLI's integration tests share: a deployment made by `virgil init` and run
//! by `virgil serve`, and each user's `virgil` as its own process with its own home.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use virgil_testkit::process::ServerProcess;

pub const BIN: &str = env!("CARGO_BIN_EXE_virgil");
pub const KEY_PASSWORD: &str = "key password 1";
pub const ACCOUNT_PASSWORD: &str = "account password 1";

/// A server started with `virgil serve …`, stopped with SIGTERM (must exit 0).
pub fn serve(args: &[&str]) -> ServerProcess {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("VIRGIL_CONFIG");
    ServerProcess::start(command)
}

/// A deployment made by `virgil init` and run by `virgil serve`.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub client_config: PathBuf,
    _cards: ServerProcess,
    _app: ServerProcess,
}

impl Deployment {
    pub fn start() -> Self {
        Self::start_with_reset_delay(0)
    }

    /// With the cards service's `reset_delay_seconds` set in the config `init` wrote.
    pub fn start_with_reset_delay(seconds: u64) -> Self {
        Self::start_configured(seconds, "")
    }

    /// With `extra` appended to the cards service's config (e.g. a `[backup]` table).
    pub fn start_with_cards_config(extra: &str) -> Self {
        Self::start_configured(0, extra)
    }

    fn start_configured(seconds: u64, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local");
        let init = Command::new(BIN)
            .args(["init", "--unprotected", "--app-id", "chat", "--dir"])
            .arg(&local)
            .output()
            .unwrap();
        assert!(init.status.success(), "{}", text(&init.stderr));
        assert!(text(&init.stdout).contains("virgil serve cards --config"));
        let again = Command::new(BIN)
            .args(["init", "--unprotected", "--dir"])
            .arg(&local)
            .output()
            .unwrap();
        assert!(!again.status.success(), "init never overwrites");

        let cards_toml = local.join("cards.toml");
        let written = std::fs::read_to_string(&cards_toml).unwrap();
        // `init` writes the production delay (a day); the tests choose their own.
        assert!(written.contains("reset_delay_seconds = 86400"), "{written}");
        std::fs::write(
            &cards_toml,
            written.replace(
                "reset_delay_seconds = 86400",
                &format!("reset_delay_seconds = {seconds}"),
            ) + extra,
        )
        .unwrap();
        let cards = serve(&[
            "cards",
            "--config",
            cards_toml.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        let app_toml = local.join("app.toml");
        let app = serve(&[
            "app",
            "--config",
            app_toml.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--cards-url",
            &cards.url,
            "--password-iterations",
            "1000",
        ]);
        // The ports were picked at start; point the CLI's configuration at them.
        let client_config = local.join("client.toml");
        let mut config: toml::Table =
            toml::from_str(&std::fs::read_to_string(&client_config).unwrap()).unwrap();
        config.insert("cards_url".into(), cards.url.clone().into());
        config.insert("app_url".into(), app.url.clone().into());
        std::fs::write(&client_config, toml::to_string(&config).unwrap()).unwrap();
        Self {
            dir,
            client_config,
            _cards: cards,
            _app: app,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `virgil ARGS` as `user` without waiting: stdout piped, stdin empty.
    pub fn spawn_as(&self, user: &str, args: &[&str]) -> std::process::Child {
        let mut command = self.command(user, args);
        command.stdin(Stdio::null());
        command.spawn().unwrap()
    }

    fn command(&self, user: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("VIRGIL_HOME", self.path(user))
            .env("VIRGIL_CONFIG", &self.client_config)
            .env("VIRGIL_PASSWORD", KEY_PASSWORD)
            .env("VIRGIL_ACCOUNT_PASSWORD", ACCOUNT_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `virgil ARGS` as `user` (home `<dir>/<user>`), with `stdin` as input.
    pub fn run_as(&self, user: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut command = self.command(user, args);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().unwrap();
        {
            use std::io::Write as _;
            let mut input = child.stdin.take().unwrap();
            input.write_all(stdin.unwrap_or_default()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, user: &str, args: &[&str]) -> String {
        self.ok_with(user, args, None)
    }

    pub fn ok_with(&self, user: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
        let output = self.run_as(user, args, stdin);
        assert!(
            output.status.success(),
            "`virgil {}` as {user} failed ({:?}):\n{}",
            args.join(" "),
            output.status.code(),
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Runs and expects exit code `code`; returns stderr (one line, `virgil: …`).
    pub fn fails(&self, user: &str, args: &[&str], code: i32) -> String {
        self.fails_with(user, args, None, code)
    }

    pub fn fails_with(&self, user: &str, args: &[&str], stdin: Option<&[u8]>, code: i32) -> String {
        let output = self.run_as(user, args, stdin);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(code),
            "`virgil {}` as {user}: stdout {} stderr {stderr}",
            args.join(" "),
            text(&output.stdout)
        );
        assert!(stderr.starts_with("virgil: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    /// Creates the user's key, account, login and published card.
    pub fn onboard(&self, user: &str) {
        assert!(
            self.ok(user, &["key", "generate", user])
                .contains("created")
        );
        self.ok(user, &["register", user]);
        self.ok(user, &["login", user]);
        assert!(
            self.ok(user, &["card", "publish"])
                .contains("approved and published")
        );
    }

    pub fn session(&self, user: &str) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.path(user).join("session.json")).unwrap(),
        )
        .unwrap()
    }

    pub fn set_session(&self, user: &str, session: &serde_json::Value) {
        std::fs::write(
            self.path(user).join("session.json"),
            serde_json::to_vec(session).unwrap(),
        )
        .unwrap();
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
