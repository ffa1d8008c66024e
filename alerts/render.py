"""Turn alert JSON into messages for one audience. Pure functions: no I/O, no database.

Two levels of detail (docs/architecture.md, "An alert, and what each audience sees"):

- ``ngo``: community names, platforms, community links, level, score and counts. Never post text,
  member pseudonyms, evidence excerpts or post URLs. Evidence is *allow-listed* at every depth, not
  deny-listed: only the fields :mod:`alerts.privacy` classes as NGO-visible survive, with the value
  shape listed there; everything else is dropped, so a field (or a nested dictionary) a detector adds
  tomorrow can never leak by default.
- ``investigator``: the full evidence, with excerpts and post URLs.

Every alert opens with a paragraph in plain language and the next steps for its audience
(:mod:`alerts.summary`), in the audience's language (:mod:`alerts.i18n`). They are written from the full
alert but only from fields an NGO may see (names, community and thread links, dates, counts), so they are
added after the redaction. Scores shown to people have two decimals everywhere.

Every message carries its idempotency key (title suffix-free, in the text, the HTML and the JSON) so a
receiver can drop the rare repeat that crash recovery may cause.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.i18n import Lang, lang
from alerts.privacy import NGO_ALERT_FIELDS, NGO_COMMUNITY_FIELDS, Privacy, Shape, field_class, ngo_scalar_ok
from alerts.summary import ROUTE_LINKS, Step, next_steps, summarise, threads

DETAILS = ("ngo", "investigator")

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


def redact_evidence_item(item: Any) -> dict[str, Any] | None:
    """The NGO-safe part of one evidence item (None when nothing is left).

    Allow-list at every depth: a key survives only if :mod:`alerts.privacy` lists it for NGOs and its
    value has the listed shape; a dictionary survives only under a listed group key, and is redacted
    the same way; a list becomes its length (``<key>_count``), never its content.
    """
    if not isinstance(item, dict):
        return None
    kept: dict[str, Any] = {}
    for raw_key, value in item.items():
        key = str(raw_key)
        if isinstance(value, dict):
            if field_class(key).shape is Shape.GROUP and field_class(key).privacy is Privacy.NGO:
                inner = redact_evidence_item(value)
                if inner:
                    kept[key] = inner
        elif isinstance(value, list | tuple):
            kept[f"{key}_count"] = len(value)
        elif ngo_scalar_ok(key, value):
            kept[key] = value
    return kept or None


def _ngo_community(ref: Any) -> dict[str, Any] | None:
    if not isinstance(ref, dict):
        return None
    return {k: v for k, v in ref.items() if k in NGO_COMMUNITY_FIELDS and (v is None or isinstance(v, str))}


def redact_for_ngo(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert JSON reduced to NGO-safe fields: allow-listed alert fields, community names and
    links, and evidence reduced to allow-listed fields and counts."""
    out: dict[str, Any] = {}
    for key, value in alert.items():
        if key not in NGO_ALERT_FIELDS or key == "signals":
            continue
        if key in ("source", "target"):
            out[key] = _ngo_community(value)
        elif isinstance(value, bool | int | float | str) or value is None:
            out[key] = value
    signals = []
    for signal in alert.get("signals") or []:
        if not isinstance(signal, dict):
            continue
        evidence = list(signal.get("evidence") or [])
        redacted = [r for r in (redact_evidence_item(e) for e in evidence) if r]
        name, score = signal.get("name"), signal.get("score")
        signals.append({"name": name if isinstance(name, str) else None,
                        "score": score if isinstance(score, int | float) else None,
                        "evidence_count": len(evidence), "evidence": redacted})
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


def _scalar_summary(t: Lang, item: dict[str, Any], skip: Sequence[str] = ()) -> str:
    parts = []
    for key, value in item.items():
        if key in skip or isinstance(value, dict | list | tuple):
            continue
        parts.append(f"{key}={t.score(value)}" if isinstance(value, float) else f"{key}={value}")
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


def _kind_word(t: Lang, kind: Any) -> str:
    words = {"migration": t.pgettext("kind", "migration"), "rebrand": t.pgettext("kind", "rebrand"),
             "shutdown": t.pgettext("kind", "shutdown"), "hash_match": t.pgettext("kind", "hash_match"),
             "surge": t.pgettext("kind", "surge")}
    return words.get(str(kind), str(kind or "?"))


def _level_word(t: Lang, level: Any) -> str:
    words = {"strong": t.pgettext("level", "strong"), "likely": t.pgettext("level", "likely"),
             "possible": t.pgettext("level", "possible")}
    return words.get(str(level), str(level or "?")).upper()


def _score(t: Lang, value: Any) -> str:
    return t.score(float(value) if isinstance(value, int | float) else 0.0)


