"""Platform entry points around a function's ASGI app.

AWS Lambda calls ``lambda_handler(event, context)``; Function Compute's custom runtime runs
the same ASGI ``app`` under uvicorn on port 9000. Mangum is imported on the first invocation,
not at import, so it never weighs on the cold start of other platforms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def lambda_handler_for(app: Any) -> Callable[[dict, Any], dict]:
    adapter: Any = None

    def lambda_handler(event: dict, context: Any) -> dict:
        nonlocal adapter
        if adapter is None:
            from mangum import Mangum

            adapter = Mangum(app, lifespan="auto")
        return adapter(event, context)

    return lambda_handler
