"""Fixtures: one real deployment (virgil.local.LocalDeployment: `virgil init`, then the
cards service and the app server from the built `virgil` binary on 127.0.0.1, in a
temporary directory) shared by the session; every test makes its own uniquely named
users on it.

The binary is $VIRGIL_BIN (`cargo xtask python` sets it), else `virgil` on PATH.
"""

import os
import subprocess
from typing import Literal

import pytest

from virgil.local import LocalDeployment

PASSWORD = "account password"
KEY_PASSWORD = "key password"


class Deployment(LocalDeployment):
    """LocalDeployment plus the shortcuts the tests share."""

    def name(self, who: str) -> str:
        return self.unique_name(who)

    def user(self, who: str, suite: Literal["classic", "pq"] = "classic", **options):
        """A registered, logged-in user with a saved key (of `suite`) and a published
        card, on its own device (named like the user): (device, key, published card, name)."""
        name = self.name(who)
        device = self.device(name, **options)
        device.account.register(name, PASSWORD)
        device.account.login(name, PASSWORD)
        key = device.keys.generate(suite)
        key.save(name, KEY_PASSWORD)
        card = device.account.publish_card(
            device.cards.create(device.identities.create_user(name), key))
        return device, key, card, name

    def cli(self, device: str, *args: str, input: bytes = b"", check: bool = True):
        """Runs the `virgil` CLI as `device` (its keys are the Python device's keys)."""
        env = self.cli_env(device, VIRGIL_PASSWORD=KEY_PASSWORD,
                           VIRGIL_ACCOUNT_PASSWORD=PASSWORD)
        result = subprocess.run([self.binary, *args], env=env, input=input,
                                capture_output=True)
        if check and result.returncode != 0:
            raise AssertionError(f"virgil {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stderr.decode(errors='replace')}")
        return result


@pytest.fixture(scope="session")
def deployment(tmp_path_factory):
    with Deployment(tmp_path_factory.mktemp("deployment")) as deployment:
        yield deployment


def _record_skip(report) -> None:
    """A skipped test or module, with its reason, also goes to the file `cargo xtask
    ci` names in $VIRGIL_TEST_SKIPS, so its summary counts it like the Rust tests'."""
    path = os.environ.get("VIRGIL_TEST_SKIPS")
    if not path or not report.skipped:
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    with open(path, "a", encoding="utf-8") as skips:
        skips.write(f"skipped: virgil-py {report.nodeid}: {reason}\n")


def pytest_runtest_logreport(report):
    _record_skip(report)


def pytest_collectreport(report):
    _record_skip(report)
