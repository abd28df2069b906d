"""The ``wstui`` command's entry point: the real one (``cli.main``) is imported here, inside a guard, so
Ctrl-C while Python is still importing the app ends it quietly (status 130) instead of with a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from .cli import main as cli_main

        return cli_main()
    except KeyboardInterrupt:
        try:
            sys.stderr.write("\n")
        except (OSError, ValueError):
            pass
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
