"""The command line's entry point: the `bpdrill` group, with each command in its own module.

A command's module is imported only when that command runs (or --help lists it), so `check`
can start the PyTorch helper before the grader itself is imported (bpdrill.cli.check).
`--lang` and `--workspace` may stand before the command name too (bpdrill.cli.common).
"""
from __future__ import annotations

import importlib
import sys

import click

from bpdrill import __version__
from bpdrill.cli.common import Session, shared_options
from bpdrill.i18n import t

# command name -> "module:attribute", in the order --help lists them
COMMANDS = {
    "list": "bpdrill.cli.check:list_command",
    "check": "bpdrill.cli.check:check",
    "drill": "bpdrill.cli.practice:drill_command",
    "hint": "bpdrill.cli.practice:hint",
    "watch": "bpdrill.cli.practice:watch",
    "solution": "bpdrill.cli.practice:solution",
    "explain": "bpdrill.cli.practice:explain",
    "reset": "bpdrill.cli.practice:reset",
    "stats": "bpdrill.cli.practice:stats",
    "init": "bpdrill.cli.practice:init",
    "ask": "bpdrill.cli.interview:ask",
    "today": "bpdrill.cli.interview:today",
    "mock": "bpdrill.cli.interview:mock",
    "explore": "bpdrill.cli.see:explore_group",
    "capstone": "bpdrill.cli.see:capstone_command",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when first used (Click's documented lazy loading)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module, _, attribute = spec.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            import difflib
            close = difflib.get_close_matches(args[0], list(COMMANDS), n=1) if args else []
            if close:
                raise click.UsageError(t("no command {name!r} (did you mean {close}?)", name=args[0],
                                         close=close[0]), ctx) from None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bpdrill")
@shared_options
@click.pass_context
def cli(ctx, workspace_dir, lang):
    """Drill backpropagation by hand: fill in the TODOs, then `bpdrill check NAME`."""
    ctx.ensure_object(Session).use(workspace_dir, lang.lower() if lang else None)


def main():
    try:
        code = cli.main(prog_name="bpdrill", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        # Workers are already killed and their folders removed (runner.run_checks).
        click.echo("\n" + t("bpdrill: interrupted"), err=True)
        code = 130
    sys.exit(code or 0)
