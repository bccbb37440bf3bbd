"""Fast mode: the one reader of the environment variable ``XAIKIT_FAST``.

Fast mode is what ``make test`` and ``xaikit reproduce --fast`` use: smaller datasets, the zoo's
reduced training recipes, fewer samples in lessons — every cell still runs.  Datasets, the zoo and
lessons all ask :func:`fast_mode`, so one value of ``XAIKIT_FAST`` means one thing everywhere.
"""

from __future__ import annotations

import os

from xaikit.base.messages import message

__all__ = ["FAST_ENV", "fast_mode"]

FAST_ENV = "XAIKIT_FAST"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def fast_mode(fast: bool | None = None) -> bool:
    """``fast`` when given, else whether ``XAIKIT_FAST`` is set to a true value.

    Parameters
    ----------
    fast : bool, optional
        An explicit choice (wins over the environment).

    Returns
    -------
    bool
        True for ``1``, ``true``, ``yes``, ``on``; False for unset, empty, ``0``, ``false``,
        ``no``, ``off`` (any case, surrounding spaces ignored).

    Raises
    ------
    ValueError
        Any other value (a typo must not silently mean "full mode").

    Examples
    --------
    >>> fast_mode(True)
    True
    """
    if fast is not None:
        return bool(fast)
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(message("env", name=FAST_ENV, value=os.environ.get(FAST_ENV),
                             allowed=", ".join(repr(v) for v in _TRUE + _FALSE[1:])))
