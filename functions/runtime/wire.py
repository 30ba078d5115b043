"""The base of the functions' HTTP models (request bodies, answers, error bodies): pydantic
builds a model's validator, serializer and schema where the model is first used, not when
its module is imported (pydantic's ``defer_build``).

Why: a function declares tens of such models, and FastAPI makes a type adapter of each one
a route names. Built at import, they cost the sandbox function about 7 ms of the 45 ms it
adds to ``import fastapi`` (``benchmarks/cold_start.py``); deferred, a cold start builds
what its first request touches and ``/openapi.json`` the rest. Validation, errors and schemas are
the same. Models every turn uses (``protocol.py``) are built at import as before: the
first request would build them anyway.
"""

import warnings

from pydantic import BaseModel, ConfigDict
from pydantic.warnings import UnsupportedFieldAttributeWarning

# FastAPI makes each body's type adapter of ``Annotated[Model, Body(alias=<parameter>)]``
# and silences the warning pydantic gives for that ``alias`` while it builds one. A deferred
# model's adapter is built later, on first use, outside that silence: silenced here too
# (else a process that turns warnings into errors would answer 500 on every such route).
warnings.filterwarnings(
    "ignore", message="The 'alias' attribute with value", category=UnsupportedFieldAttributeWarning
)


class WireModel(BaseModel):
    """A pydantic model built on first use (see the module's docstring)."""

    model_config = ConfigDict(defer_build=True)
