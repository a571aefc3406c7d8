"""CPU time of the dev server, of this process, and of everything else on the machine.

Per phase this shows which side is the bottleneck, and whether other work on the
machine (another test run, say) was eating into the figures.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    wall: float
    server: float  # CPU seconds
    harness: float
    machine: float  # CPU seconds busy, all processes and CPUs


@dataclass(frozen=True)
class Usage:
    """Average CPU use over an interval, in percent of one core."""

    server: float
    harness: float
    others: float


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine_busy() -> float:
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # guest time is already counted in user time.
    return (sum(values[:8]) - idle) / _TICK


def sample(server_pid: int) -> Sample:
    own = os.times()
    return Sample(
        wall=time.monotonic(),
        server=process_cpu(server_pid),
        harness=own.user + own.system,
        machine=_machine_busy(),
    )


def usage(before: Sample, after: Sample) -> Usage:
    wall = max(after.wall - before.wall, 1e-9)
    server = after.server - before.server
    harness = after.harness - before.harness
    others = max(0.0, (after.machine - before.machine) - server - harness)
    return Usage(
        server=round(100 * server / wall, 1),
        harness=round(100 * harness / wall, 1),
        others=round(100 * others / wall, 1),
    )
