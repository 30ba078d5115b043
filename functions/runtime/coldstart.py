"""A function instance's start: its handler module imports and builds its app in here.

CPython's cyclic garbage collector runs whenever allocations outnumber deallocations by a
threshold (700 objects), and each run walks the young objects, each third one the older
ones too: while hundreds of modules import (FastAPI, pydantic, ours) it walks what every
import made, again and again, and finds next to nothing to free. Measured here, that is
about 25 ms of a 300 ms cold start. Nothing built at start (modules, classes, the app) is
garbage later, so the collector is off while the handler imports, and what was built is
then frozen (``gc.freeze``): later collections, during requests, no longer walk it either.

Use, at the top of a handler module::

    from functions.runtime.coldstart import starting

    with starting():
        from functions.query.app import create_app
        app = create_app()
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """The collector off inside, on again after (however the block ends), and what the
    block built frozen out of later collections. A collector someone turned off before is
    left off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_on:
            gc.enable()
