"""Subcommands of the ``xaikit`` command line, one module each (see :mod:`xaikit.cli`)."""
