"""The type stubs (_native.pyi) match the compiled module, and the example type-checks
against them (mypy's stubtest and mypy; `cargo xtask python` installs mypy)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

if not os.environ.get("CI"):
    pytest.importorskip("mypy", reason="mypy is not installed (cargo xtask python installs it from PyPI)")

HERE = Path(__file__).resolve().parents[1]


def mypy(*args: str, cwd: Path):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_the_stubs_match_the_module(tmp_path):
    # From an empty directory, so only the installed package is seen. Disjoint bases
    # (PEP 800) are not marked: type checkers do not read them yet.
    result = mypy("mypy.stubtest", "virgil._native", "--ignore-disjoint-bases",
                  "--ignore-missing-stub", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tutorial_script_type_checks(tmp_path):
    result = mypy("mypy", "--no-incremental", "--cache-dir", str(tmp_path),
                  str(HERE / "examples" / "tutorial.py"), str(HERE / "tests" / "conftest.py"),
                  cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
