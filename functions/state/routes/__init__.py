"""The state function's routers, one module per resource."""
