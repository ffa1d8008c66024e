"""Turn alert JSON into messages for one audience. Pure functions: no I/O, no database.

Two levels of detail (DESIGN §7):

- ``ngo``: community names, platforms, community links, level, score and counts. Never post text,
  member pseudonyms, evidence excerpts or post URLs. Evidence is *whitelisted*, not blacklisted:
  numbers, booleans and a few named string fields survive; everything else is dropped, so a new
  evidence field added by a detector can never leak by default.
- ``investigator``: the full evidence, with excerpts and post URLs.

Every message carries its idempotency key (title suffix-free, in the text, the HTML and the JSON) so a
receiver can drop the rare repeat that crash recovery may cause.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DETAILS = ("ngo", "investigator")

# String evidence fields an NGO may see: names of communities and of signals, languages, platforms.
NGO_STRING_KEYS = frozenset({
    "kind", "type", "name", "signal", "language", "languages", "platform", "level", "reason",
    "source_name", "target_name", "source_title", "target_title", "source_handle", "target_handle",
    "matched_name", "normalized_source", "normalized_target", "source_platform", "target_platform",
})
# Never shown to an NGO, whatever the value type.
NGO_DENY_PARTS = ("text", "excerpt", "pseudonym", "author", "url", "quote", "snippet", "example", "body", "message")
_TIMESTAMP_KEY = re.compile(r"(^|_)(at|since|until|first_seen|last_seen|date|time)$")
EXCERPT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification: plain text, HTML (email) and a JSON document (webhooks)."""

    title: str
    text: str
    html: str
    data: dict[str, Any] = field(default_factory=dict)
    key: str = ""


# ---------------------------------------------------------------- redaction


def _ngo_value_ok(key: str, value: Any) -> bool:
    lowered = key.lower()
    if any(part in lowered for part in NGO_DENY_PARTS) or lowered.endswith(("_id", "_ids")):
        return False  # internal row ids say nothing to an NGO and point into investigator-only records
    if isinstance(value, bool | int | float) or value is None:
        return True
    if isinstance(value, str):
        return lowered in NGO_STRING_KEYS or bool(_TIMESTAMP_KEY.search(lowered))
    return False


def redact_evidence_item(item: Any) -> dict[str, Any] | None:
    """The NGO-safe part of one evidence item (None when nothing is left)."""
    if not isinstance(item, dict):
        return None
    kept: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            inner = redact_evidence_item(value)
            if inner and not any(part in str(key).lower() for part in NGO_DENY_PARTS):
                kept[str(key)] = inner
        elif isinstance(value, list | tuple):
            # Lists (of posts, members, examples) become counts.
            if not any(part in str(key).lower() for part in ("pseudonym",)):
                kept[f"{key}_count"] = len(value)
        elif _ngo_value_ok(str(key), value):
            kept[str(key)] = value
    return kept or None


