"""``python -m skaudio``: the ``skaudio`` command line (see :mod:`skaudio.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
