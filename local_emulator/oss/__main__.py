"""``python -m local_emulator.oss --host 127.0.0.1 --port 9100``."""

from .server import main

if __name__ == "__main__":
    main()
