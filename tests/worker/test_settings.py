"""Settings as an operator sets them: from the environment, as docker-compose passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import Settings


def test_an_empty_variable_means_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-compose passes `${REISPLAN_DKIM_PRIVATE_KEY:-}` as an empty string: that must
    # not become the path "." (DKIM on, with no key) or a rate of "".
    monkeypatch.setenv("REISPLAN_DKIM_PRIVATE_KEY", "")
    monkeypatch.setenv("REISPLAN_SEND_RATE_TOTAL", "")
    monkeypatch.setenv("REISPLAN_BOUNCE_MAILBOX", "")
    settings = Settings(secret_key="s")
    assert settings.dkim_private_key is None
    assert settings.send_rate_total == 0
    assert settings.bounce_mailbox == ""


def test_without_a_secret_every_process_of_one_data_dir_gets_the_same_one(
    tmp_path: Path,
) -> None:
    # `reisplan dev` runs the API and the workers as separate processes: a click token the
    # worker signed must verify in the API without any configuration.
    first = Settings(data_dir=tmp_path).signing_key()
    again = Settings(data_dir=tmp_path).signing_key()
    assert first == again and len(first) >= 32
    assert Settings(data_dir=tmp_path / "other").signing_key() != first
    assert Settings(data_dir=tmp_path, secret_key="given").signing_key() == b"given"


def test_defaults_follow_the_mail_domain() -> None:
    settings = Settings(mail_domain="news.example.org", secret_key="s")
    assert settings.list_id == "journeys.news.example.org"
    assert settings.bounce_address == "bounces@news.example.org"
