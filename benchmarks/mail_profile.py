"""cProfile over every thread the send path uses: the event loop's and the loop's default
executor (where `asyncio.to_thread` runs the store, rendering and signing).

The timer is each thread's own CPU time, so a thread waiting for the GIL, a lock or a
socket costs nothing: the figures say what the process spends its CPU on.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

# (part, match on "file:function") in order: the first that matches takes a function.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DKIM RSA (dkimpy `pow`)", ("builtins.pow",)),
    ("DKIM other (canonicalise, hash, parse key)", ("/dkim/",)),
    ("SQLite (driver calls)", ("sqlite3.",)),
    ("SQLAlchemy and the store's queries", ("/sqlalchemy/", "/sqlmodel/", "/store/")),
    (
        "rendering (Jinja, css-inline, inscriptis)",
        ("/jinja2/", "/inscriptis/", "css_inline", "/activities/mail/render"),
    ),
    ("MIME (email package)", ("/email/",)),
    ("SMTP client (aiosmtplib)", ("/aiosmtplib/",)),
    (
        "asyncio and threads (scheduling, to_thread)",
        ("/asyncio/", "/concurrent/", "threading.py", "_thread."),
    ),
    ("reisplan's own code (activities, domain)", ("/activities/", "/domain/")),
    ("pydantic (contracts)", ("/pydantic", "pydantic_core")),
    ("temporalio (activity context)", ("/temporalio/",)),
)
OTHER = "everything else (send path's own code, stdlib, logging, ...)"


class _Profiles:
    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def start_in_this_thread(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()


@asynccontextmanager
async def profiled(into: dict[str, Any], mails: int) -> AsyncIterator[None]:
    """Profile the block in the loop's thread and in a fresh default executor (same size
    as asyncio's default); summarise into `into`."""
    loop = asyncio.get_running_loop()
    profiles = _Profiles()
    executor = ThreadPoolExecutor(
        max_workers=min(32, (os.cpu_count() or 1) + 4),
        thread_name_prefix="profiled",
        initializer=profiles.start_in_this_thread,
    )
    loop.set_default_executor(executor)
    main = cProfile.Profile(time.thread_time)
    main.enable()
    try:
        yield
    finally:
        main.disable()
        loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
        # Its threads end here; their profiles keep what they recorded.
        executor.shutdown(wait=True)
        into.update(summarise([main, *profiles.profiles], mails))


def summarise(profiles: list[cProfile.Profile], mails: int) -> dict[str, Any]:
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(own for (_cc, _nc, own, _cum, _callers) in raw.values())
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(15)
    top = [line for line in text.getvalue().splitlines() if line.strip()][-16:]
    return {
        "mails": mails,
        "cpu_seconds": round(total, 3),
        "cpu_ms_per_mail": round(total * 1000 / max(mails, 1), 2),
        "parts": _parts(raw),
        "top": [_shorter(line) for line in top],
    }


def _part_of(key: tuple[str, int, str]) -> str | None:
    """The part a function belongs to; None for a C builtin charged to its callers."""
    filename, _line, function = key
    where = f"{filename}:{function}"
    for name, marks in PARTS:
        if any(mark in where for mark in marks):
            return name
    return None if filename == "~" else OTHER


def _parts(raw: dict[Any, Any]) -> dict[str, float]:
    """Own CPU time per part. A C builtin (`str.join`, `isinstance`) that no part claims
    is charged to its callers' parts, in proportion to the time each call site spent."""
    parts = {name: 0.0 for name, _ in PARTS} | {OTHER: 0.0}
    for key, (_cc, _nc, own, _cum, callers) in raw.items():
        part = _part_of(key)
        if part is not None:
            parts[part] += own
            continue
        spent = {caller: entry[2] for caller, entry in callers.items()}
        whole = sum(spent.values())
        if not whole:
            parts[OTHER] += own
            continue
        for caller, time_there in spent.items():
            parts[_part_of(caller) or OTHER] += own * time_there / whole
    ordered = sorted(parts.items(), key=lambda kv: -kv[1])
    return {name: round(seconds, 3) for name, seconds in ordered}


def _shorter(line: str) -> str:
    """Paths relative to the virtualenv or the checkout: shorter, and nothing personal."""
    for prefix in ("/lib/python3.11/site-packages/", "/lib/python3.11/"):
        at = line.find(prefix)
        if at != -1:
            start = line.rfind(" ", 0, at) + 1
            line = line[:start] + line[at + len(prefix) :]
    return line.replace(os.getcwd() + "/", "")
