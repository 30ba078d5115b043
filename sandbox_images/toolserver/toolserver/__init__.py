"""The tool server that runs inside every sandbox image (standard library only)."""
