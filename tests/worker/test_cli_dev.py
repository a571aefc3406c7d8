"""`reisplan dev` end to end, as `make run` starts it: real Temporal dev server, worker,
API and mail sink as child processes, on free ports in a temporary working directory."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.client import Client

from api.security import API_KEY_HEADER
from tests.support.smtp import free_port
from tests.worker.cli_support import cli, cli_env, port_open

pytestmark = pytest.mark.slow

T = TypeVar("T")


@dataclass
class DevRun:
    process: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        started = re.findall(r"started (\S+) \(pid (\d+)\)", self.output())
        return {name: int(pid) for name, pid in started}

    async def wait(self) -> int:
        return await asyncio.to_thread(self.process.wait, 60)

    async def stop(self, signum: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return await self.wait()


@pytest.fixture
def dev_ports() -> dict[str, int]:
    return {name: free_port() for name in ("temporal", "ui", "api", "smtp")}


@pytest.fixture
def start_dev(tmp_path: Path, dev_ports: dict[str, int]) -> Iterator[Callable[..., DevRun]]:
    env = cli_env(
        tmp_path,
        temporal_address=f"127.0.0.1:{dev_ports['temporal']}",
        temporal_ui_port=dev_ports["ui"],
        api_port=dev_ports["api"],
        smtp_port=dev_ports["smtp"],
    )
    runs: list[DevRun] = []

    def start(*args: str) -> DevRun:
        log = tmp_path / f"dev-{len(runs) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                cli("dev", *args), env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
            )
        run = DevRun(process, log, dev_ports)
        runs.append(run)
        return run

    yield start
    for run in runs:  # a failed test must not leave servers behind
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGINT)
            try:
                run.process.wait(60)
            except subprocess.TimeoutExpired:
                run.process.kill()


async def eventually(check: Callable[[], Awaitable[T | None]], within: float, what: str) -> T:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.1)


async def wait_until_healthy(run: DevRun, http: httpx.AsyncClient) -> None:
    async def healthy() -> bool | None:
        if run.process.poll() is not None:
            raise AssertionError(f"reisplan dev exited early:\n{run.output()}")
        try:
            response = await http.get("/health")
        except httpx.TransportError:
            return None
        return True if response.status_code == 200 else None

    await eventually(healthy, 90, "API /health")


def assert_all_stopped(run: DevRun, workers: tuple[str, ...] = ("worker",)) -> None:
    for name, port in run.ports.items():
        assert not port_open(port), f"{name} port {port} still open after reisplan dev exited"
    pids = run.pids()
    assert set(pids) == {"temporal", "mail-sink", "api", *workers}, run.output()
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the child is gone (and reaped: no zombie either)


async def banner_key(run: DevRun) -> str:
    """The API key `reisplan dev` prints, read as a new user reads it off the banner."""

    async def printed() -> str | None:
        found = re.search(r"API key\s+(rp_\S+)", run.output())
        return found.group(1) if found else None

    return await eventually(printed, 30, "the API key in the banner")


def keyed(run: DevRun, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=run.api, timeout=10, headers={API_KEY_HEADER: key})


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    data: dict[str, Any] = response.json()
    return data


async def test_dev_runs_a_journey_end_to_end_and_stops_cleanly(
    start_dev: Callable[..., DevRun], dev_ports: dict[str, int]
) -> None:
    run = start_dev()
    async with httpx.AsyncClient(base_url=run.api, timeout=10) as anonymous:
        await wait_until_healthy(run, anonymous)
        refused = await anonymous.get("/relations")
        assert refused.status_code == 401, refused.text
        assert "X-API-Key" in refused.json()["detail"]
        assert (await anonymous.get("/dev/mail")).status_code == 401
    key = await banner_key(run)
    async with httpx.AsyncClient(
        base_url=run.api, timeout=10, headers={API_KEY_HEADER: key}
    ) as http:
        assert "reisplan is running" in run.output()
        assert f"http://127.0.0.1:{dev_ports['api']}/docs" in run.output()

        relation = await post(
            http, "/relations", {"email": "anna@example.org", "first_name": "Anna"}
        )
        await post(
            http,
            "/templates",
            {
                "key": "welcome",
                "subject": "Welkom, {{ relation.first_name }}",
                "html": "<p>Hoi!</p>",
            },
        )
        definition = {
            "name": "Welcome",
            "steps": [{"id": "welcome", "type": "send_email", "template": "welcome"}],
        }
        journey = await post(http, "/journeys", {"definition": definition})
        await post(http, f"/journeys/{journey['id']}/activate", {})
        admitted_at = time.monotonic()
        trip = await post(
            http, f"/journeys/{journey['id']}/enrollments", {"relation_id": relation["id"]}
        )

        async def mail() -> dict[str, Any] | None:
            messages = (await http.get("/dev/mail")).json()["data"]
            return next((m for m in messages if "anna@example.org" in m["to"]), None)

        received = await eventually(mail, 10, "the welcome mail in /dev/mail")
        assert received["subject"] == "Welkom, Anna"
        # ~0.1 s on an idle 2-core machine; the bound leaves room for a busy CI run and
        # for a worker that is still starting when the first trip arrives.
        assert time.monotonic() - admitted_at < 5
        assert "received mail to anna@example.org: Welkom, Anna" in run.output()

        async def completed() -> dict[str, Any] | None:
            body: dict[str, Any] = (await http.get(f"/trips/{trip['id']}")).json()
            return body if body["status"] == "completed" else None

        path = (await eventually(completed, 10, "the trip to complete"))["path"]
        assert [p["step_id"] for p in path] == ["welcome"]

    temporal = await Client.connect(f"127.0.0.1:{dev_ports['temporal']}")

    async def listed() -> list[str] | None:
        found = [w.id async for w in temporal.list_workflows(f"JourneyId = '{journey['id']}'")]
        return found or None

    assert await eventually(listed, 10, "the trip in Temporal's visibility") == [trip["id"]]

    assert await run.stop(signal.SIGINT) == 0, run.output()
    assert "all stopped" in run.output()
    assert_all_stopped(run)


async def test_dev_keeps_data_and_stops_everything_when_a_child_dies(
    start_dev: Callable[..., DevRun],
) -> None:
    first = start_dev()
    key = await banner_key(first)
    async with httpx.AsyncClient(
        base_url=first.api, timeout=10, headers={API_KEY_HEADER: key}
    ) as http:
        await wait_until_healthy(first, http)
        relation = await post(http, "/relations", {"email": "bram@example.org"})
    assert await first.stop(signal.SIGTERM) == 0, first.output()

    # Again, with two worker processes on the one task queue.
    second = start_dev("--workers", "2")
    assert await banner_key(second) == key, "a restart prints the same local key"
    async with httpx.AsyncClient(
        base_url=second.api, timeout=10, headers={API_KEY_HEADER: key}
    ) as http:
        await wait_until_healthy(second, http)
        again = (await http.get(f"/relations/{relation['id']}")).json()
        assert again["email"] == "bram@example.org", "data did not survive a restart"

    async def banner_printed() -> bool | None:
        return True if "Workers         2 processes" in second.output() else None

    await eventually(banner_printed, 30, "the banner naming two workers")

    os.kill(second.pids()["worker-2"], signal.SIGKILL)
    assert await second.wait() == 1, second.output()
    assert "worker-2 exited unexpectedly" in second.output()
    assert_all_stopped(second, workers=("worker-1", "worker-2"))
