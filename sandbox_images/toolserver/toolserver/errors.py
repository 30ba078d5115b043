"""The error a tool raises to answer with an error result (``isError: true``)."""

from __future__ import annotations


class ToolError(Exception):
    """A failure to report to the model as the tool's result."""
