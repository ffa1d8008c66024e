"""``resurface telegram login``: create the Telethon session file for the ``telegram_api`` crawler.

The only command that prompts (phone number, login code, 2FA password), because Telegram's login is
interactive by nature. Everything else reads secrets from the environment and fails with the name of
the missing variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.support import console, state
from config import secrets
from model.errors import ResurfaceError

# crawlers.telegram.api (and Telethon, ~0.7 s) is imported inside the commands: every `resurface`
# invocation loads this module to register the command group.
app = typer.Typer(help="The Telegram API account (Telethon).", no_args_is_help=True)


def api_credentials() -> tuple[int, str]:
    """TELEGRAM_API_ID and TELEGRAM_API_HASH from the environment (MissingSecret names the missing one)."""
    from crawlers.telegram.api import API_HASH_ENV, API_ID_ENV

    api_id = secrets.require(API_ID_ENV, "the Telegram API (get it at https://my.telegram.org)")
    api_hash = secrets.require(API_HASH_ENV, "the Telegram API (get it at https://my.telegram.org)")
    if not api_id.strip().isdigit():
        raise ResurfaceError(f"{API_ID_ENV} must be a number, got {api_id!r}")
    return int(api_id), api_hash


def login(session: Path, api_id: int, api_hash: str, client_factory: Any = None) -> str:
    """Log in interactively and leave the session file at ``session``; returns the account's name."""
    from telethon.sync import TelegramClient

    session.parent.mkdir(parents=True, exist_ok=True)
    name = str(session)[: -len(".session")] if str(session).endswith(".session") else str(session)
    client = (client_factory or TelegramClient)(name, api_id, api_hash)
    if hasattr(client.session, "save_entities"):
        client.session.save_entities = False  # no list of the users Telethon sees, not even our own account
    client.start()  # prompts for phone, code and password on the terminal
    try:
        me = client.get_me()
        return str(getattr(me, "username", None) or getattr(me, "first_name", None) or me.id)
    finally:
        client.disconnect()


@app.command("login")
def login_command(
    ctx: typer.Context,
    session: Annotated[Path | None, typer.Option("--session", help="Session file (default: telegram.session_file "
                                                 "under the data directory).")] = None,
) -> None:
    """Log in to Telegram with your account and save the session (prompts for phone and code)."""
    from crawlers.telegram.api import session_path

    api_id, api_hash = api_credentials()
    settings = state(ctx).settings
    path = session or session_path(settings)
    who = login(path, api_id, api_hash)
    path_shown = path if str(path).endswith(".session") else Path(str(path) + ".session")
    console.print(f"logged in as {who}; session saved to {path_shown} (keep it private: it is your account)")
