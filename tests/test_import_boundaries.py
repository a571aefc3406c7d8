"""Imports flow one way: domain <- store <- activities <- workflows (contracts only) <- worker/api.

A workflow module that imported a database or SMTP library would be re-imported by the
Temporal sandbox for every run (a worker measured at 9.4 GiB with 300 trips that way); a
domain module that imported the store would no longer be pure. Workflow and domain
modules are passed through the sandbox, so its clock and randomness guards do not reach
them: this test also refuses the clock and randomness there. It reads every module with
`ast`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("domain", "store", "activities", "workflows", "api", "worker")

# package -> which of our modules it may import (prefix match on dotted names).
ALLOWED: dict[str, tuple[str, ...]] = {
    "domain": ("domain",),
    "store": ("domain", "store"),
    "activities": ("domain", "store", "activities"),
    "workflows": ("domain", "activities.contracts", "workflows"),
    "api": ("domain", "store", "activities", "api"),
    "worker": OURS,
}
# Third-party libraries a workflow module must never import, even indirectly named.
WORKFLOW_FORBIDDEN = ("sqlmodel", "sqlalchemy", "aiosmtplib", "fastapi", "jinja2", "alembic")
# Nondeterminism a workflow (or the pure code it runs) must get from `temporalio.workflow`
# instead: workflow.now(), workflow.random(), workflow.uuid4().
NONDETERMINISTIC_MODULES = ("random", "time", "uuid", "secrets")
NONDETERMINISTIC_CALLS = ("now", "utcnow", "today")


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line} imports {self.module}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, source: str | None = None) -> Iterator[Import]:
    """Every module named by an import statement, anywhere in the file (also in functions
    and TYPE_CHECKING blocks: those are dependencies too). Relative imports are resolved."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(path, node.lineno, target)
            # `from activities import send` names the module activities.send.
            for alias in node.names:
                yield Import(path, node.lineno, f"{target}.{alias.name}")


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(package: str, path: Path, source: str | None = None) -> list[str]:
    found: list[str] = []
    imports = list(imports_of(path, source))
    for imp in imports:
        if not any(_matches(imp.module, p) for p in OURS):
            continue
        allowed = ALLOWED[package]
        # `from activities import contracts` also yields the bare "activities".
        if imp.module in OURS and any(a.startswith(imp.module + ".") for a in allowed):
            continue
        if not any(_matches(imp.module, a) for a in allowed):
            found.append(f"{imp} ({package}/ may import only {', '.join(allowed)})")
    if package == "workflows":
        for imp in imports:
            if any(_matches(imp.module, lib) for lib in WORKFLOW_FORBIDDEN):
                found.append(f"{imp} (workflows must stay free of I/O libraries)")
    if package in ("workflows", "domain"):
        found.extend(_nondeterminism(path, source))
    return sorted(set(found))


def _nondeterminism(path: Path, source: str | None) -> Iterator[str]:
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    where = path.relative_to(ROOT)
    for imp in imports_of(path, source):
        if any(_matches(imp.module, m) for m in NONDETERMINISTIC_MODULES):
            yield f"{imp} (use temporalio.workflow for time and randomness)"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in NONDETERMINISTIC_CALLS
            and not (isinstance(node.value, ast.Name) and node.value.id == "workflow")
        ):
            yield f"{where}:{node.lineno} reads the clock (.{node.attr}): use workflow.now()"


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", OURS)
def test_imports_respect_the_layering(package: str) -> None:
    files = [f for f in _files(package) if "migrations/versions" not in f.as_posix()]
    if package == "api" and not files:
        pytest.skip("api/ has no modules yet")
    assert files, f"{package}/ has no Python files: the check would prove nothing"
    problems = [v for f in files for v in violations(package, f)]
    assert not problems, "forbidden imports:\n  " + "\n  ".join(problems)


def test_the_checker_catches_what_it_must() -> None:
    """The rules above fail on real mistakes (so a passing run means something)."""
    fake = ROOT / "workflows" / "fake.py"
    source = (
        "import sqlalchemy\n"
        "from activities.contracts import TASK_QUEUE\n"
        "from activities import send\n"
        "def later():\n"
        "    from store.db import make_engine\n"
    )
    problems = violations("workflows", fake, source)
    assert any("workflows/fake.py:1 imports sqlalchemy" in p for p in problems)
    assert any("workflows/fake.py:3 imports activities.send" in p for p in problems)
    assert any("workflows/fake.py:5 imports store.db" in p for p in problems)
    assert not any("activities.contracts" in p and ":2 " in p for p in problems)

    relative = violations("domain", ROOT / "domain" / "x.py", "from ..store import db\n")
    assert relative == [
        "domain/x.py:1 imports store (domain/ may import only domain)",
        "domain/x.py:1 imports store.db (domain/ may import only domain)",
    ]
    assert violations("api", ROOT / "api" / "x.py", "import worker.cli\n")

    clock = violations(
        "workflows", fake, "import time\nfrom datetime import datetime\nx = datetime.now()\n"
    )
    assert any(":1 imports time" in p for p in clock)
    assert any(":3 reads the clock (.now)" in p for p in clock)
