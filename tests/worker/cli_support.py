"""Run the `reisplan` CLI as a user would: a separate process, configured by environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env(tmp_path: Path, **settings: object) -> dict[str, str]:
    """The caller's environment without any REISPLAN_ setting of its own, plus `settings`
    (keyword `api_port=...` becomes REISPLAN_API_PORT)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REISPLAN_")}
    env["PYTHONPATH"] = str(ROOT)  # also when the project is not pip-installed
    env["PYTHONUNBUFFERED"] = "1"
    env["REISPLAN_DATA_DIR"] = str(tmp_path / "data")
    env["REISPLAN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'data' / 'reisplan.db'}"
    for key, value in settings.items():
        env[f"REISPLAN_{key.upper()}"] = str(value)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "worker.cli", *args]


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before port {port}")
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on port {port} after {timeout} s")
        time.sleep(0.1)
