"""CPU time of each stage of a send, without a profiler's distortion.

cProfile charges its own overhead per Python call, so code made of many small calls
(SQLAlchemy, the email package) looks far costlier next to one long C call (the RSA
`pow`) than it is. Here the stages of the real send path are timed with each thread's
CPU clock instead, one send at a time (no GIL contention), by wrapping the functions that
do them for the duration of one phase: the ledger functions, compose, the renderer, the
DKIM signer and the activity's final write. Nothing is changed but the clock around them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar
from unittest import mock

from activities import send as send_module
from activities.contracts import SendEmailInput, SendEmailResult
from activities.mail.dkim import DkimSigner
from activities.mail.outgoing import Sender
from activities.mail.outgoing import compose as shipped_compose
from activities.mail.render import RenderedMail, Rendering, TemplateSource
from activities.send import SendActivities
from store import ledger

P = ParamSpec("P")
R = TypeVar("R")

STAGES = {
    "claim": "ledger claim: path write, relation and template read, checks, policy, insert",
    "render": "render: Jinja, CSS inlined, text part",
    "compose": "compose: tracked links, pixel, unsubscribe, MIME",
    "dkim": "DKIM signature",
    "transmitting": "ledger: mark transmitting",
    "settle": "ledger: settle as sent",
    "end": "passage outcome and trip end",
}


class StageClock:
    """Thread CPU seconds per stage, summed over the sends."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def timed(self, stage: str, fn: Callable[P, R]) -> Callable[P, R]:
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            began = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(stage, time.thread_time() - began)

        return run


class _TimedRenderer:
    def __init__(self, inner: Rendering, clock: StageClock) -> None:
        self._render = clock.timed("render", inner.render)

    def render(self, source: TemplateSource, context: Mapping[str, Any]) -> RenderedMail:
        return self._render(source, context)


class _TimedSigner(DkimSigner):
    def __init__(self, inner: DkimSigner, clock: StageClock) -> None:
        self.__dict__.update(inner.__dict__)
        self._sign = clock.timed("dkim", inner.sign)

    def sign(self, message: bytes) -> bytes:
        return self._sign(message)


class _TimedSends(SendActivities):
    """The activity as shipped; only its final write is timed."""

    clock: StageClock

    def _end(
        self, data: SendEmailInput, result: SendEmailResult, entry: ledger.LedgerEntry
    ) -> None:
        self.clock.timed("end", super()._end)(data, result, entry)


@contextmanager
def timed_path(
    clock: StageClock, renderer: Rendering, sender: Sender
) -> Iterator[tuple[type[SendActivities], Rendering, Sender]]:
    """The activity class, renderer and sender to build the phase's activity from, with
    the module-level functions it calls wrapped while the block runs."""
    timed_sender = replace(
        sender, dkim=None if sender.dkim is None else _TimedSigner(sender.dkim, clock)
    )

    def compose_alone(*args: Any, **kwargs: Any) -> Any:
        # compose signs at its end: its own time is what the signer did not take.
        began_dkim = clock.seconds["dkim"]
        began = time.thread_time()
        try:
            return shipped_compose(*args, **kwargs)
        finally:
            spent = time.thread_time() - began
            clock.add("compose", spent - (clock.seconds["dkim"] - began_dkim))

    _TimedSends.clock = clock
    with ExitStack() as patches:
        # send.py imported compose by name: its module attribute is what it calls.
        patches.enter_context(mock.patch.object(send_module, "compose", compose_alone))
        for stage, name in (
            ("claim", "claim"),
            ("transmitting", "start_transmitting"),
            ("settle", "settle"),
        ):
            patches.enter_context(
                mock.patch.object(ledger, name, clock.timed(stage, getattr(ledger, name)))
            )
        yield _TimedSends, _TimedRenderer(renderer, clock), timed_sender
