"""The ``agentscope-faas`` command line (``main.py``): chat and invoke the agent, sessions
and sandboxes, and running things here (the emulator, the sandbox function alone, the
playground page, the builds). Not shipped in any function's zip."""
