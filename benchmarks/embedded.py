"""The embedded default, as `reisplan dev` (`make run`) runs it, for benchmarks that go
through the HTTP API: a Temporal dev server on a SQLite WAL file, a migrated SQLite
store, one `reisplan worker` process, `reisplan api` (uvicorn) as its own process, and an
SMTP sink. The sink is the harness's timing sink (benchmarks/sink.py) instead of
`reisplan mail-sink`: the same protocol for the worker, but it records when each mail
arrived instead of writing a Maildir.

Differences from `reisplan dev`, none on the path measured: the dev server runs headless
(no Web UI) on free ports, and the children's logs go to files instead of a terminal.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlmodel import Session
from temporalio.client import Client

from api.security import API_KEY_HEADER
from benchmarks import cpu, parked, workloads
from benchmarks.devserver import TUNED_PRAGMAS, DevServer, dev_server, free_port
from benchmarks.sink import TimingSink
from store.keys import Scope, create
from worker.settings import Settings

# Enough connections that an open-loop sender never waits for a free one (a request that
# waits for a connection would hide the API's latency in the harness).
HTTP_LIMITS = httpx.Limits(max_connections=500, max_keepalive_connections=100)


class ApiProcess(parked.WorkerProcess):
    """`reisplan api` in its own process: stopped like the worker, named as itself."""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the API exited with {self.process.returncode}: {self.tail()}")


@dataclass
class Stack:
    workdir: Path
    server: DevServer
    client: Client
    store: workloads.Store
    settings: Settings
    sink: TimingSink
    worker: parked.WorkerProcess
    api: ApiProcess | None
    api_url: str
    api_key: str

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={API_KEY_HEADER: self.api_key},
            limits=HTTP_LIMITS,
            timeout=httpx.Timeout(60.0),
        )

    def check_alive(self) -> None:
        self.worker.check_alive()
        if self.api is not None:
            self.api.check_alive()

    def python_pids(self) -> dict[str, int]:
        """Our own processes (to profile); the dev server is Go."""
        pids = {"worker": self.worker.pid}
        if self.api is not None:
            pids["api"] = self.api.pid
        return pids

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of each part, this process and the whole machine."""
        sample = cpu.sample(self.server.process.pid)
        used = {
            "wall": sample.wall,
            "server": sample.server,
            "worker": cpu.process_cpu(self.worker.pid),
            "harness": sample.harness,
            "machine": sample.machine,
        }
        if self.api is not None:
            used["api"] = cpu.process_cpu(self.api.pid)
        return used


def cpu_usage(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Average CPU between two `cpu_seconds()`, in % of one core; `others` is what the
    rest of the machine used (other people's work: noise)."""
    wall = max(after["wall"] - before["wall"], 1e-9)
    parts = [k for k in before if k not in ("wall", "machine")]
    used = {k: after[k] - before[k] for k in parts}
    others = max(0.0, after["machine"] - before["machine"] - sum(used.values()))
    shown = {k: round(100 * v / wall, 1) for k, v in used.items()}
    shown["others"] = round(100 * others / wall, 1)
    return shown


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _admin_key(store: workloads.Store) -> str:
    with Session(store.engine) as session:
        return create(session, name="benchmark", scopes=(Scope.admin,)).key


def _spawn_api(workdir: Path, settings: Settings, port: int) -> ApiProcess:
    """`reisplan api` as `reisplan dev` starts it, on a free port."""
    env = parked.worker_env(settings)
    env.update(REISPLAN_API_HOST="127.0.0.1", REISPLAN_API_PORT=str(port))
    log = workdir / "api.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "api"],
            cwd=parked.REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=parked._die_with_parent,
        )
    return ApiProcess(process, log)


async def _wait_api_ready(api: ApiProcess, url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
        while True:
            api.check_alive()
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API did not answer /health: {api.tail()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def embedded(workdir: Path, *, api: bool = True) -> AsyncIterator[Stack]:
    """Start everything; stop it in `reisplan dev`'s order (API and worker, then the
    sink, the dev server last) however the benchmark ends."""
    async with dev_server(workdir, TUNED_PRAGMAS) as (server, client):
        store = workloads.make_store(workdir)
        sink = TimingSink().start()
        try:
            settings = parked.bench_settings(workdir, store.url, None).model_copy(
                update={"temporal_address": server.address, "smtp_port": sink.port}
            )
            key = _admin_key(store)
            worker = parked.spawn_worker(workdir, settings)
            api_process: ApiProcess | None = None
            try:
                await parked.wait_worker_ready(worker)
                url = ""
                if api:
                    port = free_port()
                    url = f"http://127.0.0.1:{port}"
                    api_process = _spawn_api(workdir, settings, port)
                    await _wait_api_ready(api_process, url)
                yield Stack(
                    workdir, server, client, store, settings, sink, worker, api_process, url, key
                )
            finally:
                if api_process is not None:
                    api_process.stop()
                worker.stop()
        finally:
            sink.stop()
            store.engine.dispose()
