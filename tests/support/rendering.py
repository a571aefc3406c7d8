"""One render pool for the whole test run: its child processes take a fraction of a
second to start, and most tests start a worker."""

from __future__ import annotations

import atexit
import functools

from activities.mail.render_pool import RenderPool


@functools.cache
def shared_render_pool() -> RenderPool:
    # A short limit: the template-bomb tests wait for it, a normal render takes ms.
    pool = RenderPool(processes=2, timeout=2.0)
    atexit.register(pool.close)
    return pool
