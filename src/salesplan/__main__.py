"""``python -m salesplan``: the same as the ``salesplan`` command."""

import sys

from salesplan.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
