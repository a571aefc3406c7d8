"""The API fuzzed from its own OpenAPI schema (schemathesis): no operation answers 5xx,
and every answer conforms to the schema it publishes (status codes documented, bodies
of the documented shape). Bounded so it fits `make test`: a few dozen cases each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import CheckFunction
from schemathesis.core.result import Ok
from schemathesis.specs.openapi import checks
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.security import API_KEY_HEADER
from tests.api.support import TEST_HOST, make_app, new_key, sqlite_only

CASES_PER_OPERATION = 25
# Checks that the schema holds every rule of the API: it cannot say "no NUL characters",
# "16 KiB of custom fields" or "this step id must exist", so a 422 for such input is right.
SEMANTIC: list[CheckFunction] = [checks.positive_data_acceptance, checks.negative_data_rejection]


@sqlite_only
def test_no_operation_fails_or_breaks_its_schema(
    api_engine: Engine, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    app = make_app(
        engine=api_engine,
        temporal=dev_env.client,
        task_queue="fuzz",
        mail_sink_dir=tmp_path / "mail",
        allowed_hosts=[TEST_HOST, "testserver", "localhost"],
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    key = new_key(api_engine)
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the published schema is invalid: {result}"
        operations.append(result.ok())
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Case[Any]) -> None:
            case.call_and_validate(headers={API_KEY_HEADER: key}, excluded_checks=SEMANTIC)

        try:
            fuzz()
        except Exception as error:  # every operation's findings, not only the first
            failures.append(f"{operation.label}: {str(error)[:1500]}")
    assert not failures, "\n\n".join(failures)
