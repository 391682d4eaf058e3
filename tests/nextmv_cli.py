"""The official Nextmv CLI (nextmv 1.13.0) in a subprocess, pointed at a TLS emulator as a user
would point it (tests/emulator/test_nextmv_cli.py says why HTTPS and these variables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from asyncrun.emulator import ThreadedEmulator


class NextmvCLI:
    """`nextmv ...` in a subprocess with its own HOME and the emulator's CA trusted; each call
    bounded by `timeout` seconds."""

    def __init__(self, home: Path, ca_file: Path, cwd: Path, *, timeout: float) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTMV_")}
        self.env.update(
            HOME=str(home),
            REQUESTS_CA_BUNDLE=str(ca_file),
            SSL_CERT_FILE=str(ca_file),
            COLUMNS="200",
            NO_COLOR="1",
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nextmv.cli.main", *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"nextmv {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args))


def configured_cli(emu: ThreadedEmulator, tmp_path: Path, *, key: str, timeout: float) -> NextmvCLI:
    """The CLI with a profile for the emulator (`nextmv configuration create`), run in
    tmp_path with HOME at tmp_path/home."""
    assert emu.ca_file is not None
    home = tmp_path / "home"
    home.mkdir()
    cli = NextmvCLI(home, emu.ca_file, tmp_path, timeout=timeout)
    endpoint = f"127.0.0.1:{emu.port}"
    cli.ok("configuration", "create", "--api-key", key, "--endpoint", endpoint)
    assert endpoint in (home / ".nextmv" / "config.yaml").read_text()
    return cli
