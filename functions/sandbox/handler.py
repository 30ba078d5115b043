"""Entry points of the sandbox function: ``app`` for FC (uvicorn) and ``lambda_handler``."""

from functions.runtime.coldstart import starting

with starting():  # the collector off while the function starts (coldstart.py)
    from functions.runtime.entrypoints import lambda_handler_for
    from functions.sandbox.app import create_app

    app = create_app()
    lambda_handler = lambda_handler_for(app)