def _headline(t: Lang, alert: dict[str, Any]) -> str:
    number = f" #{alert['id']}" if alert.get("id") is not None else ""
    escalated = t._(" (escalated)") if alert.get("escalations") else ""
    return t._("{level} {kind} alert{number}{escalated} — score {score}", level=_level_word(t, alert.get("level")),
               kind=_kind_word(t, alert.get("kind")), number=number, escalated=escalated,
               score=_score(t, alert.get("score")))


def _evidence_count(t: Lang, name: Any, score: Any, count: int) -> str:
    return t.ngettext("{name}: {score} ({n} evidence item)", "{name}: {score} ({n} evidence items)", count,
                      name=name, score=_score(t, score))


# ---------------------------------------------------------------- one alert


def _text_block(t: Lang, alert: dict[str, Any], detail: str, summary: str, steps: Sequence[Step]) -> list[str]:
    lines = [_headline(t, alert), "", summary, ""]
    if steps:
        lines.append(t._("What to do next:"))
        lines.extend(f"  - {step.text}" + (f" {step.url}" if step.url else "") for step in steps)
        lines.append("")
    source = alert.get("source") or {}
    source_label, target_label = t._("From:"), t._("To:")
    lines.append(f"{source_label} {community_label(source)} {source.get('url') or ''}".rstrip())
    if alert.get("target"):
        target = alert["target"]
        pad = " " * max(1, len(source_label) - len(target_label) + 1)
        lines.append(f"{target_label}{pad}{community_label(target)} {target.get('url') or ''}".rstrip())
    lines.append(t._("Signals:"))
    for signal in alert.get("signals") or []:
        evidence = signal.get("evidence") or []
        count = signal.get("evidence_count", len(evidence))
        lines.append(f"  - {_evidence_count(t, signal.get('name'), signal.get('score'), count)}")
        for item in evidence:
            if not isinstance(item, dict):
                if detail == "investigator":
                    lines.append(f"      * {item}")
                continue
            if detail == "ngo":
                scalars = _scalar_summary(t, item)
                if scalars:
                    lines.append(f"      * {scalars}")
                continue
            url = _evidence_url(item)
            excerpt = _excerpt(item)
            scalars = _scalar_summary(t, item, skip=("excerpt", "text", "snippet", "quote", "post_url", "url",
                                                     "source_url", "target_url"))
            lines.append(f"      * {url or ''} {scalars}".rstrip())
            if excerpt:
                lines.append(f'        "{excerpt}"')
    lines.append(t._("State: {state} · raised {at}", state=alert.get("state", "new"), at=alert.get("created_at", "")))
    return lines


_LINK = re.compile(r"https?://[^\s<>\"']+?(?=[.,;:)»”]?(?:\s|$))")


def _linked(text: str, known: Collection[str]) -> str:
    """Plain text as HTML, the links Resurface itself wrote (forum threads, reporting forms) made
    clickable. Any other link-like text (a community could name itself after a phishing page) stays text."""
    escaped = html.escape(text, quote=False)

    def link(found: re.Match[str]) -> str:
        url = html.unescape(found.group(0))
        return f'<a href="{html.escape(url, quote=True)}">{found.group(0)}</a>' if url in known else found.group(0)

    return _LINK.sub(link, escaped)


def _html_step(step: Step, known: Collection[str]) -> str:
    href = _safe_href(step.url)
    link = f' <a href="{html.escape(href, quote=True)}">{html.escape(href)}</a>' if href else ""
    return f"<li>{_linked(step.text, known)}{link}</li>"


def _html_block(t: Lang, alert: dict[str, Any], detail: str, summary: str, steps: Sequence[Step],
                known: Collection[str] = ()) -> str:
    out = [f"<h3>{html.escape(_headline(t, alert))}</h3>", f'<p class="summary">{_linked(summary, known)}</p>']
    if steps:
        heading = html.escape(t._("What to do next:"))
        out.append(f'<p><b>{heading}</b></p><ul class="next-steps">' + "".join(_html_step(s, known) for s in steps)
                   + "</ul>")
    source_label, target_label = html.escape(t._("From:")), html.escape(t._("To:"))
    out += ["<p>", f"{source_label} {_html_community(alert.get('source'))}<br>"]
    if alert.get("target"):
        out.append(f"{target_label} {_html_community(alert['target'])}<br>")
    out.append("</p><ul>")
    for signal in alert.get("signals") or []:
        evidence = signal.get("evidence") or []
        count = signal.get("evidence_count", len(evidence))
        out.append(f"<li>{html.escape(_evidence_count(t, signal.get('name'), signal.get('score'), count))}")
        items = []
        for item in evidence:
            if not isinstance(item, dict):
                if detail == "investigator":
                    items.append(f"<li>{html.escape(str(item))}</li>")
                continue
            if detail == "ngo":
                scalars = _scalar_summary(t, item)
                if scalars:
                    items.append(f"<li>{html.escape(scalars)}</li>")
                continue
            url = _evidence_url(item)
            excerpt = _excerpt(item)
            scalars = _scalar_summary(t, item, skip=("excerpt", "text", "snippet", "quote", "post_url", "url",
                                                     "source_url", "target_url"))
            href = _safe_href(url)
            link = f'<a href="{html.escape(href, quote=True)}">{html.escape(href)}</a> ' if href else ""
            quote = f"<blockquote>{html.escape(excerpt)}</blockquote>" if excerpt else ""
            items.append(f"<li>{link}{html.escape(scalars)}{quote}</li>")
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
        out.append("</li>")
    state = t._("State: {state} · raised {at}", state=alert.get("state", "new"), at=alert.get("created_at", ""))
    out.append(f"</ul><p>{html.escape(state)}</p>")
    return "".join(out)


