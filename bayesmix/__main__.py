"""``python -m bayesmix``: the same as the ``bayesmix`` command."""

from __future__ import annotations

import sys

from bayesmix.cli import main

if __name__ == "__main__":
    sys.exit(main())
