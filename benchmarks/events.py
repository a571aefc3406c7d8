"""Events through the embedded default: latency, rate, segment cost, member admission.

    .venv/bin/python -m benchmarks.events [--phases ...] [--members N] [--out FILE]

Phases, each on a fresh set-up in its own temporary directory:
  segments   in-process: a relation change's transaction with 0 and with 100 segments
             defined (benchmarks/segment_cost.py);
  latency    POST /events -> the sink's receipt of the first mail, open loop, at a steady
             10 events/s and then upwards to the highest sustained rate
             (benchmarks/event_latency.py), through a real `reisplan api` and worker;
  admission  a journey activated through the API with the current members of an
             N-member segment admitted: admissions/s and trips/s
             (benchmarks/admission_rate.py).
Results go to benchmarks/results/events-latest.md (and .json beside it), rewritten after
each phase, so a phase that fails leaves the earlier ones' figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from benchmarks import admission_rate, event_latency, segment_cost
from benchmarks.cli import at_least, cancel_on_signals, log, run_and_exit
from benchmarks.embedded import embedded, load_average
from benchmarks.events_report import EventsRun, load, write_results
from benchmarks.report import RESULTS, machine_info

PHASES = ("segments", "latency", "admission")


async def _phase(run: EventsRun, name: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix=f"reisplan-bench-events-{name}-") as tmp:
        workdir = Path(tmp)
        if name == "segments":
            run.segments = await asyncio.to_thread(
                segment_cost.measure,
                workdir,
                relations=args.relations,
                events_each=args.events_each,
                segments=args.segments,
                changes=args.changes,
                seed=args.seed,
            )
        elif name == "latency":
            async with embedded(workdir, api=True) as stack:
                run.latency = await event_latency.measure(stack, args)
        else:
            async with embedded(workdir, api=True) as stack:
                run.admission = await admission_rate.measure(stack, args.members)


async def main_async(args: argparse.Namespace) -> str:
    cancel_on_signals()
    began = time.monotonic()
    machine = machine_info()
    argv = " ".join(["python -m benchmarks.events", *sys.argv[1:]])
    earlier = load(args.out) if args.update else None
    if earlier is None:
        run = EventsRun(machine=machine, settings={**vars(args), "argv": argv})
        run.settings.update(out=str(args.out), profile=args.profile and str(args.profile))
    else:
        # Keep the other phases' figures; these phases are measured again.
        run = earlier
        run.failed = [f for f in run.failed if f.split(":", 1)[0] not in args.phases]
        run.reruns.append(
            f"{', '.join(args.phases)} on {machine['date']} (`{argv}`; load average before "
            f"{' '.join(map(str, machine['load_before']))})"
        )
    spent_before = run.wall_seconds
    text = ""
    for name in args.phases:
        log(f"--- {name} (load average {load_average()})")
        try:
            await _phase(run, name, args)
        except Exception as error:
            # Later phases are independent: record the failure, keep going.
            log(f"phase {name} failed:\n{traceback.format_exc()}")
            # One line for the table: what failed first, and the error at the bottom.
            said = str(error).strip().splitlines() or [""]
            last = f" ... {said[-1].strip()}" if len(said) > 1 else ""
            run.failed.append(f"{name}: {type(error).__name__}: {said[0]}{last}")
        run.load_after = load_average()
        run.wall_seconds = round(spent_before + time.monotonic() - began, 1)
        text = write_results(run, args.out)
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.events",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--phases", nargs="+", choices=PHASES, default=list(PHASES), help="what to run (all)")
    add("--out", type=Path, default=RESULTS / "events-latest.md", help="markdown result")
    add(
        "--update",
        action="store_true",
        help="keep the other phases' figures from the result at --out (JSON beside it)",
    )
    latency = parser.add_argument_group("latency")
    latency.add_argument("--rate", type=float, default=10.0, help="steady events/s (10)")
    latency.add_argument(
        "--events", type=at_least(1), default=1000, help="events at the steady and highest rate"
    )
    latency.add_argument(
        "--sweep",
        type=float,
        nargs="*",
        default=[12, 14, 16, 18, 20, 25, 30, 40],
        help="rates tried upwards, events/s (12 14 16 18 20 25 30 40)",
    )
    latency.add_argument(
        "--sweep-seconds", type=at_least(1), default=30, help="seconds per sweep rate (30)"
    )
    latency.add_argument(
        "--sustain-p99", type=float, default=2000.0, help="p99 ms a sustained rate keeps (2000)"
    )
    latency.add_argument(
        "--drain", type=float, default=30.0, help="seconds to wait for late mail (30)"
    )
    latency.add_argument("--warmup", type=at_least(0), default=50, help="untimed events (50)")
    latency.add_argument(
        "--latency-segments",
        type=at_least(0),
        default=0,
        help="segments defined while events come in (0)",
    )
    latency.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the worker and the API during the steady and highest runs, into DIR",
    )
    segments = parser.add_argument_group("segments")
    segments.add_argument("--segments", type=at_least(1), default=100, help="segments (100)")
    segments.add_argument("--changes", type=at_least(1), default=1000, help="per series (1000)")
    segments.add_argument("--relations", type=at_least(1), default=2000, help="relations (2000)")
    segments.add_argument("--events-each", type=at_least(0), default=5, help="per relation (5)")
    segments.add_argument("--seed", type=int, default=1, help="of the changes (1)")
    admission = parser.add_argument_group("admission")
    admission.add_argument(
        "--members", type=at_least(1), default=20_000, help="segment members (20000)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # Said once per worker built in-process (none here, but the API's imports say it too).
    warnings.filterwarnings("ignore", message="Worker max_concurrent_activities is")
    run_and_exit(lambda: main_async(args), "API, worker, sink and dev server stopped")


if __name__ == "__main__":
    main()
