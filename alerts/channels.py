"""Notification channels: apprise URLs per audience, validated at start, sent one URL at a time.

URLs come from ``alerts.audiences.<name>.urls`` and may hold ``${VAR}`` references, expanded from the
environment at the point of use (secrets never sit in the config file). Every message carries the
idempotency key: as the ``X-Resurface-Idempotency-Key`` header on webhooks and e-mail (apprise's
``+Header=value`` URL parameters) and in the body text.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import apprise
from apprise.plugins.custom_json import NotifyJSON

from alerts.render import Message
from config.secrets import expand
from config.settings import Settings
from model.errors import ConfigError, MissingSecret

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Resurface-Idempotency-Key"
# Schemes whose apprise plugins honour ``+Header=value``.
HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"})
EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
_SECRET_PARAM = re.compile(r"(?i)([?&](?:pass|password|pwd|token|key|apikey|secret|auth)[^=&]*=)[^&]*")

Sender = Callable[[str, Message], None]


class ChannelError(Exception):
    """A send failed (the message says which masked URL and why); transient until proven otherwise."""


#: apprise schemes addressed by a host we may name in messages; every other scheme carries its
#: tokens in the "host" and path (tgram://BOT_TOKEN/CHAT, slack://A/B/C, discord://ID/TOKEN).
_HOST_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos", "http", "https"})
_LONG_SEGMENT = re.compile(r"(?<=/)[^/?#]{16,}")


def mask_url(url: str) -> str:
    """A URL fit for logs and errors: no passwords, tokens or secret-looking parameters.

    Host-addressed schemes keep host and short path segments (long segments look like tokens);
    token-addressed schemes show only ``scheme://***``. ``${VAR}`` placeholders are kept as written
    (they name a variable, not its value)."""
    scheme = scheme_of(url)
    if scheme and scheme not in _HOST_SCHEMES and "${" not in url:
        return f"{scheme}://***"
    masked = _SECRET_PARAM.sub(r"\1***", url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return re.sub(r"://[^@/]*@", "://***@", masked)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[1]
        masked = urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
        parts = urlsplit(masked)
    if "${" not in parts.path:
        masked = urlunsplit(parts._replace(path=_LONG_SEGMENT.sub("***", parts.path)))
    return masked


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def expand_url(url: str, audience: str, env: Mapping[str, str] | None = None) -> str:
    return expand(url, f"alerts.audiences.{audience} URL {mask_url(url)}", env)


def _asset() -> apprise.AppriseAsset:
    return apprise.AppriseAsset(storage_mode="memory")


def validate_audiences(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """Refuse to start with an audience whose URL apprise cannot parse or whose secret is unset.

    The error names the audience and the URL with its secrets masked (exit code 2, bad config)."""
    from alerts.i18n import UnknownLanguage, check_language

    for name, audience in settings.alerts.audiences.items():
        try:
            check_language(audience.language)
        except UnknownLanguage as exc:
            raise ConfigError(f"alerts.audiences.{name}.language: {exc}") from None
        if not audience.urls:
            raise ConfigError(f"alerts.audiences.{name}: no urls configured (add at least one apprise URL)")
        for url in audience.urls:
            try:
                expanded = expand_url(url, name, env)
            except MissingSecret as exc:
                raise ConfigError(str(exc)) from None
            if not apprise.Apprise(asset=_asset()).add(expanded):
                raise ConfigError(f"alerts.audiences.{name}: invalid apprise URL {mask_url(url)} "
                                  f"(see https://github.com/caronc/apprise/wiki for the URL formats)")


def with_header(url: str, header: str, value: str) -> str:
    """Append apprise's ``+Header=value`` parameter to a URL whose plugin supports custom headers."""
    if scheme_of(url) not in HEADER_SCHEMES:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}+{quote(header, safe='-')}={quote(value, safe='')}"


def send_apprise(url: str, message: Message) -> None:
    """Send one message to one (expanded) apprise URL; raise :class:`ChannelError` on failure.

    JSON webhooks get the alert JSON as the ``message`` text *and* as a structured ``alert`` member
    of apprise's JSON envelope; e-mail gets HTML (apprise adds the plain-text alternative); every
    other service gets the plain text."""
    target = with_header(url, IDEMPOTENCY_HEADER, message.key)
    service = apprise.Apprise.instantiate(target, asset=_asset())
    if service is None:
        raise ChannelError(f"invalid apprise URL {mask_url(url)}")
    scheme = scheme_of(url)
    if isinstance(service, NotifyJSON):
        service.payload_extras.update({"alert": message.data, "idempotency_key": message.key})
        body, body_format = json.dumps(message.data, ensure_ascii=False, default=str), apprise.NotifyFormat.TEXT
    elif scheme in EMAIL_SCHEMES:
        body, body_format = message.html, apprise.NotifyFormat.HTML
    else:
        body, body_format = message.text, apprise.NotifyFormat.TEXT
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        ok = service.notify(body=body, title=message.title, body_format=body_format)
    if not ok:
        detail = " ".join(str(captured.getvalue()).split())[-400:] or "no detail from apprise"
        raise ChannelError(f"{mask_url(url)}: {detail}")
