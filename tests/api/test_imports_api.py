"""CSV imports through the API with a real worker: each row makes, updates or is refused
with the right relation, progress is readable while it runs, and a bad upload is
refused before anything is imported (a 422 naming the column or field, a 413 above the
import limit while every other route keeps its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from store import relations
from store.keys import Scope
from tests.api.support import eventually, keyed_client, make_app, new_key, ok, sqlite_only
from tests.conftest import make_settings, running_worker
from tests.support.smtp import SmtpSink

MAX_BODY = 4096
MAX_IMPORT = 64 * 1024
QUERY = "name=members.csv&map=E-mail:email&map=Voornaam:first_name&map=Lid:member&unique=email"
PEOPLE = 150  # enough rows to be larger than the API's usual body limit


def _app(engine: Engine, env: WorkflowEnvironment, task_queue: str, directory: Path) -> Any:
    return make_app(
        engine=engine,
        temporal=env.client,
        task_queue=task_queue,
        import_dir=directory,
        max_import_bytes=MAX_IMPORT,
        max_body_bytes=MAX_BODY,
    )


@pytest.fixture
def import_dir(tmp_path: Path) -> Path:
    return tmp_path / "imports"


@pytest.fixture
async def importer(
    api_engine: Engine,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    db_url: str,
    smtp_sink: SmtpSink,
    import_dir: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    """An operator's client of an app with a worker that reads the same directory."""
    settings = make_settings(db_url, smtp_sink, task_queue=task_queue, import_dir=import_dir)
    app = _app(api_engine, dev_env, task_queue, import_dir)
    async with (
        running_worker(dev_env.client, api_engine, settings),
        keyed_client(app, new_key(api_engine, Scope.operator)) as client,
    ):
        yield client


def _csv() -> bytes:
    rows = [
        "E-mail;Voornaam;Lid",
        "anna@example.org;Anna;ja",  # 1: updates the relation that was there
        "bob@example.org;Bob;",  # 2: new
        "bob@@example.org;Bobby;",  # 3: refused
        *(f"person{i}@example.org;P{i};" for i in range(PEOPLE)),  # 4..: new
    ]
    return "\r\n".join(rows).encode("utf-8-sig")


async def test_an_upload_makes_updates_and_refuses_rows_with_the_right_relations(
    importer: httpx.AsyncClient, api_engine: Engine, import_dir: Path
) -> None:
    with Session(api_engine) as session:
        anna = relations.create(session, {"email": "Anna@Example.org", "first_name": "Ann"})
    body = _csv()
    assert len(body) > MAX_BODY
    job = await ok(
        importer.post(f"/imports?{QUERY}", content=body, headers={"Content-Type": "text/csv"}),
        202,
    )
    assert (job["name"], job["status"], job["map"]["Lid"]) == ("members.csv", "queued", "member")

    async def progress() -> dict[str, Any]:
        found: dict[str, Any] = await ok(importer.get(f"/imports/{job['id']}"))
        return found

    done = await eventually(progress, lambda j: j["status"] == "finished", what="the import")
    assert {k: done[k] for k in ("total", "processed", "new", "updated", "invalid", "percent")} == {
        "total": PEOPLE + 3,
        "processed": PEOPLE + 3,
        "new": PEOPLE + 1,
        "updated": 1,
        "invalid": 1,
        "percent": 100.0,
    }

    # The uploaded file (personal data) is gone once its import is done (the batch's
    # activity deletes it right after committing the job's end).
    async def uploads() -> list[Path]:
        return list((import_dir / "uploads").glob("*"))

    await eventually(uploads, lambda found: not found, what="the upload's removal")
    listed = await ok(importer.get("/imports"))
    assert [j["id"] for j in listed["data"]] == [job["id"]]

    refused = await ok(importer.get(f"/imports/{job['id']}/rows?outcome=invalid"))
    assert refused == {
        "data": [
            {
                "row": 3,
                "outcome": "invalid",
                "relation_id": None,
                "error": "email: takes an email address",
            }
        ],
        "count": 1,
    }
    rows = await ok(importer.get(f"/imports/{job['id']}/rows?limit=2"))
    with Session(api_engine) as session:
        updated = relations.get(session, anna.id or 0)
        [bob], _ = relations.list_page(session, email="bob@example.org")
        assert (updated.first_name, updated.custom) == ("Anna", {"member": "ja"})
        assert relations.list_page(session)[1] == PEOPLE + 2
    assert rows["data"] == [
        {"row": 1, "outcome": "updated", "relation_id": anna.id, "error": None},
        {"row": 2, "outcome": "new", "relation_id": bob.id, "error": None},
    ]


@sqlite_only
async def test_a_bad_upload_is_refused_before_anything_is_imported(
    api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str, import_dir: Path
) -> None:
    app = _app(api_engine, dev_env, task_queue, import_dir)
    csv = {"Content-Type": "text/csv"}
    async with keyed_client(app, new_key(api_engine, Scope.operator)) as operator:
        wrong_header = await operator.post(
            f"/imports?{QUERY}", content=b"Email;Voornaam;Lid\r\na@example.org;A;\r\n", headers=csv
        )
        assert wrong_header.status_code == 422
        [problem] = wrong_header.json()["detail"]
        assert problem["loc"] == ["body"]
        assert problem["msg"].startswith("column 'E-mail' is not in the file's header")

        # Excel for Mac's "CSV (Macintosh)": lines end in CR only.
        mac = await operator.post(
            f"/imports?{QUERY}", content=b"E-mail;Voornaam;Lid\ra@example.org;A;\r", headers=csv
        )
        assert mac.status_code == 422
        assert "end in CR only" in mac.json()["detail"][0]["msg"]
        open_quote = await operator.post(
            f"/imports?{QUERY}",
            content=b'E-mail;"Voornaam;Lid\r\n' + b"x;y;z\r\n" * 50,
            headers=csv,
        )
        assert open_quote.status_code == 422
        assert open_quote.json()["detail"][0]["msg"].startswith("the header cannot be read as CSV")

        unknown = await operator.post(
            "/imports?map=E-mail:email&map=Sinds:created_at&unique=first_name",
            content=_csv(),
            headers=csv,
        )
        assert unknown.status_code == 422
        assert [(p["loc"], p["msg"]) for p in unknown.json()["detail"]] == [
            (["query", "map"], "column 'Sinds': 'created_at' cannot be written"),
            (["query", "unique"], "unique field 'first_name' is not among the mapped fields"),
        ]

        huge = _csv() + b"\r\n" + b"x" * MAX_IMPORT
        too_large = await operator.post(f"/imports?{QUERY}", content=huge, headers=csv)
        assert too_large.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            # Sent without a length: counted as it arrives, the part stored so far removed.
            for start in range(0, len(huge), 8192):
                yield huge[start : start + 8192]

        streamed = await operator.post(f"/imports?{QUERY}", content=chunks(), headers=csv)
        assert streamed.status_code == 413, streamed.text
        # Every other route keeps the usual limit.
        padded = {"email": "a@example.org", "custom": {"note": "x" * MAX_BODY}}
        assert (await operator.post("/relations", json=padded)).status_code == 413

        assert (await ok(operator.get("/imports")))["count"] == 0
    # Nothing refused stays on disk.
    assert not list((import_dir / "uploads").glob("*"))
    async with keyed_client(app, new_key(api_engine, Scope.support)) as support:
        forbidden = await support.post(f"/imports?{QUERY}", content=_csv(), headers=csv)
        assert forbidden.status_code == 403
