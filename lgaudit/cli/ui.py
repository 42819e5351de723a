"""``lgaudit ui``: serve the local review console (Starlette + uvicorn, imported lazily)."""

from __future__ import annotations

import click

from lgaudit.cli._base import Context, cli, db_option, pass_context
from lgaudit.errors import BadInputError


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to bind."
)
@click.option(
    "--token",
    metavar="T",
    help="Every request must carry it (?token=T once, then a cookie). Required off "
    "loopback: generated and printed if not given.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the console in a browser.")
@db_option
@pass_context
def ui(obj: Context, host: str, port: int, token: str | None, open_browser: bool) -> None:
    """Serve the review console over the store: runs, a run's steps and state changes,
    diffs, kill orders (and, with the review pages, stages and sign-offs).

    Read-only except for kill orders and sign-offs; loopback only unless --host is given.
    Binding another address exposes the store's recorded values to that network: a token
    is then required (one is generated and printed if not given).

    Exit codes: 0 stopped, 2 bad input (store missing, port taken).
    """
    from lgaudit.ui.security import is_loopback, new_token

    if token is not None and not token.strip():
        raise BadInputError("--token must not be empty")
    if token is None and not is_loopback(host):
        token = new_token()
        click.echo(f"lgaudit ui: {host} is not loopback: every request needs the token {token}")
    import uvicorn

    from lgaudit.store.engine import resolve_url
    from lgaudit.ui import create_app

    app = create_app(resolve_url(obj.db), token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    click.echo(f"lgaudit ui on {url} (Ctrl+C stops it)")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(0.8, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits 1 when it cannot bind
        raise BadInputError(f"cannot serve on {host}:{port} (is the port taken?)") from e
