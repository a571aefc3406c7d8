"""One render pool for the whole test run: its child processes take a fraction of a
second to start, and most tests start a worker."""

from __future__ import annotations

import atexit
import functools

from activities.mail.render_pool import RenderPool
from activities.relation_tokens import keys_of


@functools.cache
def shared_render_pool() -> RenderPool:
    # A short limit: the template-bomb tests wait for it, a normal render takes ms.
    from tests.api.support import TEST_SIGNING_KEY  # here: that module imports this one

    # Keyed as the test apps' settings are, so templates may call `encrypt(...)`.
    pool = RenderPool(processes=2, timeout=2.0, token_keys=keys_of((), TEST_SIGNING_KEY))
    atexit.register(pool.close)
    return pool
