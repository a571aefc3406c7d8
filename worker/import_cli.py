"""`reisplan import FILE --map Column=field ... --unique field`: upload a CSV through the
API and follow the import with a progress bar until it is done.

A client of the API (it may run on another machine than the server), authenticated by
an API key with the operator or app scope (`--key`, or REISPLAN_API_KEY). Exit code 0
when the import finished (rows refused or not: they are listed), 1 when it failed or
was refused.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from domain.import_mapping import parse_pairs

POLL_EVERY = 0.5  # seconds between progress reads
SHOWN_INVALID = 10
CHUNK = 1024 * 1024


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser(
        "import",
        help="import a CSV of relations through the API, with a progress bar",
        description="Upload FILE to the API (POST /imports) and follow the import until "
        "it is done. Rows whose unique fields equal an existing relation's update it; the "
        "others create relations.",
    )
    sub.add_argument("file", type=Path, help="the CSV file (UTF-8; , ; or tab between cells)")
    sub.add_argument(
        "--map",
        dest="mapping",
        action="append",
        required=True,
        metavar="COLUMN=FIELD",
        help="a column and the relation field it fills (email, first_name, ... or a "
        "custom field's name); repeat for each column to import",
    )
    sub.add_argument(
        "--unique",
        action="append",
        required=True,
        metavar="FIELD",
        help="a mapped field that recognises an existing relation (repeat for several)",
    )
    sub.add_argument("--name", help="shown in lists and the Web UI (default: the file's name)")
    sub.add_argument("--api", default="http://127.0.0.1:8000", help="the API's address")
    sub.add_argument(
        "--key", help="an API key with the operator or app scope (default: $REISPLAN_API_KEY)"
    )


class Refused(Exception):
    pass


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    # Lines are not wrapped: a message stays one line however narrow the terminal.
    console = console or Console(soft_wrap=True)
    # Each poll would be logged at INFO; the bar says it better.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    key = args.key or os.environ.get("REISPLAN_API_KEY", "")
    if not key:
        console.print("reisplan import: give an API key with --key or REISPLAN_API_KEY")
        return 1
    try:
        mapping = parse_pairs(args.mapping, "=")
    except ValueError as error:
        console.print(f"reisplan import: --map {error}")
        return 1
    path: Path = args.file
    if not path.is_file():
        console.print(f"reisplan import: {path} is not a file")
        return 1
    name = args.name or path.name
    pairs = [("name", name)]
    pairs += [("map", f"{column}:{field}") for column, field in mapping.items()]
    pairs += [("unique", field) for field in args.unique]
    params = httpx.QueryParams(pairs)
    headers = {"X-API-Key": key, "Content-Type": "text/csv"}
    try:
        with httpx.Client(base_url=args.api.rstrip("/"), headers=headers, timeout=60) as api:
            return _follow(api, console, path, name, params)
    except Refused as refused:
        console.print(f"reisplan import: {refused}")
        return 1
    except httpx.HTTPError as error:
        console.print(f"reisplan import: cannot reach the API at {args.api}: {error}")
        return 1


def _follow(
    api: httpx.Client, console: Console, path: Path, name: str, params: httpx.QueryParams
) -> int:
    with _bar(console) as progress:
        upload = progress.add_task(f"upload {name}", total=path.stat().st_size, unit="bytes")

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as file:
                while chunk := file.read(CHUNK):
                    progress.advance(upload, len(chunk))
                    yield chunk

        # The length up front: a file over the server's limit is refused before it is sent.
        size = {"Content-Length": str(path.stat().st_size)}
        job = _answer(api.post("/imports", params=params, content=chunks(), headers=size), 202)
        progress.update(upload, visible=False)
        rows = progress.add_task(f"import {name}", total=None, unit="rows")
        while job["status"] in ("queued", "running"):
            progress.update(rows, total=job["total"] or None, completed=job["processed"])
            time.sleep(POLL_EVERY)
            job = _answer(api.get(f"/imports/{job['id']}"), 200)
        progress.update(rows, total=job["total"] or 1, completed=job["total"] or 1)
    return _report(api, console, job)


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        _Count(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class _Count(DownloadColumn):
    """Bytes for the upload, rows for the import."""

    def render(self, task: Any) -> Any:
        if task.fields.get("unit") == "rows":
            total = f"{int(task.total):,}" if task.total else "?"
            return f"{int(task.completed):,}/{total} rows"
        return super().render(task)


def _report(api: httpx.Client, console: Console, job: dict[str, Any]) -> int:
    counts = (
        f"{job['total']:,} rows: {job['new']:,} new, {job['updated']:,} updated, "
        f"{job['invalid']:,} invalid"
    )
    if job["status"] == "failed":
        console.print(f"import {job['id']} failed: {job['error']} ({counts})")
        return 1
    console.print(f"import {job['id']} finished: {counts}")
    if job["invalid"]:
        found = _answer(
            api.get(
                f"/imports/{job['id']}/rows",
                params={"outcome": "invalid", "limit": SHOWN_INVALID},
            ),
            200,
        )
        for row in found["data"]:
            console.print(f"  row {row['row']:,}: {row['error']}")
        if found["count"] > SHOWN_INVALID:
            console.print(
                f"  ... and {found['count'] - SHOWN_INVALID:,} more: "
                f"GET /imports/{job['id']}/rows?outcome=invalid"
            )
    return 0


def _answer(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise Refused(f"the API answered {response.status_code}: {_detail(response)}")
    found: dict[str, Any] = response.json()
    return found


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:500]
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}" for item in detail
        )
    return str(detail)