def _footer(key: str, detail: str) -> tuple[str, str]:
    text = f"Idempotency-Key: {key}\nDetail: {detail}. Sent by Resurface."
    return text, f"<p><small>Idempotency-Key: {html.escape(key)} · detail: {html.escape(detail)}</small></p>"


@dataclass(frozen=True, slots=True)
class _View:
    """One alert as an audience sees it: the redacted JSON plus the plain-language parts."""

    data: dict[str, Any]
    summary: str
    steps: tuple[Step, ...]
    links: frozenset[str]  # the links Resurface wrote into the summary and steps


def _view(alert: dict[str, Any], detail: str, language: str, config: str | None) -> _View:
    # The summary and the steps are written from the full alert, from fields NGOs may see only
    # (alerts.summary); the redacted view drops the rest, including the deliverer's "context".
    summary = summarise(alert, language, detail)
    steps = tuple(next_steps(alert, language, detail, config))
    data = {**for_audience(alert, detail), "summary": summary, "next_steps": [s.as_dict() for s in steps],
            "language": language}
    links = frozenset({*ROUTE_LINKS, *threads(alert, "source"), *threads(alert, "target")})
    return _View(data, summary, steps, links)


def render_alert(alert: dict[str, Any], detail: str, key: str, *, language: str = "en",
                 config: str | None = None) -> Message:
    """One alert for one audience. ``alert`` is the full alert JSON (:func:`alerts.lifecycle.alert_json`,
    with the deliverer's optional ``context``); it is redacted here for NGOs. ``language`` picks the
    catalogue; ``config`` is the deployment's config file, named in the investigators' workspace step."""
    if detail not in DETAILS:
        raise ValueError(f"unknown detail {detail!r}; expected one of {', '.join(DETAILS)}")
    t = lang(language)
    view = _view(alert, detail, language, config)
    foot_text, foot_html = _footer(key, detail)
    title = f"[Resurface] {_headline(t, view.data)}"
    text = "\n".join(_text_block(t, view.data, detail, view.summary, view.steps)) + "\n\n" + foot_text + "\n"
    block = _html_block(t, view.data, detail, view.summary, view.steps, view.links)
    body = f"<html><body>{block}{foot_html}</body></html>"
    return Message(title=title, text=text, html=body, data={**view.data, "idempotency_key": key}, key=key)


def render_digest(alerts: Sequence[dict[str, Any]], detail: str, key: str, audience: str, *, language: str = "en",
                  config: str | None = None) -> Message:
    """Many alerts as one message (a digest window, or a storm beyond the rate limit)."""
    if detail not in DETAILS:
        raise ValueError(f"unknown detail {detail!r}; expected one of {', '.join(DETAILS)}")
    t = lang(language)
    views = [_view(a, detail, language, config) for a in alerts]
    levels = sorted({_level_word(t, v.data.get("level")).lower() for v in views})
    title = "[Resurface] " + t.ngettext("digest: {n} alert for {audience} ({levels})",
                                        "digest: {n} alerts for {audience} ({levels})", len(views),
                                        audience=audience, levels=", ".join(levels))
    foot_text, foot_html = _footer(key, detail)
    text = ("\n\n".join("\n".join(_text_block(t, v.data, detail, v.summary, v.steps)) for v in views)
            + "\n\n" + foot_text + "\n")
    body = ("<html><body>" + f"<h2>{html.escape(title)}</h2>"
            + "<hr>".join(_html_block(t, v.data, detail, v.summary, v.steps, v.links) for v in views)
            + foot_html + "</body></html>")
    data = {"digest": True, "audience": audience, "count": len(views), "alerts": [v.data for v in views],
            "language": language, "idempotency_key": key}
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
