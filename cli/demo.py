"""``resurface demo``: run the offline demo world and show what Resurface found, with the evidence."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.support import console


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def alert_text(doc: dict[str, Any]) -> str:
    """An alert as an investigator reads it (the same text the alert channels send), without the footer."""
    from alerts.render import render_alert

    text = render_alert(doc, "investigator", f"demo-alert-{doc.get('id')}").text
    return text.split("\n\nIdempotency-Key:", 1)[0]


MARKER = ".resurface-demo"


def prepare_dir(directory: Path) -> Path:
    """An empty folder for a fresh demo world. A folder an earlier demo made is cleared (a second run
    must not mix in the first world's communities); any other non-empty folder is refused."""
    from model.errors import UsageError

    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).is_file():
            raise UsageError(f"--dir {directory}: not empty and not an earlier demo folder; give an empty or new one")
        shutil.rmtree(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text("made by `resurface demo`; cleared by the next run\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--dir {directory}: cannot create it: {exc.strerror}") from None
    return directory


def demo(
    directory: Annotated[Path | None, typer.Option("--dir", help="Data folder for the demo (kept). "
                                                   "An earlier demo's folder is cleared first. "
                                                   "Default: a temporary folder, removed at the end.")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary folder (store, exports).")] = False,
    serve: Annotated[bool, typer.Option("--serve", help="Then leave the workspace running on the demo store "
                                        "(a demo login is printed; Ctrl-C stops it).")] = False,
) -> None:
    """Run the offline demo: fictional Telegram groups, a forum and a subreddit on local servers; a group
    is shut down and migrates to a reserve group. Crawls, detects, delivers alerts to a local webhook
    and exports the graph. Needs no network and no credentials (uses its own config, not yours)."""
    from demoworld.run import INVESTIGATOR, run_demo

    temporary = directory is None
    data_dir = Path(tempfile.mkdtemp(prefix="resurface-demo-")) if directory is None else prepare_dir(directory)
    try:
        _say(f"Resurface demo — data in {data_dir}")
        result = run_demo(data_dir, say=_say)
        _say("")
        _say(f"Alerts ({len(result.alerts)}):")
        for doc in result.alerts:
            _say("")
            _say(alert_text(doc))
        human = [lead for lead in result.leads if lead["state"] == "needs_human"]
        if human:
            _say("")
            _say("Leads for a human (never joined automatically):")
            for lead in human:
                _say(f"  {lead['url']} (found in community #{lead['source_community_id']})")
        received = [path for path, _ in result.webhook]
        _say("")
        _say(f"Webhook receiver got {len(received)} deliveries ({received.count('/investigator')} for "
             f"{INVESTIGATOR}, {received.count('/ngo')} for the NGO audience, which sees no post text).")
        _say("Graph exports: " + ", ".join(str(p) for p in result.exports))
        if temporary and not keep:
            _say("(temporary folder removed at exit; use --keep or --dir PATH to keep the store and the exports)")
        elif result.config is not None:
            _say(f"Query this demo's store: resurface --config {result.config} alerts list "
                 "(also: leads list, search, graph export, audit verify)")
        _say(f"Done in {result.seconds:.1f}s.")
        if serve and result.config is not None:
            from cli.web import serve_demo

            serve_demo(result.config, _say)
    finally:
        if temporary and not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
