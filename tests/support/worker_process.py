"""A real `reisplan worker` process, for tests that kill one with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def worker_env(
    database_url: str, temporal_address: str, task_queue: str, smtp_port: int, **extra: str
) -> dict[str, str]:
    """The environment of a `reisplan worker` for one test's store, server and sink."""
    return {
        **os.environ,
        "REISPLAN_DATABASE_URL": database_url,
        "REISPLAN_TEMPORAL_ADDRESS": temporal_address,
        "REISPLAN_TASK_QUEUE": task_queue,
        "REISPLAN_SMTP_PORT": str(smtp_port),
        **extra,
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a crash: no graceful shutdown, no activity reports its end."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGINT)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill(worker)
