"""Renders in separate processes with a time and a memory limit.

A template is code its author wrote: the sandbox stops it reaching Python internals, but
not holding the CPU (`{{ [[0]*10**6]*10**6 }}` builds in the limits, then takes minutes
and gigabytes to print) or allocating a huge value in one call (`'a'.ljust(9**9)`).
In the worker's own process that froze every trip (one GIL) and grew it to OOM. Here a
render runs in a child process that holds an address-space limit; one that overruns its
time is killed and replaced (pebble), and the send fails with a reason while the rest
of the worker never notices.

Templates whose cost is provably linear in their input (`activities/mail/bounded.py`:
no loops, calls, arithmetic or size-taking filters) render in the calling process
instead: they cannot run away, and skip the round trip to a child.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pebble import ProcessExpired, ProcessPool

from activities.mail.bounded import is_bounded
from activities.mail.render import RenderedMail, Renderer, RenderError, TemplateSource

DEFAULT_TIMEOUT = 5.0
DEFAULT_MEMORY = 512 * 1024 * 1024

_renderer: Renderer | None = None  # one per child process: its compile cache


def _start_child(memory_bytes: int, token_keys: Sequence[str] = ()) -> None:
    global _renderer
    # Address space, not resident size: a single huge allocation fails at once with a
    # MemoryError instead of first pushing the machine into swap.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    _renderer = Renderer(token_keys=token_keys)


def _ready() -> None:
    pass


def _render(source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail:
    assert _renderer is not None
    try:
        return _renderer.render(source, context)
    except MemoryError:
        raise RenderError(f"template '{source.key}': needs more memory than allowed") from None


_PARSER = ImmutableSandboxedEnvironment()


def _parses_bounded(part: str) -> bool:
    try:
        return is_bounded(_PARSER.parse(part))
    except (TemplateSyntaxError, RecursionError):
        return False  # the child reports it, with its line


class RenderPool:
    """`render` blocks its (thread's) caller until the child answers, fails, or is killed."""

    def __init__(
        self,
        *,
        processes: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
        memory_bytes: int = DEFAULT_MEMORY,
        token_keys: Sequence[str] = (),
    ) -> None:
        """`token_keys`: the relation-token keys for `encrypt(...)` in templates, newest
        first. They reach the render processes as arguments of their start, through the
        pool's own pipe: never through Temporal, whose payloads are stored."""
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self._local = Renderer(token_keys=token_keys)
        self._checked: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()
        # spawn, not fork: forking a process that runs Temporal's threads can copy a lock
        # some thread holds, and the child would wait on it for ever.
        self._pool = ProcessPool(
            max_workers=processes,
            initializer=_start_child,
            initargs=(memory_bytes, tuple(token_keys)),
            context=multiprocessing.get_context("spawn"),
        )
        # Children start on demand; started now, the first mail does not wait ~0.5 s for
        # an interpreter to boot and import Jinja.
        for _ in range(processes):
            self._pool.schedule(_ready)

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail:
        if self._bounded(source):
            return self._local.render(source, context)
        return self._in_child(source, context)

    def _bounded(self, source: TemplateSource) -> bool:
        cache_key = (source.key, source.version)
        with self._lock:
            known = self._checked.get(cache_key)
        if known is None:
            parts = (source.subject, source.mjml or source.html, source.text or "")
            known = all(_parses_bounded(part) for part in parts)
            with self._lock:
                self._checked[cache_key] = known
                if len(self._checked) > 1024:
                    self._checked.pop(next(iter(self._checked)))
        return known

    def _in_child(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail:
        future = self._pool.schedule(_render, args=(source, dict(context)), timeout=self.timeout)
        try:
            result: RenderedMail = future.result()
        except FutureTimeout:
            raise RenderError(
                f"template '{source.key}': rendering took longer than {self.timeout:g} s "
                "and was stopped"
            ) from None
        except ProcessExpired:
            raise RenderError(
                f"template '{source.key}': rendering used more than "
                f"{self.memory_bytes // 2**20} MiB and was stopped"
            ) from None
        return result

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=5)
