"""Configuration from the environment (prefix REISPLAN_) or a `.env` file."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities import relation_tokens
from activities.contracts import TASK_QUEUE


class Settings(BaseSettings):
    # An empty variable (compose passes `${X:-}` through) means "not set", not "".
    model_config = SettingsConfigDict(
        env_prefix="REISPLAN_",
        env_file=".env",
        extra="ignore",
        env_ignore_empty=True,
        # A refused setting is named, not printed: keys and passwords live here.
        hide_input_in_errors=True,
    )

    data_dir: Path = Field(
        default=Path(".reisplan"), description="Where `reisplan dev` keeps its files"
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/reisplan; "
        "default: SQLite file reisplan.db in data_dir",
    )
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    allowed_hosts: list[str] = Field(
        default=["127.0.0.1", "localhost"],
        description="Host header values the API serves (JSON list; `*.example.org` for "
        "subdomains, `*` for any); others get 400, which stops DNS rebinding",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Larger request bodies get 413"
    )
    temporal_ui_port: int = 8233

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_pool_size: int = Field(default=10, ge=1, le=100)
    smtp_timeout: float = Field(default=10.0, gt=0, description="Seconds for one whole send")
    mail_from: str = "Reisplan <noreply@reisplan.localhost>"
    mail_domain: str = Field(
        default="reisplan.localhost", description="Right-hand side of generated Message-IDs"
    )

    # Email a bulk sender can trust (README "Email").
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where relations reach the API: tracked links, the open pixel and "
        "the unsubscribe page are made under it",
    )
    secret_key: str = Field(
        default="",
        description="Signs tracking and unsubscribe tokens; default: made once and kept "
        "in data_dir/secret.key (every API and worker process must share it)",
    )
    list_id: str = Field(default="", description="List-Id header; default: journeys.<mail_domain>")
    bounce_address: str = Field(
        default="",
        description="Return path; each send goes out as bounces+<send id>-<signature>@... "
        "(VERP) so a bounce names its send. Default: bounces@<mail_domain>",
    )
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_private_key: Path | None = Field(
        default=None, description="PEM file of the DKIM key; signing is on when set"
    )
    bounce_mailbox: str = Field(
        default="",
        description="Where bounces and complaints arrive: pop3://user:pass@host:port or "
        "imap://... (pop3s, imaps for TLS); read on a schedule. Empty: not read",
    )
    bounce_check_every: float = Field(default=300, gt=0, description="Seconds")
    send_rate_per_worker: float = Field(
        default=0, ge=0, description="Mails per second per worker process; 0: no limit"
    )
    send_rate_total: float = Field(
        default=0, ge=0, description="Mails per second over all workers; 0: no limit"
    )

    # What becomes of a send a crash left `uncertain` (maybe delivered): `keep` lists it
    # for an operator (GET /sends?status=uncertain, then resend or dismiss); `resend`
    # sends it again, same Message-ID, at the next trip-sync run (every 5 minutes).
    uncertain_sends: Literal["keep", "resend"] = "keep"

    # Templates render in child processes that are stopped past these limits.
    render_processes: int = Field(default=2, ge=1, le=32)
    render_timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds per render")
    render_memory_mb: int = Field(
        default=512, ge=128, description="Address space per render process, in MiB"
    )

    # The journey works on the CRM (README "Relations, groups, imports and exports").
    export_dir: Path | None = Field(
        default=None,
        description="Where export steps write their CSV files; default: data_dir/exports. "
        "Every worker and API process must see the same directory",
    )
    import_dir: Path | None = Field(
        default=None,
        description="Where uploaded CSV imports are kept and where import steps read "
        "their files; default: data_dir/imports",
    )
    max_import_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1024, description="Largest CSV upload accepted"
    )
    token_keys: list[str] = Field(
        default=[],
        description="Keys of the encrypted relation tokens (encrypt step, `encrypt` in "
        "templates), newest first (JSON list of Fernet keys): tokens are made with the "
        "first and read with any, so a key is rotated by putting a new one in front. "
        "Default: one key derived from the secret key",
    )

    @field_validator("token_keys")
    @classmethod
    def _fernet_keys(cls, value: list[str]) -> list[str]:
        # Refused at start-up; our message names the key by its position, not its text.
        for position, key in enumerate(value):
            problem = relation_tokens.key_problem(key)
            if problem is not None:
                raise ValueError(
                    f"key {position + 1}: {problem}; make one with `python -c 'from "
                    "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
                )
        return value

    def relation_token_keys(self) -> list[str]:
        """The relation-token keys, newest first: `token_keys`, else one derived from
        the secret key (so `reisplan dev` needs no configuration)."""
        return relation_tokens.keys_of(self.token_keys, self.signing_key())

    # Set by `reisplan dev`: the local SMTP sink stores mail here and the API shows it.
    mail_sink_dir: Path | None = None

    @model_validator(mode="after")
    def _default_database_in_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'reisplan.db'}"
        if not self.list_id:
            self.list_id = f"journeys.{self.mail_domain}"
        if not self.bounce_address:
            self.bounce_address = f"bounces@{self.mail_domain}"
        if self.export_dir is None:
            self.export_dir = self.data_dir / "exports"
        if self.import_dir is None:
            self.import_dir = self.data_dir / "imports"
        return self

    def signing_key(self) -> bytes:
        """The secret for tokens: the setting, else a file made once under data_dir (so
        the API and the workers of `reisplan dev` agree without configuration)."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then linked into place: a process starting at the same
            # moment either wins the link or reads the winner's complete key.
            draft = path.with_name(f".secret.{os.getpid()}")
            draft.write_text(secrets.token_urlsafe(32))
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
            draft.unlink()
        return path.read_text().strip().encode()

    # `reisplan dev` starts this many worker processes on the one task queue: one Python
    # process (one GIL) is what limits a trip rate on the embedded set-up.
    dev_workers: int = Field(default=1, ge=1, le=16)

    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 200
    max_cached_workflows: int = 2000
