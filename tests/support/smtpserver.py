"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, for alert tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    raw: bytes
    rcpt_tos: tuple[str, ...]

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def decoded_text(self) -> str:
        """Every text part, transfer-decoded (quoted-printable/base64 would hide words from a search)."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)

    def part(self, subtype: str) -> str:
        """The decoded ``text/<subtype>`` part (plain or html)."""
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                return str(part.get_content())
        raise AssertionError(f"no text/{subtype} part in {self.raw[:500]!r}")


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self.server.cond:
            self.server.messages.append(Received(bytes(envelope.original_content or envelope.content),
                                                 tuple(envelope.rcpt_tos)))
            self.server.cond.notify_all()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.cond = threading.Condition()
        self.port = _free_port()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def url(self, to: str = "ngo@example.org") -> str:
        """An apprise mailto URL for this server: plain SMTP, no TLS, no login."""
        return f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&mode=insecure&from=resurface@example.org&to={to}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)
