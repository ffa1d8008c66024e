"""Single sign-on through OpenID Connect against a fake provider on loopback (discovery, authorize,
token with an RS256-signed ID token, JWKS), as a real provider answers: a linked identity signs in, an
unlinked one is refused and audited, and a token signed with another key is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from service.app import App
from store import accounts
from store import models as m
from tests.support.httpserver import HttpServer, RecordedRequest, Reply
from tests.support.webdata import Clock
from tests.support.webserver import serve
from web.app import create_app

CLIENT_ID = "resurface-workspace"
# authlib (1.7) warns that it will move from httpx to httpx2; its client still works with httpx.
pytestmark = pytest.mark.filterwarnings("ignore::authlib.deprecate.AuthlibDeprecationWarning")


class FakeProvider:
    def __init__(self, server: HttpServer, subject: str) -> None:
        self.server, self.subject = server, subject
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.signing_key = self.key
        self.nonce = ""
        issuer = server.url("")
        server.route("/.well-known/openid-configuration", Reply.json({
            "issuer": issuer, "authorization_endpoint": server.url("/authorize"),
            "token_endpoint": server.url("/token"), "jwks_uri": server.url("/jwks"),
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]}))
        server.route("/jwks", lambda _req: Reply.json({"keys": [self.key.as_dict(private=False)]}))
        server.route("/authorize", self.authorize)
        server.route("/token", self.token, method="POST")

    def authorize(self, req: RecordedRequest) -> Reply:
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        self.nonce = q.get("nonce", "")
        return Reply.redirect(q["redirect_uri"] + "?" + urlencode({"code": "c0de", "state": q["state"]}))

    def token(self, _req: RecordedRequest) -> Reply:
        now = int(time.time())
        claims = {"iss": self.server.url(""), "sub": self.subject, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": self.nonce}
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.signing_key)
        return Reply.json({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})


@pytest.fixture
def provider(http_server: HttpServer) -> FakeProvider:
    return FakeProvider(http_server, "sub-123")


@pytest.fixture
def base(app: App, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("RESURFACE_OIDC_SECRET", "client-secret")
    app.settings.web.oidc_issuer = provider.server.url("").rstrip("/")
    app.settings.web.oidc_client_id = CLIENT_ID
    with app.store.session() as s:
        accounts.create_user(s, "ines", "investigator", None, oidc_subject="sub-123")
    with serve(create_app(app, clock=Clock())) as url:
        yield url


def sso(base: str) -> tuple[httpx.Response, Any]:
    client = httpx.Client(follow_redirects=True)
    return client.get(base + "/login/oidc"), client


def test_a_linked_identity_signs_in_through_the_provider(base: str, app: App) -> None:
    answer, client = sso(base)
    assert answer.status_code == 200 and urlsplit(str(answer.url)).path == "/alerts"
    assert "ines (investigator)" in answer.text
    with app.store.session() as s:
        assert ("web:ines", "web.login") in [(e.actor, e.action) for e in s.scalars(select(m.AuditEntry))]
    client.close()


def test_an_unlinked_identity_is_refused_and_audited(base: str, app: App, provider: FakeProvider) -> None:
    provider.subject = "someone-else"
    answer, client = sso(base)
    assert answer.status_code == 403 and "no workspace account" in answer.text
    assert client.get(base + "/alerts", follow_redirects=False).status_code == 303
    with app.store.session() as s:
        assert ("web:anonymous", "oidc:someone-else") in [(e.actor, e.target) for e in s.scalars(select(m.AuditEntry))]
    client.close()


def test_an_id_token_signed_with_another_key_is_refused(base: str, provider: FakeProvider) -> None:
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    answer, client = sso(base)
    assert answer.status_code == 403 and "ines (investigator)" not in answer.text
    assert client.get(base + "/alerts", follow_redirects=False).status_code == 303
    client.close()
