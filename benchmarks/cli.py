"""Command-line bits the benchmark entry points share."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_and_exit(work: Callable[[], Coroutine[Any, Any, str]], stopped: str) -> NoReturn:
    """Run a benchmark, print what it returns (its report), and exit: 130 when
    interrupted (saying `stopped`), 1 with the traceback when it failed."""
    code = 0
    try:
        print(asyncio.run(work()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log(f"interrupted; {stopped}")
        code = 130
    except Exception:
        log("benchmark failed:\n" + traceback.format_exc())
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: a Temporal client can abort it (sdk-python#300), and
    # everything the benchmark started has been stopped by now.
    os._exit(code)


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int no smaller than `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def cancel_on_signals() -> None:
    """Ctrl-C and SIGTERM cancel the running task, so its finally blocks stop the
    servers and processes it started (SIGINT explicitly too: a shell that starts a
    benchmark in the background ignores it)."""
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
