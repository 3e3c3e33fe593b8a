"""Errors that are the user's to fix: shown as a clear message, never a traceback."""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (bad file, missing device, missing model). The message says
    what is wrong and where; the CLI prints it and exits non-zero."""

    exit_status = 2
