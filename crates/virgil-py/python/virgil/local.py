"""A local deployment for development and tests: ``virgil init``, then the cards service
and the application server from the ``virgil`` binary, on 127.0.0.1, in a temporary
directory (SQLite, no TLS, unprotected server keys: never for production; see
docs/deployment.md for that).

>>> from virgil.local import LocalDeployment
>>> with LocalDeployment() as local:              # doctest: +SKIP
...     alice = local.device("alice")              # a Virgil for Alice's device
...     alice.account.register("alice", "a long account password")

The binary is ``binary=``, else ``$VIRGIL_BIN``, else ``virgil`` on ``PATH``, else the
workspace's ``target/debug/virgil`` (``cargo build -p virgil-cli`` builds it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional, Union

from ._native import Virgil

__all__ = ["LocalDeployment", "find_virgil_binary"]

PathLike = Union[str, "os.PathLike[str]"]


def find_virgil_binary(binary: Optional[PathLike] = None) -> str:
    """The ``virgil`` CLI to run, or :class:`FileNotFoundError` saying how to get one."""
    candidates = [binary, os.environ.get("VIRGIL_BIN"), shutil.which("virgil")]
    here = Path(__file__).resolve()
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        candidates.append(Path(target) / "debug" / "virgil")
    candidates += [parent / "target" / "debug" / "virgil" for parent in here.parents]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        "no `virgil` binary: build it with `cargo build -p virgil-cli` in the virgil-rs "
        "workspace, or set VIRGIL_BIN to its path"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalDeployment:
    """The servers of one ``virgil init`` deployment, started on free loopback ports.

    Use it as a context manager (the servers stop and the temporary directory goes away
    on exit), or call :meth:`stop` yourself. ``reset_delay`` is the cards service's
    ``reset_delay_seconds``: 0 by default here, as in ``virgil demo``, so a reset takes
    effect at once (``virgil init`` writes a day, as production wants).
    """

    def __init__(self, directory: Optional[PathLike] = None,
                 binary: Optional[PathLike] = None, startup_timeout: float = 60.0,
                 reset_delay: int = 0):
        self.binary = find_virgil_binary(binary)
        self._temporary = None
        if directory is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="virgil-local-")
            directory = self._temporary.name
        self.root = Path(directory)
        self.dir = self.root / "local"
        self.client_toml = self.dir / "client.toml"
        self._processes = []
        subprocess.run(
            [self.binary, "init", "--dir", str(self.dir), "--unprotected",
             "--cards-listen", f"127.0.0.1:{_free_port()}",
             "--app-listen", f"127.0.0.1:{_free_port()}"],
            check=True, capture_output=True,
        )
        cards_toml = self.dir / "cards.toml"
        cards_toml.write_text(cards_toml.read_text().replace(
            "reset_delay_seconds = 86400", f"reset_delay_seconds = {int(reset_delay)}"))
        try:
            for server in ("cards", "app"):
                log = self.root / f"{server}.log"
                with open(log, "wb") as out:
                    process = subprocess.Popen(
                        [self.binary, "serve", server, "--config", str(self.dir / f"{server}.toml")],
                        stdout=out, stderr=subprocess.STDOUT,
                    )
                self._processes.append((process, log))
            deadline = time.monotonic() + startup_timeout
            for process, log in self._processes:
                while b"listening on" not in log.read_bytes():
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{log.name} did not start:\n{log.read_text()}")
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> "LocalDeployment":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stops both servers (and removes the temporary directory, if this made it)."""
        for process, _ in self._processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes = []
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def unique_name(self, who: str) -> str:
        """``who`` with a random suffix, for tests that share one deployment."""
        return f"{who}-{uuid.uuid4().hex[:8]}"

    def home(self, device: str) -> Path:
        """The directory of one device (its keys are in ``home/keys``, like the CLI's)."""
        return self.root / "devices" / device

    def device(self, device: str, **options) -> Virgil:
        """A :class:`Virgil` for one device of this deployment; ``options`` go to
        :meth:`Virgil.from_config` (``contacts_file``, ``key_changes``)."""
        options.setdefault("key_dir", self.home(device) / "keys")
        return Virgil.from_config(self.client_toml, **options)

    def cli_env(self, device: str, **env: str) -> dict:
        """Environment for running the ``virgil`` CLI as that device."""
        return dict(os.environ, VIRGIL_CONFIG=str(self.client_toml),
                    VIRGIL_HOME=str(self.home(device)), **env)
