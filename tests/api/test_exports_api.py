"""The files export steps wrote, through the API: listed and downloaded by operators
only (they hold personal data), 404 when a file is gone."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy.engine import Engine

from store.db import session_scope
from store.keys import Scope
from store.models import ExportFile, Journey
from tests.api.support import keyed_client, make_app, new_key


def _file(engine: Engine, export_dir: Path, bucket: str, content: str) -> tuple[int, int]:
    """A journey and one export file of its step `bounced`: (journey id, file id)."""
    with session_scope(engine) as session:
        journey = Journey(name="Bounces", status="active", definition={}, active_version=1)
        session.add(journey)
        session.flush()
        assert journey.id is not None
        relative = f"{journey.id}/bounced/bounces-bounced-{bucket}.csv"
        file = ExportFile(
            journey_id=journey.id, step_id="bounced", bucket=bucket, path=relative, rows=1
        )
        session.add(file)
        session.flush()
        assert file.id is not None
        target = export_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return journey.id, file.id


async def test_an_operator_lists_and_downloads_export_files_and_an_app_key_may_not(
    api_engine: Engine, tmp_path: Path
) -> None:
    export_dir = tmp_path / "exports"
    journey_id, file_id = _file(
        api_engine, export_dir, "2027-03-01", "id,email\r\n1,ann@example.org\r\n"
    )
    _other, gone_id = _file(api_engine, export_dir, "2027-03-02", "id\r\n2\r\n")
    (export_dir / f"{_other}/bounced/bounces-bounced-2027-03-02.csv").unlink()
    # No route of this router reaches Temporal.
    app = make_app(engine=api_engine, temporal=None, task_queue="unused", export_dir=export_dir)
    operator = new_key(api_engine, Scope.operator)
    app_key = new_key(api_engine, Scope.app)

    async with keyed_client(app, operator) as client:
        listed = await client.get("/exports", params={"journey_id": journey_id})
        assert listed.status_code == 200, listed.text
        assert listed.json()["count"] == 1
        (shown,) = listed.json()["data"]
        assert {k: shown[k] for k in ("id", "journey_id", "step_id", "bucket", "part", "rows")} == {
            "id": file_id,
            "journey_id": journey_id,
            "step_id": "bounced",
            "bucket": "2027-03-01",
            "part": 1,
            "rows": 1,
        }
        assert (await client.get("/exports")).json()["count"] == 2
        assert (await client.get(f"/exports/{file_id}")).json()["bucket"] == "2027-03-01"

        download = await client.get(f"/exports/{file_id}/download")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert (
            'filename="bounces-bounced-2027-03-01.csv"' in download.headers["content-disposition"]
        )
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert rows == [{"id": "1", "email": "ann@example.org"}]

        gone = await client.get(f"/exports/{gone_id}/download")
        assert gone.status_code == 404
        assert (await client.get("/exports/999999")).status_code == 404

    async with keyed_client(app, app_key) as client:
        refused = await client.get(f"/exports/{file_id}/download")
        assert refused.status_code == 403
        assert "operator" in refused.json()["detail"]
        assert (await client.get("/exports")).status_code == 403
