"""``resurface web`` (the workspace) and ``resurface users ...`` (its accounts and API tokens)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from cli.support import FormatOption, OutputFormat, console, emit, emit_one, state
from model.errors import UsageError
from store import audit

users_app = typer.Typer(help="Workspace accounts: add users with a role, issue API tokens.", no_args_is_help=True)


def read_password(prompt: str = "Password") -> str:
    """Twice from the terminal (they must match), or the first line of standard input when it is not one."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError("no password on standard input (give it as the first line)")
        return line
    first = getpass.getpass(f"{prompt}: ")
    second = getpass.getpass(f"{prompt} again: ")
    if first != second:
        raise UsageError("the two passwords differ; nothing was saved")
    return first


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="investigator, analyst, ngo or admin.")] = "investigator",
    oidc_subject: Annotated[str | None, typer.Option(
        "--oidc-subject", help="Sign in only through single sign-on as this subject (no password).")] = None,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Add a workspace user (password prompted twice, or read from standard input when it is not a terminal)."""
    from store.accounts import ROLES, create_user

    if role not in ROLES:  # before asking for a password
        raise UsageError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    password = None if oidc_subject else read_password()
    with state(ctx).app.store.session() as session:
        user = create_user(session, name, role, password, oidc_subject)
        audit.record(session, "user.add", f"user:{user.name}", {"role": role})
        row = {"id": user.id, "name": user.name, "role": user.role}
    if fmt == OutputFormat.json:
        emit_one(row, fmt)
    else:
        console.print(f"added {row['role']} {row['name']}", highlight=False)


@users_app.command("list")
def users_list(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """List workspace users."""
    from sqlalchemy import select

    from store import models as m

    with state(ctx).app.store.session() as session:
        rows = [{"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled,
                 "created_at": u.created_at.isoformat()}
                for u in session.scalars(select(m.WebUser).order_by(m.WebUser.id))]
    emit(rows, fmt, title="workspace users")


@users_app.command("token")
def users_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Whose token.")],
    label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
) -> None:
    """Issue an API token for a user (printed once; only its hash is kept)."""
    from store.accounts import create_token, get_user

    with state(ctx).app.store.session() as session:
        user = get_user(session, name)
        token = create_token(session, user, label)
        audit.record(session, "user.token", f"user:{user.name}", {"label": label})
    sys.stdout.write(token + "\n")


def web_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen here (default: web.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: web.port).")] = None,
) -> None:
    """Start the workspace (web application) on this store and settings."""
    serve(state(ctx).app, host, port)


def serve(app_: object, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    from service.app import App
    from web.app import create_app

    assert isinstance(app_, App)
    settings = app_.settings.web
    where_host, where_port = host or settings.host, port or settings.port
    console.print(f"workspace on http://{where_host}:{where_port}/ (Ctrl-C stops it)", highlight=False)
    uvicorn.run(create_app(app_), host=where_host, port=where_port, log_level="warning")


def serve_demo(config: object, say: Callable[[str], None]) -> None:
    """``resurface demo --serve``: demo logins (an investigator and an NGO case worker, fresh random passwords)
    on the demo's store, printed, then the workspace until Ctrl-C."""
    import secrets
    from pathlib import Path

    from config.loader import load_settings
    from service.app import App
    from store.accounts import create_user

    assert isinstance(config, Path)
    app_ = App(load_settings(config))
    logins = {"demo": ("investigator", secrets.token_urlsafe(9)), "demo-ngo": ("ngo", secrets.token_urlsafe(9))}
    try:
        with app_.store.session() as session:
            for name, (role, password) in logins.items():
                create_user(session, name, role, password)
                audit.record(session, "user.add", f"user:{name}", {"role": role, "demo": True})
        say("")
        for name, (role, password) in logins.items():
            say(f"Demo login ({role}): {name} / {password}")
        serve(app_)
    finally:
        app_.close()
