"""Configuration from the environment (prefix REISPLAN_) or a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.contracts import TASK_QUEUE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REISPLAN_", env_file=".env", extra="ignore")

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

    # Set by `reisplan dev`: the local SMTP sink stores mail here and the API shows it.
    mail_sink_dir: Path | None = None

    @model_validator(mode="after")
    def _default_database_in_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'reisplan.db'}"
        return self

    # `reisplan dev` starts this many worker processes on the one task queue: one Python
    # process (one GIL) is what limits a trip rate on the embedded set-up.
    dev_workers: int = Field(default=1, ge=1, le=16)

    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 200
    max_cached_workflows: int = 2000
