"""`asyncrun emulator --tls --rtt --ca-out` as a user starts it, and its refusals."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

from .conftest import cli_env, run_cli


def test_tls_with_a_round_trip_writes_its_ca_and_serves_https(tmp_path: Path) -> None:
    ca_out = tmp_path / "ca.pem"
    flags = ["--port", "0", "--tls", "--rtt", "5", "--ca-out", str(ca_out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncrun", "emulator", *flags],
        env=cli_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        url = lines[0].split(" listening on ")[1].split()[0]
        assert url.startswith("https://127.0.0.1:")
        assert "round trip 5 ms" in lines[1]
        assert f"CA certificate: {ca_out}" in lines[2]
        context = ssl.create_default_context(cafile=str(ca_out))
        with urllib.request.urlopen(f"{url}/_emulator/stats", context=context, timeout=30) as r:
            stats = json.load(r)
        assert stats["connections"]["tls_handshakes"] == 1
        assert stats["proxy"]["connections"] == 1
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_refuses_settings_that_do_not_fit(tmp_path: Path) -> None:
    half = run_cli(["emulator", "--cert", str(tmp_path / "c.pem")], tmp_path)
    assert half.returncode == 2
    assert "go together" in half.stderr
    ca_out = run_cli(["emulator", "--ca-out", str(tmp_path / "ca.pem")], tmp_path)
    assert ca_out.returncode == 2
    assert "--ca-out" in ca_out.stderr
    unreadable = run_cli(
        ["emulator", "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "k.pem")],
        tmp_path,
    )
    assert unreadable.returncode == 2
    assert "cannot load the certificate" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr
