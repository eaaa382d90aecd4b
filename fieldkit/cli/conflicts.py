"""Refusing options that contradict each other, the same way in every command.

``hub keygen --no-passphrase --passphrase-file F`` once wrote an unprotected identity
without a word: whichever option won, the person meant something else. Click has no
built-in for mutually exclusive options, so :func:`refuse_together` wraps a command's
callback and checks, before anything runs, which options were given on the command line
(click's parameter source), not their values, so a flag given as its default counts too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from fieldkit.core.errors import FieldkitError

__all__ = ["refuse_together"]

F = TypeVar("F", bound=Callable[..., Any])
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _flag(ctx: click.Context, name: str) -> str:
    for param in ctx.command.params:
        if param.name == name:
            return max(param.opts, key=len)
    raise AssertionError(f"refuse_together names {name!r}, which {ctx.command.name} does not have")


def check_together(ctx: click.Context, groups: Sequence[Sequence[str]]) -> None:
    """Raise :class:`FieldkitError` when more than one option of any group was given."""
    for group in groups:
        given = [name for name in group if ctx.get_parameter_source(name) in _GIVEN]
        if len(given) > 1:
            flags = [_flag(ctx, name) for name in given]
            choice = f"{flags[0]} or {flags[1]}, not both" if len(flags) == 2 else f"only one of {', '.join(flags)}"
            raise FieldkitError(f"give {choice}: they contradict each other; nothing was done")


def refuse_together(*groups: Sequence[str]) -> Callable[[F], F]:
    """Decorate a command's callback: each group names parameters that exclude each other."""

    def decorate(callback: F) -> F:
        @functools.wraps(callback)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_together(click.get_current_context(), groups)
            return callback(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
