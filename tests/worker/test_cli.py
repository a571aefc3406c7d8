"""The `reisplan` commands that need no Temporal server, run as separate processes."""

from __future__ import annotations

import mailbox
import signal
import smtplib
import socket
import sqlite3
import subprocess
import textwrap
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.smtp import free_port
from tests.worker.cli_support import cli, cli_env, run_cli, wait_for_port
from worker.startup import require_schema_at_head


def test_migrate_creates_the_database_with_its_directory(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "reisplan.db"
    env = cli_env(tmp_path, database_url=f"sqlite:///{db}")

    first = run_cli("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "is at the current schema" in first.stdout
    assert db.exists()
    require_schema_at_head(f"sqlite:///{db}")  # raises if not

    again = run_cli("migrate", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("command", ["worker", "api"])
def test_refuses_to_start_on_a_database_that_was_never_migrated(
    tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "missing.db"
    # Temporal is not running at this address: the schema check must come first.
    env = cli_env(
        tmp_path, database_url=f"sqlite:///{missing}", temporal_address=f"127.0.0.1:{free_port()}"
    )
    result = run_cli(command, env=env, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "Run `reisplan migrate` first" in result.stderr
    assert not missing.exists(), "the check must not create an empty database file"

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE unrelated (x INTEGER)").connection.close()
    env["REISPLAN_DATABASE_URL"] = f"sqlite:///{empty}"
    result = run_cli(command, env=env, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "not at the current schema" in result.stderr
    assert "no migrations applied" in result.stderr
    assert "Run `reisplan migrate` first" in result.stderr


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    env = cli_env(tmp_path, api_port="eighty")
    result = run_cli("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "invalid configuration: REISPLAN_API_PORT" in result.stderr


def test_journey_validate_names_the_step_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "welcome.yaml"
    broken.write_text(
        textwrap.dedent(
            """\
            name: Welcome
            steps:
              - {id: welcome, type: send_email, template: welcome}
              - {id: wait_week, type: wait, duration: seven days}
              - {id: nudge, type: send_email, template: nudge}
            """
        )
    )
    result = run_cli("journey", "validate", str(broken), env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "1 problem" in result.stdout
    assert "step 'wait_week' duration:" in result.stdout

    graph = tmp_path / "graph.json"
    graph.write_text(
        '{"name": "Loop", "steps": [{"id": "a", "type": "send_email", "template": "t"},'
        ' {"id": "b", "type": "jump", "target": "nowhere"}]}'
    )
    result = run_cli("journey", "validate", str(graph), env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "target: step 'b': target refers to unknown step 'nowhere'" in result.stdout
    assert "step 'b' target: step 'b'" not in result.stdout  # the step is named once

    good = tmp_path / "good.yaml"
    good.write_text(broken.read_text().replace("seven days", "P7D"))
    result = run_cli("journey", "validate", str(good), env=cli_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "is valid: 3 steps, templates used: nudge, welcome" in result.stdout


def test_mail_sink_keeps_each_message_and_logs_it(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "mail"
    env = cli_env(tmp_path, smtp_port=port, mail_sink_dir=maildir)
    process = subprocess.Popen(
        cli("mail-sink"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=20, process=process)
        message = EmailMessage()
        message["From"] = "journeys@example.org"
        message["To"] = "Anna <anna@example.org>"
        message["Subject"] = "Welkom, Anna"
        message.set_content("Fijn dat je er bent.")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
            # A hard bounce, as a receiving server refuses an unknown mailbox.
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                smtp.send_message(message, to_addrs=["Bounce.me@example.org"])
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output

    stored = list(mailbox.Maildir(maildir, create=False))
    assert [m["Subject"] for m in stored] == ["Welkom, Anna"]
    assert "received mail to anna@example.org: Welkom, Anna" in output
    [(code, reason)] = refused.value.recipients.values()
    assert code == 550 and reason.startswith(b"5.1.1 <Bounce.me@example.org>")
    assert output.count("received mail") == 1


def test_dev_refuses_to_start_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api_port = taken.getsockname()[1]
        env = cli_env(
            tmp_path,
            api_port=api_port,
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            smtp_port=free_port(),
        )
        result = run_cli("dev", env=env, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert f"API port 127.0.0.1:{api_port}" in result.stderr
    assert "REISPLAN_API_PORT" in result.stderr
