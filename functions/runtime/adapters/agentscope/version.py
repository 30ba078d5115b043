"""Which agentscope is installed: its major decides every conversion."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def major() -> int:
    """The installed agentscope's major version (1 or 2)."""
    import agentscope

    return int(str(agentscope.__version__).split(".")[0])
