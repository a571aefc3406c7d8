"""`reisplan import` as a user runs it: a separate process that uploads to the API
(served by uvicorn on a free port, with a real worker) and follows the import to its
end; exit code 0 with the counts and the refused rows, 1 when the API refuses."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from store.keys import Scope
from tests.api.support import make_app, new_key
from tests.conftest import make_settings, running_worker
from tests.support.smtp import SmtpSink
from tests.worker.cli_support import cli, cli_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def served(
    dev_env: WorkflowEnvironment,
    engine: Engine,
    sqlite_url: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> AsyncIterator[str]:
    """The API on a free port, and a worker reading the same import directory."""
    directory = tmp_path / "imports"
    settings = make_settings(sqlite_url, smtp_sink, task_queue="cli-import", import_dir=directory)
    app = make_app(
        engine=engine,
        temporal=dev_env.client,
        task_queue=settings.task_queue,
        allowed_hosts=["127.0.0.1"],
        import_dir=directory,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with running_worker(dev_env.client, engine, settings):
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


async def _import(tmp_path: Path, key: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *cli("import", *args),
        env={**cli_env(tmp_path), "REISPLAN_API_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_cli_imports_with_a_progress_bar_and_lists_refused_rows(
    served: str, engine: Engine, tmp_path: Path
) -> None:
    key = new_key(engine, Scope.operator)
    members = tmp_path / "leden.csv"
    members.write_text(
        "E-mail;Voornaam\r\nanna@example.org;Anna\r\nno-address;Bob\r\nANNA@example.org;Ann\r\n",
        encoding="utf-8-sig",
    )
    mapping = ("--map", "E-mail=email", "--map", "Voornaam=first_name", "--unique", "email")
    code, output = await _import(tmp_path, key, str(members), *mapping, "--api", served)
    assert code == 0, output
    assert "import leden.csv" in output  # the bar's label
    assert "finished: 3 rows: 1 new, 1 updated, 1 invalid" in output
    assert "row 2: email: takes an email address" in output
    assert "no-address" not in output  # never a value

    code, output = await _import(
        tmp_path, key, str(members), "--map", "Mail=email", "--unique", "email", "--api", served
    )
    assert code == 1
    assert "the API answered 422: body: column 'Mail' is not in the file's header" in output
