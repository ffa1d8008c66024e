"""Screenshots of the workspace's main pages for the docs (``make screenshots``; not run by the tests).

Builds the tests' small fictional world (tests/support/webdata.py) in a temporary folder, serves the
workspace on loopback, signs in with headless Chromium and writes PNGs beside this file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from config.settings import CrawlSettings, Settings  # noqa: E402
from service.app import App  # noqa: E402
from tests.support.alertdata import POST_TEXT  # noqa: E402
from tests.support.webdata import PASSWORDS, populate  # noqa: E402
from tests.support.webserver import serve  # noqa: E402
from web.app import create_app  # noqa: E402

OUT = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main() -> None:
    os.environ.setdefault("RESURFACE_PSEUDONYM_KEY", "screenshots-key-0123456789abcdef0123")
    with tempfile.TemporaryDirectory(prefix="resurface-shots-") as tmp:
        settings = Settings(data_dir=tmp, crawl=CrawlSettings(allow_private_addresses=True))
        settings.base_dir = Path(tmp)
        app = App(settings)
        world = populate(app, POST_TEXT)
        shots = {"alerts": "/alerts", "alert": f"/alerts/{world.alert_id}", "leads": "/leads",
                 "lead": f"/leads/{world.lead_id}", "search": "/search?q=canale",
                 "community": f"/communities/{world.source_id}", "watchlist": "/watchlist", "graph": "/graph"}
        with serve(create_app(app)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for user, pages in (("ines", shots), ("nadia", {"alert-ngo": f"/alerts/{world.alert_id}"})):
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(base + "/login")
                page.fill("input[name=name]", user)
                page.fill("input[name=password]", PASSWORDS[user])
                page.click("button[type=submit]")
                page.wait_for_url(base + "/alerts")
                for name, path in pages.items():
                    page.goto(base + path)
                    if name == "graph":
                        page.frame_locator("iframe").locator("body").wait_for()
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
                    print(f"wrote {OUT / (name + '.png')}")
                page.close()
            browser.close()
        app.close()


if __name__ == "__main__":
    main()
