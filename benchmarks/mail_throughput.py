"""Mails per second through reisplan's send path, next to the raw SMTP ceiling.

    .venv/bin/python -m benchmarks.mail_throughput [--mails N] [--trips N] [--out FILE]

Every mail is the same newsletter rendered for its relation, with tracked links, the
open pixel, one-click unsubscribe, a VERP return path and a 2048-bit DKIM signature. In
one run, phases alternating over the rounds:
  raw               N such mails, built beforehand, sent by the worker's SMTP pool straight
                    to an aiosmtpd sink: the ceiling of this pool and sink here;
  activity          N sends through `SendActivities.send_email` called directly (Temporal
                    out of the way): ledger claim, checks, render, tracking, DKIM, SMTP,
                    path and trip end written, on SQLite (WAL);
  activity-openssl  the same with DKIM's RSA done by OpenSSL (a what-if, not shipped);
  activity-nodkim   the same without DKIM;
  trips             N relations admitted into a one-email journey on a Temporal dev server
                    (WAL, as `reisplan dev`) with the real worker: limited by Temporal.
Then where the CPU goes: the shipped activity one send at a time with each stage on its
thread's CPU clock (mail_stages.py), and a short cProfile over all its threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.mail.outgoing import Outgoing, Sender
from benchmarks import mail_compose, mail_phases, mail_setup, mail_stages
from benchmarks.cli import at_least, cancel_on_signals, log, run_and_exit
from benchmarks.devserver import TUNED_PRAGMAS, dev_server
from benchmarks.mail_profile import profiled
from benchmarks.mail_report import KINDS, MailPhase, MailRun, write_results
from benchmarks.report import RESULTS, machine_info
from tests.support.dkim import dkim_key
from worker.worker import build_render_pool

# activity-serial runs once, after the rounds, to time the stages of a send.
ROUND_KINDS = [kind for kind in KINDS if kind != "activity-serial"]
ACTIVITY_SENDERS = {"activity": "dkimpy", "activity-openssl": "openssl", "activity-nodkim": "none"}


async def stage_costs(
    bench: mail_phases.Bench, sender: Sender, args: argparse.Namespace
) -> tuple[dict[str, float], MailPhase]:
    """CPU ms per mail of each stage of the shipped path, one send at a time."""
    clock = mail_stages.StageClock()
    with mail_stages.timed_path(clock, bench.renderer, sender) as (sends, renderer, timed):
        serial = replace(bench, renderer=renderer, concurrency=1)
        phase = await mail_phases.activity(
            serial, timed, "activity-serial", 1, args.serial_mails, sends_class=sends
        )
    per_mail = {k: round(v * 1000 / phase.received, 3) for k, v in clock.seconds.items()}
    per_mail["total"] = phase.cpu_ms_per_mail
    per_mail["rest"] = round(
        phase.cpu_ms_per_mail - sum(clock.seconds.values()) * 1000 / phase.received, 3
    )
    return per_mail, phase


# --- the run --------------------------------------------------------------------------------


@asynccontextmanager
async def maybe_server(workdir: Path, wanted: bool) -> AsyncIterator[tuple[int, Client | None]]:
    """The tuned dev server when full trips are measured; its pid (0: none) and client."""
    if not wanted:
        yield 0, None
        return
    async with dev_server(workdir, TUNED_PRAGMAS) as (process, client):
        log(f"dev server on {process.address}: {' '.join(TUNED_PRAGMAS)}")
        yield process.process.pid, client


async def one_phase(
    kind: str,
    round_no: int,
    bench: mail_phases.Bench,
    client: Client | None,
    mails: list[Outgoing],
    senders: dict[str, Sender],
    args: argparse.Namespace,
    n: int | None = None,
) -> MailPhase:
    if kind == "raw":
        return await mail_phases.raw(bench, mails[: n or args.mails], round_no)
    if kind == "trips":
        assert client is not None
        return await mail_phases.trips(bench, client, round_no, n or args.trips, args.in_flight)
    sender = senders[ACTIVITY_SENDERS[kind]]
    return await mail_phases.activity(bench, sender, kind, round_no, n or args.mails)


async def main_async(args: argparse.Namespace) -> MailRun:
    cancel_on_signals()
    began = time.monotonic()
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="reisplan-bench-mail-") as tmp:
        workdir = Path(tmp)
        key_path, record = dkim_key(workdir)
        txt = record.decode()
        store = mail_setup.make_store(workdir)
        settings = mail_setup.mail_settings(store.url, workdir, key_path)
        renderer = build_render_pool(settings)
        mail_setup.install_openssl_rsa()
        senders = mail_setup.senders(settings)
        try:
            async with maybe_server(workdir, "trips" in args.phases) as (pid, client):
                bench = mail_phases.Bench(
                    store,
                    settings,
                    renderer,
                    pid,
                    concurrency=args.concurrency or settings.smtp_pool_size * 4,
                )
                mail_compose.check_variants(bench, senders, txt, key_path.read_bytes())
                log(f"building {args.mails} signed mails for the raw ceiling")
                mails, costs = mail_compose.build_mails("raw", bench, senders, args.mails)
                log("one message, ms: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
                run = MailRun(
                    mails=args.mails,
                    trips=args.trips,
                    rounds=args.rounds,
                    concurrency=bench.concurrency,
                    pool_size=settings.smtp_pool_size,
                    message_bytes=round(statistics.median(len(m.payload) for m in mails)),
                    links=mail_setup.link_count(store),
                    machine=machine,
                    costs=costs,
                )
                if args.warmup:
                    for kind in args.phases:
                        await one_phase(kind, 0, bench, client, mails, senders, args, args.warmup)
                for round_no in range(1, args.rounds + 1):
                    # Alternating order: drift (a growing store, a busy neighbour) weighs
                    # on every path alike.
                    order = args.phases if round_no % 2 else args.phases[::-1]
                    for kind in order:
                        phase = await one_phase(kind, round_no, bench, client, mails, senders, args)
                        run.phases.append(phase)
                        log(f"round {round_no} {kind:16}: {phase.one_line()}")
                if args.serial_mails:
                    run.stages, phase = await stage_costs(bench, senders["dkimpy"], args)
                    run.phases.append(phase)
                    log(f"one at a time: {phase.one_line()}")
                if args.profile_mails:
                    profile: dict[str, Any] = {}
                    async with profiled(profile, args.profile_mails):
                        await mail_phases.activity(
                            bench, senders["dkimpy"], "activity", 99, args.profile_mails
                        )
                    run.profile = profile
                    log(f"profiled: {profile['cpu_ms_per_mail']:.1f} CPU ms per mail")
        finally:
            renderer.close()
            store.engine.dispose()
    run.wall_seconds = round(time.monotonic() - began, 1)
    run.load_after = [round(x, 2) for x in os.getloadavg()]
    return run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mail_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    number = parser.add_argument
    number("--mails", type=at_least(1), default=500, help="mails per raw/activity phase (500)")
    number("--trips", type=at_least(1), default=300, help="trips per full-trips phase (300)")
    number("--rounds", type=at_least(1), default=2, help="alternating rounds (2)")
    number(
        "--concurrency",
        type=at_least(0),
        default=0,
        help="sends in flight (default: 4 x the SMTP pool size, 40)",
    )
    number("--in-flight", type=at_least(1), default=16, help="trip admissions in flight (16)")
    number("--warmup", type=at_least(0), default=20, help="untimed mails per path first (20)")
    number(
        "--serial-mails",
        type=at_least(0),
        default=200,
        help="sends one at a time, each stage's CPU timed, after the rounds (200; 0: none)",
    )
    number(
        "--profile-mails",
        type=at_least(0),
        default=100,
        help="sends in the cProfiled activity phase at the very end (100; 0: none)",
    )
    parser.add_argument(
        "--phases", nargs="+", choices=ROUND_KINDS, default=ROUND_KINDS, help="paths (all)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "mail-latest.md",
        help="markdown result; the JSON goes beside it (benchmarks/results/mail-latest.md)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # build_worker caps the thread pool below max_concurrent_activities on purpose.
    warnings.filterwarnings("ignore", message="Worker max_concurrent_activities is")

    async def work() -> str:
        return write_results(await main_async(args), args.out)

    run_and_exit(work, "dev server and sinks stopped")


if __name__ == "__main__":
    main()
