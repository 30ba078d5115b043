"""Entry points of the query function: ``app`` for FC (uvicorn) and ``lambda_handler``."""

from functions.runtime.coldstart import starting

with starting():  # the collector off while the function starts (coldstart.py)
    from functions.query.app import create_app
    from functions.runtime.entrypoints import lambda_handler_for

    app = create_app()
    lambda_handler = lambda_handler_for(app)
