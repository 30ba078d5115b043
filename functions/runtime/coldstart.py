"""A function instance's start: its handler module imports and builds its app in here.

CPython's cyclic garbage collector runs whenever allocations outnumber deallocations by a
threshold (700 objects), and each run walks the young objects, each third one the older
ones too: while hundreds of modules import (FastAPI, pydantic, ours) it walks what every
import made, again and again, and finds next to nothing to free. Measured here, that is
about 25 ms of a 300 ms cold start. Nothing built at start (modules, classes, the app) is
garbage later, so the collector is off while the handler imports, and what was built is
then frozen (``gc.freeze``): later collections, during requests, no longer walk it either.

FastAPI refuses pydantic.v1 models: for each route parameter and response model it asks
whether the annotation is a ``pydantic.v1.BaseModel``, and imports ``pydantic.v1`` (23
modules, about 13 ms) to ask. No class can be a v1 model while ``pydantic.v1`` is not
loaded, so until it is, the answer is no without the import; once anything loads it,
FastAPI's own check runs as before (:func:`check_pydantic_v1_once_loaded`).

Use, at the top of a handler module::

    from functions.runtime.coldstart import starting

    with starting():
        from functions.query.app import create_app
        app = create_app()
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

# FastAPI's checks (module, name) that import pydantic.v1 to answer; 0.120 to 0.165 at least
_V1_CHECKS = (
    ("fastapi.utils", "annotation_is_pydantic_v1"),
    ("fastapi.encoders", "is_pydantic_v1_model_instance"),
)


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """The collector off inside, on again after (however the block ends), and what the
    block built frozen out of later collections. A collector someone turned off before is
    left off."""
    was_on = gc.isenabled()
    gc.disable()
    check_pydantic_v1_once_loaded()
    try:
        yield
    finally:
        gc.freeze()
        if was_on:
            gc.enable()


def check_pydantic_v1_once_loaded() -> None:
    """FastAPI's pydantic.v1 checks answered "no" while ``pydantic.v1`` is not imported,
    and by FastAPI itself once it is. Idempotent; a FastAPI without the checks is left as
    it is."""
    for module_name, name in _V1_CHECKS:
        module = importlib.import_module(module_name)
        check = getattr(module, name, None)
        if check is not None and not getattr(check, "once_loaded", False):
            setattr(module, name, _once_loaded(check))


def _once_loaded(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    @functools.wraps(check)
    def guarded(obj: Any) -> bool:
        return "pydantic.v1" in sys.modules and check(obj)

    guarded.once_loaded = True  # type: ignore[attr-defined]
    return guarded
