"""Entry points of the state function: ``app`` for FC (uvicorn) and ``lambda_handler``.

Importing this builds the app but opens no store: the store client (and boto3 / oss2 with
it) is created on the first request, so the cold start pays only for FastAPI.
"""

from functions.runtime.coldstart import starting

with starting():  # the collector off while the function starts (coldstart.py)
    from functions.runtime.entrypoints import lambda_handler_for
    from functions.state.app import create_app

    app = create_app()
    lambda_handler = lambda_handler_for(app)
