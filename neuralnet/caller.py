"""Warnings that point at the user's code, whichever public entry point it called and however deep the call went."""

import inspect
import os
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` with the location of the first frame outside this package: the caller of ``fit`` or
    ``fit_together``, not one of the package's own frames (Python 3.12's ``skip_file_prefixes`` does the same).
    """
    level = 1
    frame = inspect.currentframe()
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
