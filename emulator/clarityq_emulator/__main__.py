"""``python -m clarityq_emulator``: the same as the ``clarityq-emulator`` console script."""

from __future__ import annotations

import sys

from clarityq_emulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
