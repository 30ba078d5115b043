"""The sandbox function: sandbox lifecycle and tool calls over HTTP."""
