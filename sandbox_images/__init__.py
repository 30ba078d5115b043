"""Sandbox images: Dockerfiles per sandbox type, the shared tool server, and their build."""
