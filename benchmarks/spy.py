"""py-spy profiles of the worker and the API while a run goes on (`--profile DIR`).

py-spy is not a dependency of the project: install it into the virtualenv by hand
(`.venv/bin/pip install py-spy`) when a phase misses its target. It samples from outside
(`--nonblocking`: without pausing the process), so the run is measured as it would be
without it, give or take the CPU py-spy itself takes on a small machine.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.cli import log

RATE = 100  # samples per second
# py-spy names a frame `function (path:line)`, the path relative to its sys.path entry.
_PROJECT = re.compile(r"\((activities|api|domain|store|worker|workflows)/")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def recording(out_dir: Path | None, pids: dict[str, int], label: str) -> Iterator[None]:
    """Record each pid into `out_dir/<label>-<name>.txt` (collapsed stacks) meanwhile; a
    summary of each goes beside it. Does nothing without `out_dir` or without py-spy."""
    binary = py_spy()
    if out_dir is None or binary is None:
        if out_dir is not None:
            log("py-spy not found: no profile (`.venv/bin/pip install py-spy`)")
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spies: dict[Path, subprocess.Popen[bytes]] = {}
    for name, pid in pids.items():
        out = out_dir / f"{label}-{name}.txt"
        command = [binary, "record", "--pid", str(pid), "--format", "raw", "-o", str(out)]
        command += ["--rate", str(RATE), "--nonblocking"]
        spies[out] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for out, spy in spies.items():
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
            if out.exists():
                out.with_suffix(".summary.txt").write_text(summary(out))
                log(f"profile: {out}")


def summary(collapsed: Path, top: int = 30) -> str:
    """Functions by the share of samples they are on the stack in (inclusive), this
    project's code only, plus the leaf functions overall (where the CPU itself goes)."""
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaves[frames[-1]] += count
        for frame in set(frames):
            if _PROJECT.search(frame):
                inclusive[frame] += count
    lines = [f"{total} samples at {RATE}/s", "", "on the stack (project code):"]
    lines += [f"{100 * n / total:5.1f} %  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "leaf functions (all code):"]
    lines += [f"{100 * n / total:5.1f} %  {f}" for f, n in leaves.most_common(top)]
    return "\n".join(lines) + "\n" if total else "no samples\n"
