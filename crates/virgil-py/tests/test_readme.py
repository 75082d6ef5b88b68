"""The README's Python block, run as written: after the README's shell walkthrough (run by
bash as written, with the built `virgil` first on PATH and free ports), in the same
directory, while its servers still run. Bob then reads what the block encrypted."""

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()


def block(marker: str, language: str) -> str:
    inside = README.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
    return re.search(rf"```{language}\n(.*?)```", inside, flags=re.S).group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_python_block_runs_after_the_walkthrough(tmp_path):
    binary = os.environ.get("VIRGIL_BIN") or shutil.which("virgil")
    assert binary, "set VIRGIL_BIN (cargo xtask python does) or put virgil on PATH"
    snippet = block("python", "python")
    # What the block leaves in `cipher_text`, checked after it: Bob decrypts and verifies.
    check = (
        "\nbob = Virgil.from_config('local/client.toml', key_dir='bob/keys')\n"
        "bob.account.login('bob', 'account password')\n"
        "bob_key = bob.keys.load('bob', 'key password')\n"
        "alice_card = bob.cards.find('alice')\n"
        "message = bob_key.decrypt_then_verify(VirgilBuffer.from_string(cipher_text, 'base64'), alice_card)\n"
        "print('bob read:', message.to_string())\n"
    )
    (tmp_path / "readme.py").write_text(snippet + check)
    script = block("walkthrough", "sh") + f'\n"{sys.executable}" readme.py\n'
    env = dict(os.environ)
    for name in [k for k in env if k.startswith("VIRGIL_")]:
        del env[name]
    env.update(
        HOME=str(tmp_path / "home"),
        PATH=f"{Path(binary).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        CARDS_PORT=str(free_port()),
        APP_PORT=str(free_port()),
    )
    result = subprocess.run(["bash", "-euc", script], cwd=tmp_path, env=env,
                            capture_output=True, timeout=300)
    out = result.stdout.decode(errors="replace")
    err = result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"{out}\n{err}"
    assert "bob read: Hey Bob" in out, out
