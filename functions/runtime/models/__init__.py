"""Model clients agents stream from; ``get_model(settings)`` picks one from the settings.

Importing this package stays cheap: the ``openai`` SDK (and its HTTP stack) loads only when
a real model is first called.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from ..settings import secret_value
from .base import (
    GENERATION_PARAMS,
    ChatModel,
    ModelError,
    ReasoningDelta,
    StreamItem,
    TextDelta,
    ToolCall,
    Usage,
)
from .offline import OfflineDemoModel

if TYPE_CHECKING:
    from ..settings import Settings
    from .openai_compat import OpenAICompatModel

__all__ = [
    "GENERATION_PARAMS",
    "ChatModel",
    "ModelError",
    "OfflineDemoModel",
    "OpenAICompatModel",
    "ReasoningDelta",
    "StreamItem",
    "TextDelta",
    "ToolCall",
    "Usage",
    "get_model",
]

log = logging.getLogger("agentscope_faas")

# Local servers (vLLM, Ollama) ignore the key, but the SDK insists on one.
PLACEHOLDER_API_KEY = "EMPTY"


@lru_cache(maxsize=16)
def _openai_compat(base_url: str, api_key: str, model: str, timeout_s: float) -> OpenAICompatModel:
    # One instance per configuration keeps its connection pool warm across the invocations
    # a warm function instance serves, instead of a TLS handshake per request.
    from .openai_compat import OpenAICompatModel

    return OpenAICompatModel(base_url, api_key, model, timeout_s)


def __getattr__(name: str) -> object:
    # the client module loads when first named, not with the offline model a cold start uses
    if name == "OpenAICompatModel":
        from .openai_compat import OpenAICompatModel

        return OpenAICompatModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_model(settings: Settings, model: str | None = None) -> ChatModel:
    """The configured model: an OpenAI-compatible endpoint when ``MODEL_BASE_URL`` is set,
    else the offline demo model. ``model`` (a request's ``model`` field) overrides
    ``MODEL_NAME``."""
    if not settings.model_base_url:
        if settings.model_api_key is not None:
            log.warning("MODEL_API_KEY is set but MODEL_BASE_URL is not: using the offline model")
        return OfflineDemoModel()
    api_key = secret_value(settings.model_api_key) or ""
    return _openai_compat(
        settings.model_base_url,
        api_key or PLACEHOLDER_API_KEY,
        model or settings.model_name,
        settings.model_timeout_s,
    )
