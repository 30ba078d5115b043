"""The query function: the agent app named by ``AGENT_APP``, served by the runtime."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from functions.runtime.app import AgentApp
from functions.runtime.server import build_app
from functions.runtime.settings import Settings, get_settings


def load_agent_app(spec: str) -> AgentApp:
    """``module:attribute`` (the attribute defaults to ``agent_app``) -> the AgentApp."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(f"AGENT_APP={spec!r}: cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attr or "agent_app", None)
    if not isinstance(app, AgentApp):
        raise RuntimeError(f"AGENT_APP={spec!r} does not name an AgentApp instance")
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return build_app(load_agent_app(settings.agent_app), settings)
