"""The base of the functions' HTTP models (request bodies, answers, error bodies): pydantic
builds a model's validator, serializer and schema where the model is first used, not when
its module is imported (pydantic's ``defer_build``).

Why: a function declares tens of such models, and FastAPI makes a type adapter of each one
a route names. Built at import, they were a third of what the sandbox function adds to
``import fastapi`` (``benchmarks/cold_start.py``); deferred, a cold start builds what its
first request touches and ``/openapi.json`` the rest. Validation, errors and schemas are
the same. Models every turn uses (``protocol.py``) are built at import as before: the
first request would build them anyway.
"""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A pydantic model built on first use (see the module's docstring)."""

    model_config = ConfigDict(defer_build=True)
