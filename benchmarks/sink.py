"""A real SMTP server (aiosmtpd, own thread) that only timestamps what it receives.

It does not parse messages: the sink shares the harness's process, and its CPU should
stay out of the figures as far as possible.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aiosmtpd.controller import Controller

from benchmarks.devserver import free_port


class _Handler:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # recipient -> wall time of the DATA reply
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        with self.lock:
            for address in envelope.rcpt_tos:
                # The first arrival counts; a second one would be a double send.
                self.received.setdefault(address.lower(), now)
                self.count += 1
        return "250 Message accepted for delivery"


class TimingSink:
    def __init__(self) -> None:
        self.port = free_port()
        self._handler = _Handler()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> TimingSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def count(self) -> int:
        """Messages received, doubles included."""
        return self._handler.count

    def received(self) -> dict[str, float]:
        with self._handler.lock:
            return dict(self._handler.received)
