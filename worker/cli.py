"""The `reisplan` command.

    reisplan dev                       everything on this machine (what `make run` runs)
    reisplan migrate                   bring the database to the current schema
    reisplan worker                    run trips: poll Temporal until SIGINT/SIGTERM
    reisplan api                       serve the HTTP API (OpenAPI at /docs)
    reisplan mail-sink                 a local SMTP server that keeps mail in a Maildir
    reisplan journey validate FILE     check a journey definition (YAML or JSON)
    reisplan keys create --scope S     create an API key (also: keys list, keys revoke P)
    reisplan import FILE --map C=f ... upload a CSV of relations and follow its progress

Configuration comes from REISPLAN_* environment variables (or a .env file); see
worker/settings.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from worker.settings import Settings
from worker.startup import StartupError, display_url, migrate

Command = Callable[[argparse.Namespace], int]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"REISPLAN_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise StartupError(f"invalid configuration: {problems}") from None


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    migrate(settings.database_url)
    print(f"database {display_url(settings.database_url)} is at the current schema")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from worker import run_worker

    return asyncio.run(run_worker.run(_settings()))


def cmd_api(args: argparse.Namespace) -> int:
    from worker import run_api

    return asyncio.run(run_api.run(_settings()))


def cmd_mail_sink(args: argparse.Namespace) -> int:
    from worker import mail_sink

    settings = _settings()
    directory = settings.mail_sink_dir or settings.data_dir / "mail"
    return mail_sink.run(settings.smtp_host, settings.smtp_port, directory)


def cmd_dev(args: argparse.Namespace) -> int:
    from worker import dev

    settings = _settings()
    if args.workers is not None:
        settings = settings.model_copy(update={"dev_workers": args.workers})
    return dev.run(settings)


def cmd_keys(args: argparse.Namespace) -> int:
    from worker import keys_cli

    return keys_cli.run(args, _settings())


def cmd_import(args: argparse.Namespace) -> int:
    # A client of the API: no settings, database or Temporal of its own.
    from worker import import_cli

    return import_cli.run(args)


def cmd_journey_validate(args: argparse.Namespace) -> int:
    from domain.definition import parse_definition

    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StartupError(f"cannot read {path}: {error.strerror}") from None
    try:
        # YAML is a superset of JSON, but JSON errors read better from the JSON parser.
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        print(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}")
        return 1
    try:
        definition = parse_definition(data)
    except ValidationError as error:
        problems = describe_definition_errors(data, error)
        print(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        for problem in problems:
            print(f"  {problem}")
        return 1
    templates = ", ".join(sorted(definition.references().templates)) or "none"
    print(
        f"{path}: journey '{definition.name}' is valid: {len(definition.steps)} steps, "
        f"templates used: {templates}"
    )
    return 0


def describe_definition_errors(data: Any, error: ValidationError) -> list[str]:
    """One line per problem, naming the step (by id, when it has one) and the field."""
    problems: list[str] = []
    for item in error.errors():
        if item["type"] == "journey_graph":
            for issue in item["ctx"]["issues"]:
                # Graph messages already start with "step 'x': ..."; only add the field.
                where = _where(data, tuple(issue["loc"]))
                field = where.split(" ", 2)[2] if where.count(" ") >= 2 else ""
                problems.append(f"{field}: {issue['msg']}" if field else issue["msg"])
        else:
            problems.append(f"{_where(data, tuple(item['loc']))}: {item['msg']}")
    return problems


def _where(data: Any, loc: tuple[str | int, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        index, rest = loc[1], list(loc[2:])
        raw = data["steps"][index] if isinstance(data, dict) else None
        step_type = raw.get("type") if isinstance(raw, dict) else None
        if rest and rest[0] == step_type:
            rest = rest[1:]  # pydantic puts the union tag in the path; the marketer did not
        step_id = raw.get("id") if isinstance(raw, dict) else None
        label = f"step '{step_id}'" if step_id else f"step #{index + 1}"
        return f"{label}" + (f" {'.'.join(str(p) for p in rest)}" if rest else "")
    return ".".join(str(p) for p in loc) or "journey"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reisplan",
        description="Reisplan: marketing journeys, one durable Temporal workflow per trip.",
        epilog="Configuration: REISPLAN_* environment variables (or .env).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    dev = add("dev", cmd_dev, "run Temporal, the worker, the API and a mail sink on this machine")
    dev.add_argument(
        "--workers",
        type=int,
        choices=range(1, 17),
        metavar="N",
        help="worker processes to start (1-16; default REISPLAN_DEV_WORKERS or 1)",
    )
    add("migrate", cmd_migrate, "bring the database to the current schema")
    add("worker", cmd_worker, "run trips: poll the Temporal task queue until stopped")
    add("api", cmd_api, "serve the HTTP API (OpenAPI docs at /docs)")
    add("mail-sink", cmd_mail_sink, "a local SMTP server that keeps mail in a Maildir")

    journey = commands.add_parser("journey", help="work with journey definitions")
    journey_commands = journey.add_subparsers(dest="journey_command", required=True)
    validate = journey_commands.add_parser(
        "validate", help="check a journey definition file (YAML or JSON)"
    )
    validate.add_argument("file", type=Path)
    validate.set_defaults(handler=cmd_journey_validate)

    from worker import keys_cli

    keys_cli.add_commands(commands)
    commands.choices["keys"].set_defaults(handler=cmd_keys)

    from worker import import_cli

    import_cli.add_command(commands)
    commands.choices["import"].set_defaults(handler=cmd_import)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    handler: Command = args.handler
    try:
        return handler(args)
    except StartupError as error:
        sub = getattr(args, "journey_command", None) or getattr(args, "keys_command", None)
        name = " ".join(filter(None, [args.command, sub]))
        print(f"reisplan {name}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except SystemExit as exit_:  # e.g. uvicorn when its port is taken
        return exit_.code if isinstance(exit_.code, int) else 1


def main() -> None:
    code = run()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    # Skip interpreter teardown: the Temporal client's native threads can abort it with
    # "Fatal Python error: PyGILState_Release" (sdk-python#300), turning a clean exit red.
    os._exit(code)


if __name__ == "__main__":
    main()
