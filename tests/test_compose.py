"""docker-compose.yml (the production shape) stays consistent with the code.

Docker cannot run here, so this checks what would otherwise only break on someone's
server: the services, their wiring, and the search attributes the trips need.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.contracts import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    result: dict[str, Any] = compose["services"]
    return result


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def _env(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def test_the_production_services_are_all_there(services: dict[str, Any]) -> None:
    temporal = ("temporal", "temporal-setup", "temporal-ui")
    for name in ("postgresql", *temporal, "migrate", "api", "worker"):
        assert name in services, f"docker-compose.yml lacks the {name!r} service"


def test_our_services_share_one_image_and_run_the_cli(services: dict[str, Any]) -> None:
    images = {name: services[name]["image"] for name in ("migrate", "api", "worker")}
    assert len(set(images.values())) == 1, f"api, worker and migrate differ in image: {images}"
    assert _command(services["migrate"]) == ["reisplan", "migrate"]
    assert _command(services["api"]) == ["reisplan", "api"]
    assert _command(services["worker"]) == ["reisplan", "worker"]


@pytest.mark.parametrize("name", ["migrate", "api", "worker"])
def test_our_services_use_postgres_and_the_temporal_service(
    services: dict[str, Any], name: str
) -> None:
    env = _env(services[name])
    url = env["REISPLAN_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://"), url
    assert "@postgresql:5432/" in url, f"{name} does not point at the postgresql service: {url}"
    assert env["REISPLAN_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "REISPLAN_SMTP_HOST" in env


def test_migrations_run_before_api_and_workers(services: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["temporal-setup"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgresql"]


def test_ports_and_scale_out(services: dict[str, Any]) -> None:
    assert "8000:8000" in services["api"]["ports"]
    assert _env(services["api"])["REISPLAN_API_HOST"] == "0.0.0.0"
    assert _env(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert "ports" not in services["worker"], "workers only poll; they need no port"


def test_only_the_api_is_published_to_the_network(services: dict[str, Any]) -> None:
    # Temporal's gRPC port and its UI can terminate any workflow, without a key.
    published = {
        name: service["ports"] for name, service in services.items() if service.get("ports")
    }
    assert published == {"api": ["8000:8000"], "temporal-ui": ["127.0.0.1:8233:8080"]}
    allowed = _env(services["api"])["REISPLAN_ALLOWED_HOSTS"]
    assert json.loads(allowed.removeprefix("${REISPLAN_ALLOWED_HOSTS:-").removesuffix("}")) == [
        "localhost",
        "127.0.0.1",
    ]


def test_temporal_persists_in_postgresql(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    env = _env(temporal)
    assert env["DB"].startswith("postgres")
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["depends_on"]["postgresql"]["condition"] == "service_healthy"


def test_registered_search_attributes_match_the_contract(services: dict[str, Any]) -> None:
    script = " ".join(_command(services["temporal-setup"]))
    registered = dict(re.findall(r"search-attribute create [^&]*--name (\w+) --type (\w+)", script))
    assert registered == SEARCH_ATTRIBUTES


def test_the_image_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
    # Every package the distribution ships must be copied into the image.
    for package in ("domain", "store", "activities", "workflows", "api", "worker"):
        assert f"COPY {package}/ {package}/" in dockerfile, package


def test_the_api_and_the_workers_share_the_token_secret_and_public_url(
    services: dict[str, Any],
) -> None:
    # A click token the worker signed must verify in the API: one secret, required.
    for name in ("api", "worker"):
        env = _env(services[name])
        assert "REISPLAN_SECRET_KEY" in env, f"{name} lacks REISPLAN_SECRET_KEY"
        assert ":?" in str(env["REISPLAN_SECRET_KEY"]), "the secret must be required, no default"
        assert "REISPLAN_PUBLIC_URL" in env
