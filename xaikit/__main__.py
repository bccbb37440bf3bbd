"""``python -m xaikit``: the same as the ``xaikit`` command."""

from xaikit.cli import main

raise SystemExit(main())
