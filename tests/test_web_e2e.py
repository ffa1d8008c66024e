"""The workspace in a real headless Chromium (Playwright, Debian's /usr/bin/chromium, as the graph viewer's
tests): what an investigator and an NGO case worker do, checked on the rendered DOM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.app import App
from tests.support.alertdata import POST_TEXT, PSEUDONYM
from tests.support.webdata import INVITE_URL, PASSWORDS, Clock, WebWorld, populate
from tests.support.webserver import serve
from web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium for the workspace tests")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); the workspace browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def world(app: App) -> WebWorld:
    return populate(app, POST_TEXT)


@pytest.fixture
def base(app: App, world: WebWorld) -> Iterator[str]:
    with serve(create_app(app, clock=Clock())) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    p = context.new_page()
    p.set_default_timeout(20_000)
    try:
        yield p
    finally:
        context.close()


def sign_in(page: Any, base: str, name: str, then: str = "/alerts") -> None:
    page.goto(base + then)
    assert "/login" in page.url  # anonymous: sent to sign in first
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(base + then)


def test_an_investigator_confirms_an_alert_from_the_queue_with_a_note(page: Any, base: str, world: WebWorld) -> None:
    sign_in(page, base, "ines")
    page.click(f"#queue a[href='/alerts/{world.alert_id}']")
    page.wait_for_url(f"{base}/alerts/{world.alert_id}")
    assert POST_TEXT in page.inner_text("#announcement")
    page.fill("#note-input", "same admins, same pinned rules")
    page.click("#confirm")
    page.wait_for_url(f"{base}/alerts/{world.alert_id}")
    assert page.inner_text("#state") == "confirmed"
    assert "same admins, same pinned rules" in page.inner_text("#note")
    assert "web:ines" in page.inner_text("#history")


def test_a_search_with_a_syntax_error_then_a_good_query(page: Any, base: str) -> None:
    sign_in(page, base, "ines", "/search")
    page.fill("input[name=q]", 'text:"nuovo canale" AND (')
    page.click("#search-form button")
    error = page.inner_text("#query-error")
    assert "invalid query at position 25" in error and error.rstrip().endswith("^")
    page.fill("input[name=q]", "canale")
    page.click("#search-form button")
    page.wait_for_selector("#hits")
    assert page.locator("#hits mark").first.inner_text() == "canale"
    assert page.locator("#query-error").count() == 0


def test_an_investigator_opens_a_private_invite_lead(page: Any, base: str, world: WebWorld) -> None:
    sign_in(page, base, "ines", "/leads")
    page.click(f"#leads a[href='/leads/{world.lead_id}']")
    page.wait_for_url(f"{base}/leads/{world.lead_id}")
    body = page.inner_text("main")
    assert INVITE_URL in body and "private invite: never joined automatically" in body and "Riserva" in body
    assert page.locator("input[name=watch]").count() == 0


def test_an_ngo_users_alert_page_has_no_post_text_or_pseudonym_in_the_dom(page: Any, base: str,
                                                                         world: WebWorld) -> None:
    sign_in(page, base, "nadia")
    page.click(f"#queue a[href='/alerts/{world.alert_id}']")
    page.wait_for_url(f"{base}/alerts/{world.alert_id}")
    dom = page.content()
    assert "Cortile Due" in dom
    assert POST_TEXT not in dom and POST_TEXT[:25] not in dom and PSEUDONYM not in dom
    assert page.locator("#announcement").count() == 0


def test_changing_a_queue_filter_updates_the_queue_in_place(page: Any, base: str, world: WebWorld) -> None:
    sign_in(page, base, "ines")
    assert page.locator(f"#queue a[href='/alerts/{world.alert_id}']").count() == 1
    page.evaluate("window.__kept = true")  # survives only if the page is not reloaded
    page.select_option("#filters select[name=state]", "confirmed")
    page.wait_for_selector("#no-alerts")
    assert page.evaluate("window.__kept") is True  # htmx swapped the queue; no full page load
    assert "state=confirmed" in page.url
