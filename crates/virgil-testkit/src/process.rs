//! Server binaries as child processes.

/// A server binary run as a child process (`… serve --listen 127.0.0.1:0 …`): started
/// when it has printed `listening on http://ADDRESS`, stopped with SIGTERM, after which
/// it must exit 0 (graceful shutdown). Dropping it stops it too.
pub struct ServerProcess {
    child: Option<std::process::Child>,
    /// The server's base URL.
    pub url: String,
}

impl ServerProcess {
    /// Spawns `command` (stdout is taken over; stderr goes to the test's, so a failing
    /// test shows the server's log) and waits for its `listening on` line.
    pub fn start(command: std::process::Command) -> Self {
        Self::start_logging_to(command, std::process::Stdio::inherit())
    }

    /// Like [`ServerProcess::start`], with the server's stderr (its log) going to
    /// `stderr`, e.g. a file the test reads afterwards.
    pub fn start_logging_to(
        mut command: std::process::Command,
        stderr: impl Into<std::process::Stdio>,
    ) -> Self {
        use std::io::BufRead as _;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn the server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        match line.trim().strip_prefix("listening on ") {
            Some(url) => Self {
                url: url.to_owned(),
                child: Some(child),
            },
            None => {
                let status = child.wait().expect("wait for the server");
                panic!("the server did not start ({status}); it printed {line:?}")
            }
        }
    }

    /// Sends `signal` (a `kill` name: `HUP`, `USR1`, …) to the server.
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signal} failed");
        }
    }

    /// SIGKILL (`kill -9`: no shutdown, nothing flushed), and waits for it to die.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM; the exit status must be success.
    pub fn stop(mut self) {
        let status = self.terminate();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let Some(mut child) = self.child.take() else {
            return std::process::ExitStatus::default();
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().expect("wait for the server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let status = self.terminate();
        if !std::thread::panicking() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
        }
    }
}
