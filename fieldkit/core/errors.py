"""Errors the person running fieldkit can act on. The CLI prints them in one line, without a traceback."""

from __future__ import annotations


class FieldkitError(Exception):
    """A problem the person running fieldkit can fix; ``str()`` says what and how."""
