"""`bpdrill serve`: the kit as a local web page (bpdrill.web.server; needs the `web` extra)."""
from __future__ import annotations

import click

from bpdrill.cli.common import UsageProblem, common
from bpdrill.i18n import t


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="The port on 127.0.0.1 (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in your web browser.")
@common
def serve(session, port, open_browser):
    """The kit as a web page on this computer only: the exercises, an editor on your files,
    Check, hints, the drill clock. The address it prints holds a token; Ctrl-C stops."""
    ws = session.workspace()
    try:
        from bpdrill.web import server
    except ImportError as exc:
        raise click.ClickException(t("{what} needs {package}, which is not installed: pip install 'bpdrill[web]'",
                                     what=t("the local page"), package=exc.name or "starlette")) from None
    try:
        server.serve(ws, port, open_browser, echo=click.echo)
    except OSError as exc:
        raise UsageProblem(t("cannot listen on 127.0.0.1:{port}: {error}", port=port,
                             error=exc.strerror or exc)) from None
    except KeyboardInterrupt:
        pass
