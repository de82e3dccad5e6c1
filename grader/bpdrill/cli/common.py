"""What every command shares: usage errors, option types, and the session (Click's context
object) that holds the options given before or after the command name, the workspace and the
practice history of one invocation.

    bpdrill --lang zh list   ==   bpdrill list --lang zh
"""
from __future__ import annotations

import difflib
import functools
import math
from pathlib import Path

import click

from bpdrill import catalog, i18n
from bpdrill.i18n import t
from bpdrill.practice import history, workspace


class UsageProblem(click.ClickException):
    """A mistake in how bpdrill was called (or where): one line, exit status 2."""
    exit_code = 2


class FiniteRange(click.FloatRange):
    """A number within a range (seconds, minutes). nan passes a FloatRange (it compares
    False with both ends), so every non-finite value is refused here, before anything runs."""
    name = "number"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(t("{value} is not a finite number", value=value), param, ctx)
        return super().convert(number, param, ctx)


def exercise_names(names) -> list[str]:
    """The exercises named, in the order given and once each, matched without regard to case;
    a UsageProblem (with "did you mean") for a name that is none."""
    known = catalog.names()
    by_lower = {name.lower(): name for name in known}
    found = []
    for name in names:
        match = by_lower.get(name.lower())
        if match is None:
            close = difflib.get_close_matches(name.lower(), known, n=1)
            suggestion = t(" (did you mean {name}?)", name=close[0]) if close else ""
            raise UsageProblem(t("unknown exercise {name!r}{suggestion}; the exercises are: {names}",
                                 name=name, suggestion=suggestion, names=", ".join(known)))
        found.append(match)
    return list(dict.fromkeys(found))


class Session:
    """One invocation's shared state, in Click's context (ctx.obj): the --workspace and --lang
    given before the command name (the command's own options win), the history once opened."""

    def __init__(self):
        self.workspace_option: str | None = None
        self.lang_option: str | None = None
        self._history: history.History | None = None

    def use(self, workspace_dir: str | None = None, lang: str | None = None) -> None:
        if workspace_dir is not None:
            self.workspace_option = workspace_dir
        if lang is not None:
            self.lang_option = lang
        i18n.set_language(i18n.choose(self.lang_option))

    def workspace(self, create: bool = True) -> Path:
        try:
            ws = workspace.resolve(self.workspace_option)
            if create:
                workspace.ensure(ws)
        except (workspace.WorkspaceError, OSError) as exc:
            raise UsageProblem(str(exc)) from None
        return ws

    def history(self) -> history.History:
        """The practice record. Trouble with its file is said on stderr and never stops a command."""
        if self._history is None:
            self._history = history.History.open(warn=lambda message: click.echo(message, err=True))
        return self._history


pass_session = click.make_pass_decorator(Session, ensure=True)

WORKSPACE_HELP = "The folder with your exercise files (default: $BPDRILL_WORKSPACE, else found from here)."
LANG_HELP = "Language: en or zh (default: $BPDRILL_LANG or the locale)."


def shared_options(function):
    """--workspace and --lang, as the group and every command declare them."""
    function = click.option("--lang", type=click.Choice(i18n.LANGS, case_sensitive=False), help=LANG_HELP)(function)
    return click.option("--workspace", "workspace_dir", metavar="DIR", help=WORKSPACE_HELP)(function)


def common(command):
    """A command that reads the workspace: --workspace and --lang, here or before the command
    name; the command gets the session as its first argument."""
    @shared_options
    @functools.wraps(command)
    def wrapper(*args, workspace_dir=None, lang=None, **kwargs):
        session = click.get_current_context().ensure_object(Session)
        session.use(workspace_dir, lang.lower() if lang else None)
        return command(session, *args, **kwargs)
    return wrapper
