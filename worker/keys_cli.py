"""`reisplan keys create|list|revoke`: API keys, managed where only an operator of the
machine can reach (the database), never through the API itself."""

from __future__ import annotations

import argparse
import sys

from sqlmodel import Session

from store import keys
from store.db import make_engine
from store.errors import NotFound
from store.keys import Scope
from worker.settings import Settings
from worker.startup import StartupError, require_schema_at_head


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("keys", help="create, list and revoke API keys")
    sub = group.add_subparsers(dest="keys_command", required=True)
    scopes = "; ".join(f"{s.value}: {s.description}" for s in Scope)

    create = sub.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=[s.value for s in Scope],
        help=f"repeat for several ({scopes})",
    )
    create.add_argument("--name", default="", help="who or what the key is for")
    create.set_defaults(keys_handler=_create)

    listing = sub.add_parser("list", help="list keys (prefix, name, scopes; never the key)")
    listing.set_defaults(keys_handler=_list)

    revoke = sub.add_parser("revoke", help="revoke a key by its prefix (or id)")
    revoke.add_argument("key", help="the prefix `reisplan keys list` shows, or the id")
    revoke.set_defaults(keys_handler=_revoke)


def run(args: argparse.Namespace, settings: Settings) -> int:
    require_schema_at_head(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            code: int = args.keys_handler(args, session)
            return code
    finally:
        engine.dispose()


def _create(args: argparse.Namespace, session: Session) -> int:
    scopes = [Scope(s) for s in args.scopes]
    created = keys.create(session, name=args.name, scopes=scopes)
    print(created.key)
    print(
        f"key {created.row.prefix} ({', '.join(sorted(s.value for s in scopes))}) created; "
        "it is shown only now: store it (send it in the X-API-Key header)",
        file=sys.stderr,
    )
    return 0


def _list(_args: argparse.Namespace, session: Session) -> int:
    rows = keys.list_keys(session)
    if not rows:
        print("no API keys; create one with: reisplan keys create --scope admin")
        return 0
    print(f"{'id':>4}  {'prefix':<10} {'scopes':<24} {'created (UTC)':<17} {'state':<8} name")
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        created = row.created_at.strftime("%Y-%m-%d %H:%M")
        print(f"{row.id:>4}  {row.prefix:<10} {row.scopes:<24} {created:<17} {state:<8} {row.name}")
    return 0


def _revoke(args: argparse.Namespace, session: Session) -> int:
    try:
        row = keys.revoke(session, args.key)
    except NotFound:
        raise StartupError(f"no API key {args.key!r} (see `reisplan keys list`)") from None
    print(f"key {row.prefix} revoked")
    return 0
