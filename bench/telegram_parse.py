"""Benchmark: parsing saved t.me/s pages (20 messages each) with crawlers.telegram.web_parse, against
snscrape's Telegram parser (BeautifulSoup + lxml) on the same HTML, measured in the same run.

    .venv/bin/python bench/telegram_parse.py            # 2,000 pages
    .venv/bin/python bench/telegram_parse.py --quick    # 200 pages

snscrape is optional (``.venv/bin/pip install snscrape``, which brings beautifulsoup4); without it
the baseline is a straightforward BeautifulSoup parse of the same fields. Pages are generated from
the test fixture template (tests/fixtures/telegram/builder.py), all features mixed in.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawlers.telegram.web_parse import parse_channel_page
from tests.fixtures.telegram.builder import NIGHTOWL, Msg, channel_page, showcase_messages

TARGET = 300.0  # pages per second


def make_pages(count: int) -> list[tuple[str, str]]:
    template = showcase_messages()  # 18 blocks standing for 20 ids (an album holds 3)
    pages = []
    for n in range(count):
        shift = 1000 + n * 20
        msgs = [Msg(**{**m.__dict__, "id": m.id - 101 + shift,
                       "album": tuple(a - 101 + shift for a in m.album),
                       "reply_to": (m.reply_to - 101 + shift) if m.reply_to else None}) for m in template]
        msgs += [Msg(shift + 20, f"extra post {n}"), Msg(shift + 21, "another <b>bold</b> line")]
        url = f"https://t.me/s/{NIGHTOWL.handle}?before={shift + 22}"
        pages.append((url, channel_page(NIGHTOWL, msgs, before=shift)))
    return pages


def ours(pages: list[tuple[str, str]]) -> int:
    return sum(len(parse_channel_page(html, url).messages) for url, html in pages)


def snscrape_baseline() -> tuple[str, Callable[[list[tuple[str, str]]], int]] | None:
    try:
        import bs4
        from snscrape.modules.telegram import TelegramChannelScraper
    except ImportError:
        return None
    scraper = TelegramChannelScraper(NIGHTOWL.handle)

    def run(pages: list[tuple[str, str]]) -> int:
        total = 0
        for url, html in pages:
            soup = bs4.BeautifulSoup(html, "lxml")
            total += sum(1 for _ in scraper._soup_to_items(soup, url))
        return total

    return "snscrape 0.7 (TelegramChannelScraper._soup_to_items, bs4+lxml)", run


def bs4_baseline() -> tuple[str, Callable[[list[tuple[str, str]]], int]] | None:
    try:
        import bs4
    except ImportError:
        return None

    def run(pages: list[tuple[str, str]]) -> int:
        total = 0
        for _, html in pages:
            soup = bs4.BeautifulSoup(html, "lxml")
            for post in soup.find_all("div", attrs={"class": "tgme_widget_message", "data-post": True}):
                text = post.find("div", class_="tgme_widget_message_text")
                date = post.find("time", datetime=True)
                views = post.find("span", class_="tgme_widget_message_views")
                fwd = post.find(class_="tgme_widget_message_forwarded_from_name")
                links = [a["href"] for a in text.find_all("a", href=True)] if text else []
                _ = (text.get_text() if text else None, date and date["datetime"], views and views.text,
                     fwd and fwd.get("href"), links)
                total += 1
        return total

    return "plain BeautifulSoup (lxml builder) parse of the same fields", run


def timed(fn: Callable[[list[tuple[str, str]]], int], pages: list[tuple[str, str]]) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds (CPU time is the fair figure on a shared, loaded machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    n = fn(pages)
    return time.perf_counter() - start, time.process_time() - cpu, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 pages")
    args = parser.parse_args(argv)
    count = 200 if args.quick else args.pages
    pages = make_pages(count)
    ours(pages[:20])  # warm up (selector compilation)
    elapsed, cpu, messages = timed(ours, pages)
    rate, cpu_rate = count / elapsed, count / cpu
    print(f"resurface parser: {count} pages, {messages} messages in {elapsed:.2f}s wall / {cpu:.2f}s CPU = "
          f"{rate:.0f} pages/s wall, {cpu_rate:.0f} pages/s CPU "
          f"(target >= {TARGET:.0f}: {'met' if cpu_rate >= TARGET else 'NOT met'} on CPU time)")
    results: list[tuple[str, Any]] = []
    for make in (snscrape_baseline, bs4_baseline):
        found = make()
        if found is None:
            continue
        name, fn = found
        fn(pages[:20])
        base_elapsed, base_cpu, base_messages = timed(fn, pages)
        base_rate = count / base_cpu
        results.append((name, base_rate))
        print(f"baseline {name}: {base_messages} messages in {base_elapsed:.2f}s wall / {base_cpu:.2f}s CPU = "
              f"{base_rate:.0f} pages/s CPU; ratio {cpu_rate / base_rate:.2f}x (CPU)")
    if not results:
        print("no baseline: install beautifulsoup4 (and snscrape) into the venv to compare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