def redact_for_ngo(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert JSON with evidence reduced to NGO-safe fields and counts."""
    out = {k: v for k, v in alert.items() if k not in ("signals", "note")}
    signals = []
    for signal in alert.get("signals") or []:
        evidence = list(signal.get("evidence") or [])
        redacted = [r for r in (redact_evidence_item(e) for e in evidence) if r]
        signals.append({"name": signal.get("name"), "score": signal.get("score"), "evidence_count": len(evidence),
                        "evidence": redacted})
    out["signals"] = signals
    return out


def for_audience(alert: dict[str, Any], detail: str) -> dict[str, Any]:
    if detail not in DETAILS:
        raise ValueError(f"unknown detail {detail!r}; expected one of {', '.join(DETAILS)}")
    return redact_for_ngo(alert) if detail == "ngo" else alert


# ---------------------------------------------------------------- helpers


def community_label(ref: dict[str, Any] | None) -> str:
    if not ref:
        return "(none)"
    name = ref.get("title") or ref.get("handle") or ref.get("url") or "?"
    handle = f" @{ref['handle']}" if ref.get("handle") and ref.get("handle") != name else ""
    return f"{name} ({ref.get('platform') or '?'}{handle})"


def _safe_href(url: Any) -> str | None:
    return url if isinstance(url, str) and url.lower().startswith(("https://", "http://")) else None


def _html_community(ref: dict[str, Any] | None) -> str:
    label = html.escape(community_label(ref))
    href = _safe_href((ref or {}).get("url"))
    return f'<a href="{html.escape(href, quote=True)}">{label}</a>' if href else label


def _scalar_summary(item: dict[str, Any], skip: Sequence[str] = ()) -> str:
    parts = []
    for key, value in item.items():
        if key in skip or isinstance(value, dict | list | tuple):
            continue
        parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts)


def _excerpt(item: dict[str, Any]) -> str | None:
    for key in ("excerpt", "text", "snippet", "quote"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            flat = " ".join(value.split())
            return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"
    return None


def _evidence_url(item: dict[str, Any]) -> str | None:
    for key in ("post_url", "url", "source_url", "target_url"):
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _headline(alert: dict[str, Any]) -> str:
    number = f" #{alert['id']}" if alert.get("id") is not None else ""
    escalated = " (escalated)" if alert.get("escalations") else ""
    return (f"{str(alert.get('level', '?')).upper()} {alert.get('kind', 'alert')} alert{number}{escalated} — "
            f"score {float(alert.get('score') or 0):.2f}")


# ---------------------------------------------------------------- one alert


def _text_block(alert: dict[str, Any], detail: str) -> list[str]:
    lines = [_headline(alert),
             f"From: {community_label(alert.get('source'))} {(alert.get('source') or {}).get('url') or ''}".rstrip()]
    if alert.get("target"):
        lines.append(f"To:   {community_label(alert['target'])} {alert['target'].get('url') or ''}".rstrip())
    lines.append("Signals:")
    for signal in alert.get("signals") or []:
        evidence = signal.get("evidence") or []
        count = signal.get("evidence_count", len(evidence))
        lines.append(f"  - {signal.get('name')}: {float(signal.get('score') or 0):.2f} ({count} evidence items)")
        for item in evidence:
            if not isinstance(item, dict):
                if detail == "investigator":
                    lines.append(f"      * {item}")
                continue
            if detail == "ngo":
                summary = _scalar_summary(item)
                if summary:
                    lines.append(f"      * {summary}")
                continue
            url = _evidence_url(item)
            excerpt = _excerpt(item)
            summary = _scalar_summary(item, skip=("excerpt", "text", "snippet", "quote", "post_url", "url",
                                                  "source_url", "target_url"))
            lines.append(f"      * {url or ''} {summary}".rstrip())
            if excerpt:
                lines.append(f'        "{excerpt}"')
    lines.append(f"State: {alert.get('state', 'new')} · raised {alert.get('created_at', '')}")
    return lines


def _html_block(alert: dict[str, Any], detail: str) -> str:
    out = [f"<h3>{html.escape(_headline(alert))}</h3>", "<p>",
           f"From: {_html_community(alert.get('source'))}<br>"]
    if alert.get("target"):
        out.append(f"To: {_html_community(alert['target'])}<br>")
    out.append("</p><ul>")
    for signal in alert.get("signals") or []:
        evidence = signal.get("evidence") or []
        count = signal.get("evidence_count", len(evidence))
        out.append(f"<li><b>{html.escape(str(signal.get('name')))}</b>: {float(signal.get('score') or 0):.2f} "
                   f"({count} evidence items)")
        items = []
        for item in evidence:
            if not isinstance(item, dict):
                if detail == "investigator":
                    items.append(f"<li>{html.escape(str(item))}</li>")
                continue
            if detail == "ngo":
                summary = _scalar_summary(item)
                if summary:
                    items.append(f"<li>{html.escape(summary)}</li>")
                continue
            url = _evidence_url(item)
            excerpt = _excerpt(item)
            summary = _scalar_summary(item, skip=("excerpt", "text", "snippet", "quote", "post_url", "url",
                                                  "source_url", "target_url"))
            href = _safe_href(url)
            link = f'<a href="{html.escape(href, quote=True)}">{html.escape(href)}</a> ' if href else ""
            quote = f"<blockquote>{html.escape(excerpt)}</blockquote>" if excerpt else ""
            items.append(f"<li>{link}{html.escape(summary)}{quote}</li>")
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
        out.append("</li>")
    out.append(f"</ul><p>State: {html.escape(str(alert.get('state', 'new')))} · raised "
               f"{html.escape(str(alert.get('created_at', '')))}</p>")
    return "".join(out)


def _footer(key: str, detail: str) -> tuple[str, str]:
    text = f"Idempotency-Key: {key}\nDetail: {detail}. Sent by Resurface."
    return text, f"<p><small>Idempotency-Key: {html.escape(key)} · detail: {html.escape(detail)}</small></p>"


def render_alert(alert: dict[str, Any], detail: str, key: str) -> Message:
    """One alert for one audience. ``alert`` is the full DESIGN §6 JSON; it is redacted here for NGOs."""
    view = for_audience(alert, detail)
    foot_text, foot_html = _footer(key, detail)
    title = f"[Resurface] {_headline(view)}"
    text = "\n".join(_text_block(view, detail)) + "\n\n" + foot_text + "\n"
    body = f"<html><body>{_html_block(view, detail)}{foot_html}</body></html>"
    return Message(title=title, text=text, html=body, data={**view, "idempotency_key": key}, key=key)


def render_digest(alerts: Sequence[dict[str, Any]], detail: str, key: str, audience: str) -> Message:
    """Many alerts as one message (a digest window, or a storm beyond the rate limit)."""
    views = [for_audience(a, detail) for a in alerts]
    levels = sorted({str(v.get("level")) for v in views})
    title = f"[Resurface] digest: {len(views)} alerts for {audience} ({', '.join(levels)})"
    foot_text, foot_html = _footer(key, detail)
    text = "\n\n".join("\n".join(_text_block(v, detail)) for v in views) + "\n\n" + foot_text + "\n"
    body = ("<html><body>" + f"<h2>{html.escape(title)}</h2>" + "<hr>".join(_html_block(v, detail) for v in views)
            + foot_html + "</body></html>")
    data = {"digest": True, "audience": audience, "count": len(views), "alerts": views, "idempotency_key": key}
    return Message(title=title, text=text, html=body, data=data, key=key)


def render_test(audience: str, detail: str, key: str) -> Message:
    """A clearly marked test message: proves the channel works without looking like an alert."""
    title = f"[Resurface] TEST message for audience {audience} — not an alert"
    text = (f"This is a test message from Resurface for the audience '{audience}' (detail: {detail}).\n"
            "It is not an alert; no action is needed.\n\n" + _footer(key, detail)[0] + "\n")
    body = (f"<html><body><h3>{html.escape(title)}</h3><p>This is a test message from Resurface for the audience "
            f"<b>{html.escape(audience)}</b>. It is not an alert; no action is needed.</p>{_footer(key, detail)[1]}"
            "</body></html>")
    return Message(title=title, text=text, html=body,
                   data={"test": True, "audience": audience, "idempotency_key": key}, key=key)


def to_json(message: Message) -> str:
    return json.dumps(message.data, ensure_ascii=False, sort_keys=True, default=str)
