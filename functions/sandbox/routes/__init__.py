"""The sandbox function's routers: lifecycle, tools and workspace files, the reaper."""
