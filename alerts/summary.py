"""Alerts in plain language: one paragraph saying what happened, and what the reader can do next.

Pure functions over the alert JSON (``alerts.lifecycle.alert_json``), optionally enriched with a
``context`` member (:mod:`alerts.context`: community kinds, when Resurface started watching, earlier
names, forum thread links). Without the context the sentences are shorter, never wrong.

What a summary may contain, for every audience (it is shown to NGOs; docs/alerts.md): community names,
platforms and links, forum thread links (built from the forum's own address and the thread's number,
so a thread title in a slug never travels), dates, counts, the level and the score. It never quotes a
post, names a member or links a post: values are read from a fixed set of evidence fields, each checked
for its type (a count must be an int, a date an ISO date), and renames are read only from rename events
(``field`` = ``title``/``handle``). Hash-list names are for investigators only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from alerts.i18n import Lang, lang

log = logging.getLogger(__name__)

NAME_CHARS = 120
MAX_THREADS = 5

PLATFORM_NAMES = {"telegram": "Telegram", "reddit": "Reddit", "discourse": "Discourse", "phpbb": "phpBB",
                  "xenforo": "XenForo", "facebook": "Facebook", "discord": "Discord", "whatsapp": "WhatsApp",
                  "signal": "Signal", "web": "web", "instagram": "Instagram"}
FORUMS = frozenset({"discourse", "phpbb", "xenforo"})
GONE = ("deleted", "banned", "removed", "private", "unreachable")
#: Links the next steps' own wording names (reporting forms and guidance); rendered HTML links these.
ROUTE_LINKS = frozenset({"https://www.reddit.com/report", "https://lookup.icann.org", "https://dis.gd/report",
                         "https://about.meta.com/actions/safety/topics/bullying-harassment/ncii"})


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the reader can do: a sentence, and the link it is about (if any)."""

    text: str
    url: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "url": self.url}


# ---------------------------------------------------------------- typed reading of untrusted values


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    flat = " ".join(value.split())
    if not flat:
        return None
    return flat if len(flat) <= NAME_CHARS else flat[: NAME_CHARS - 1] + "…"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _http(value: Any) -> str | None:
    if not isinstance(value, str) or not value.lower().startswith(("https://", "http://")):
        return None
    return value if not any(c.isspace() for c in value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _evidence(alert: Mapping[str, Any], signal: str) -> list[dict[str, Any]]:
    for item in alert.get("signals") or []:
        if isinstance(item, dict) and item.get("name") == signal:
            return [e for e in item.get("evidence") or [] if isinstance(e, dict)]
    return []


def _first(alert: Mapping[str, Any], signal: str) -> dict[str, Any]:
    items = _evidence(alert, signal)
    return items[0] if items else {}


def _context(alert: Mapping[str, Any], side: str) -> dict[str, Any]:
    return _dict(_dict(alert.get("context")).get(side))


# ---------------------------------------------------------------- forum threads


_THREAD_ID = {
    "discourse": re.compile(r"/t/(?:[^/?#]+/)?(\d+)(?:/\d+)?/?(?:[?#].*)?$"),
    "phpbb": re.compile(r"[?&]t=(\d+)"),
    "xenforo": re.compile(r"/threads/(?:[^/?#]*\.)?(\d+)(?:/|$)"),
}


def thread_url(platform: str, forum_url: str, thread_id: str) -> str | None:
    """The thread's address, built from the forum's own address and the thread number only: the
    forum software redirects it to the full address, and no thread title (a slug) travels."""
    base = _http(forum_url)
    if base is None or not re.fullmatch(r"\d{1,20}", thread_id or ""):
        return None
    base = base.rstrip("/")
    if platform == "discourse":
        return f"{base}/t/{thread_id}"
    if platform == "phpbb":
        return f"{base}/viewtopic.php?t={thread_id}"
    if platform == "xenforo":
        return f"{base}/threads/{thread_id}/"
    return None


def thread_id_from_url(platform: str, url: str) -> str | None:
    pattern = _THREAD_ID.get(platform)
    found = pattern.search(urlsplit(url)._replace(fragment="").geturl()) if pattern else None
    return found.group(1) if found else None


def _evidence_urls(alert: Mapping[str, Any]) -> Iterable[str]:
    for signal in alert.get("signals") or []:
        if not isinstance(signal, dict):
            continue
        for item in signal.get("evidence") or []:
            if isinstance(item, dict):
                for key in ("post_url", "matched_post_url"):
                    if isinstance(item.get(key), str):
                        yield item[key]


def threads(alert: Mapping[str, Any], side: str) -> list[str]:
    """Thread links of a forum ``side`` (``source``/``target``): from the context when the deliverer
    added it, else from the evidence's post links that lie inside that forum."""
    ref = _dict(alert.get(side))
    platform = str(ref.get("platform") or "")
    forum = _http(ref.get("url"))
    if platform not in FORUMS or forum is None:
        return []
    known = _dict(_dict(alert.get("context")).get("threads")).get(side)
    found: list[str] = []
    if isinstance(known, list):
        found = [u for u in known if isinstance(u, str) and _http(u) and u.startswith(forum.rstrip("/"))]
    else:
        prefix = forum.rstrip("/") + "/"
        for url in _evidence_urls(alert):
            tid = thread_id_from_url(platform, url) if url.startswith(prefix) else None
            built = thread_url(platform, forum, tid) if tid else None
            if built and built not in found:
                found.append(built)
    return found[:MAX_THREADS]


# ---------------------------------------------------------------- naming communities


def _kind(ref: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    kind = context.get("kind")
    if isinstance(kind, str) and kind not in ("", "unknown"):
        return kind
    platform = ref.get("platform")
    if platform == "reddit":
        return "subreddit"
    return "forum" if platform in FORUMS else "unknown"


def short_name(t: Lang, ref: Mapping[str, Any] | None) -> str:
    """A community's name on second mention: “Title”, r/name, or its link."""
    ref = ref or {}
    if ref.get("platform") == "reddit" and _name(ref.get("handle")):
        return f"r/{_name(ref.get('handle'))}"
    name = _name(ref.get("title")) or _name(ref.get("handle"))
    if name:
        return t._("“{name}”", name=name)
    return _http(ref.get("url")) or t._("an unnamed community")


def community(t: Lang, ref: Mapping[str, Any] | None, context: Mapping[str, Any] | None = None,
              name: str | None = None) -> str:
    """A community's first mention: "the Telegram channel “X” (@x)". ``name`` replaces its current name
    (a rebrand names the community by its old name)."""
    ref, context = ref or {}, context or {}
    platform_code = str(ref.get("platform") or "")
    platform = PLATFORM_NAMES.get(platform_code, platform_code or "?")
    shown = t._("“{name}”", name=name) if name else short_name(t, ref)
    handle = _name(ref.get("handle"))
    if platform_code == "telegram" and handle and not name and handle != _name(ref.get("title")):
        shown = f"{shown} (@{handle})"
    kind = _kind(ref, context)
    if kind == "channel":
        return t._("the {platform} channel {name}", platform=platform, name=shown)
    if kind == "group":
        return t._("the {platform} group {name}", platform=platform, name=shown)
    if kind == "subreddit":
        return t._("the subreddit {name}", name=shown)
    if kind in ("forum", "board"):
        return t._("the {platform} forum {name}", platform=platform, name=shown)
    if kind == "thread":
        return t._("the {platform} thread {name}", platform=platform, name=shown)
    if kind == "page":
        return t._("the {platform} page {name}", platform=platform, name=shown)
    return t._("the {platform} community {name}", platform=platform, name=shown)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def _day(t: Lang, at: datetime) -> str:
    return t.date(at.astimezone(UTC).date())


def _subject(t: Lang, ref: Mapping[str, Any] | None, context: Mapping[str, Any], name: str | None = None) -> str:
    """The community, with when Resurface started watching it if known."""
    phrase = community(t, ref, context, name)
    since = _when(context.get("first_seen"))
    return t._("{community}, watched since {date},", community=phrase, date=_day(t, since)) if since else phrase


def _gone(t: Lang, status: str | None, at: datetime | None) -> str:
    """What happened to a community that went away ("was deleted on March 2, 2026")."""
    if at is None:
        undated = {"deleted": t._("was deleted"), "banned": t._("was banned"), "removed": t._("was removed"),
                   "private": t._("became private"), "unreachable": t._("stopped answering"),
                   "rename": t._("renamed itself")}
        return undated.get(status or "", t._("shut down"))
    day = _day(t, at)
    dated = {"deleted": t._("was deleted on {date}", date=day), "banned": t._("was banned on {date}", date=day),
             "removed": t._("was removed on {date}", date=day),
             "private": t._("became private on {date}", date=day),
             "unreachable": t._("has not answered since {date}", date=day),
             "rename": t._("renamed itself on {date}", date=day)}
    return dated.get(status or "", t._("shut down on {date}", date=day))


def _number_words(t: Lang, n: int) -> str:
    words = {2: t._("two"), 3: t._("three"), 4: t._("four"), 5: t._("five"), 6: t._("six"), 7: t._("seven"),
             8: t._("eight"), 9: t._("nine"), 10: t._("ten")}
    return words.get(n, str(n))


def _level(t: Lang, level: Any) -> str:
    words = {"strong": t.pgettext("level", "strong"), "likely": t.pgettext("level", "likely"),
             "possible": t.pgettext("level", "possible")}
    return words.get(str(level), str(level) if isinstance(level, str) else "?")


def _score(t: Lang, alert: Mapping[str, Any]) -> str:
    return t.score(_number(alert.get("score")) or 0.0)


def _level_sentence(t: Lang, alert: Mapping[str, Any]) -> str:
    return t._("Alert level: {level} (score {score}).", level=_level(t, alert.get("level")),
               score=_score(t, alert))


def _threads_sentence(t: Lang, alert: Mapping[str, Any], side: str) -> str | None:
    found = threads(alert, side)
    if not found:
        return None
    return t.ngettext("On the forum this is in the thread {urls}.", "On the forum this is in the threads {urls}.",
                      len(found), urls=t.join(found))


# ---------------------------------------------------------------- one paragraph per kind


def _migration(t: Lang, alert: Mapping[str, Any]) -> list[str]:
    source, target = _dict(alert.get("source")), _dict(alert.get("target"))
    src_ctx, tgt_ctx = _context(alert, "source"), _context(alert, "target")
    timing = _first(alert, "timing")
    event = timing.get("source_event") if timing.get("source_event") in ("shutdown", "rename") else None
    event_at = _when(timing.get("source_event_at"))
    status = src_ctx.get("status") if src_ctx.get("status") in GONE else None
    if event is None and status is not None:
        event, event_at = "shutdown", _when(src_ctx.get("removed_at")) or _when(src_ctx.get("gone_at"))
    sentences = []
    subject = _subject(t, source, src_ctx)
    if event == "rename":
        sentences.append(f"{subject} {_gone(t, 'rename', event_at)}.")
    elif event == "shutdown":
        sentences.append(f"{subject} {_gone(t, status, event_at)}.")
    else:
        sentences.append(t._("{community} is still online.", community=subject))

    target_named = False
    full_target = community(t, target, tgt_ctx)
    announced = [a for a in _evidence(alert, "announcement") if a.get("posted_in", "source") == "source"]
    backlinks = [a for a in _evidence(alert, "announcement") if a.get("posted_in") == "target"]
    ann_at = next((w for w in (_when(a.get("created_at")) for a in announced) if w), None)
    if announced:
        if ann_at is not None and event_at is not None:
            days = (event_at.date() - ann_at.date()).days
            if days == 0:
                when = t._("the same day")
            elif days == 1:
                when = t._("the day before")
            elif days == -1:
                when = t._("the day after")
            elif days > 0:
                when = t._("{n} days before", n=_number_words(t, days))
            else:
                when = t._("{n} days after", n=_number_words(t, -days))
            sentences.append(_sentence(t._("{when}, it announced {target}.", when=when, target=full_target)))
        elif ann_at is not None:
            sentences.append(t._("On {date}, it announced {target}.", date=_day(t, ann_at), target=full_target))
        else:
            sentences.append(t._("It announced {target}.", target=full_target))
        target_named = True
    elif backlinks:
        sentences.append(_sentence(t._("{target} presented itself as its successor.", target=full_target)))
        target_named = True

    content, members = _first(alert, "content"), _first(alert, "members")
    reposted = []
    media, texts = _count(content.get("media_matches")), _count(content.get("text_matches"))
    if media:
        reposted.append(t.ngettext("{n} of its pictures", "{n} of its pictures", media))
    if texts:
        reposted.append(t.ngettext("{n} of its texts", "{n} of its texts", texts))
    clauses = []
    if reposted:
        clauses.append(t._("has reposted {what}", what=t.join(reposted)))
    forwards = _count(content.get("forwards_from_source"))
    if forwards:
        clauses.append(t.ngettext("has forwarded {n} of its posts", "has forwarded {n} of its posts", forwards))
    shared, known = _count(members.get("shared_members", members.get("shared"))), _count(members.get("source_members"))
    if shared:
        if known:
            clauses.append(t.ngettext("shares {n} of its {total} known members",
                                      "shares {n} of its {total} known members", shared, total=known))
        else:
            clauses.append(t.ngettext("shares {n} of its members", "shares {n} of its members", shared))
    if clauses:
        who = (short_name(t, target) if target_named else full_target) if target else t._("the candidate successor")
        sentences.append(_sentence(t._("{target} {what}.", target=who, what=t.join(clauses))))
        target_named = True
    name = _first(alert, "name")
    similarity = _number(name.get("similarity"))
    old_name, new_name = _name(name.get("source_name")), _name(name.get("target_name"))
    if similarity is not None and similarity >= 0.85 and old_name and new_name and old_name != new_name:
        sentences.append(t._("Its name, {new}, imitates {old}.", new=t._("“{name}”", name=new_name),
                             old=t._("“{name}”", name=old_name)))
    if not target_named and target:
        sentences.append(_sentence(t._("The candidate successor is {target}.", target=full_target)))
    thread_sentence = _threads_sentence(t, alert, "target")
    if thread_sentence:
        sentences.append(thread_sentence)
    sentences.append(t._("Resurface rates this a {level} migration (score {score}).",
                         level=_level(t, alert.get("level")), score=_score(t, alert)))
    return sentences


def _old_title(alert: Mapping[str, Any], new: str | None) -> str | None:
    """The name before a rename when the event did not record it: the last earlier name the store
    holds for the community (the deliverer's context), else the alert's source name if it differs."""
    earlier = [n for n in (_name(x) for x in _context(alert, "source").get("former_titles") or []) if n]
    earlier = [n for n in earlier if n != new]
    if earlier:
        return earlier[-1]
    title = _name(_dict(alert.get("source")).get("title"))
    return title if title and title != new else None


def _rebrand(t: Lang, alert: Mapping[str, Any]) -> list[str]:
    source, target = _dict(alert.get("source")), _dict(alert.get("target"))
    src_ctx = _context(alert, "source")
    sentences = []
    items = _evidence(alert, "rename")
    renames = [e for e in items if e.get("field") in ("title", "handle")]
    for item in renames:
        at = _when(item.get("occurred_at")) or _when(item.get("observed_at"))
        new = _name(item.get("new"))
        if item["field"] == "title":
            new = new or _name(target.get("title")) or _name(source.get("title"))
            old = _name(item.get("old")) or _old_title(alert, new)
            quoted_new = t._("“{name}”", name=new) if new else t._("an unknown name")
            if old:
                subject = community(t, source, src_ctx, name=old)
                text = (t._("{community} renamed itself {new} on {date}.", community=subject, new=quoted_new,
                            date=_day(t, at)) if at else
                        t._("{community} renamed itself {new}.", community=subject, new=quoted_new))
            else:
                subject = community(t, source, src_ctx, name=new)
                text = t._("{community} has a new name; its earlier name is not known.", community=subject)
            sentences.append(_sentence(text))
        else:
            old = _name(item.get("old")) or _name(source.get("handle"))
            new = new or _name(target.get("handle"))
            subject = community(t, source, src_ctx)
            if old and new and at:
                text = t._("{community} changed its address from @{old} to @{new} on {date}.", community=subject,
                           old=old, new=new, date=_day(t, at))
            elif old and new:
                text = t._("{community} changed its address from @{old} to @{new}.", community=subject, old=old,
                           new=new)
            else:
                text = t._("{community} changed its address.", community=subject)
            sentences.append(_sentence(text))
    if any(e.get("kind") == "handle_reuse" for e in items) or (not renames and target):
        handle = _name(source.get("handle"))
        other = community(t, target, _context(alert, "target")) if target else t._("another community")
        if handle:
            sentences.append(_sentence(t._("The address @{handle} of {community} now leads to {other}.",
                                           handle=handle, community=community(t, source, src_ctx), other=other)))
        else:
            sentences.append(_sentence(t._("The address of {community} now leads to {other}.",
                                           community=community(t, source, src_ctx), other=other)))
    if not sentences:
        sentences.append(_sentence(t._("{community} changed its name or address.",
                                       community=community(t, source, src_ctx))))
    sentences.append(_level_sentence(t, alert))
    return sentences


def _shutdown(t: Lang, alert: Mapping[str, Any]) -> list[str]:
    source, src_ctx = _dict(alert.get("source")), _context(alert, "source")
    item = _first(alert, "shutdown")
    status = item.get("status") if item.get("status") in GONE else None
    at = _when(item.get("removed_at")) or _when(item.get("occurred_at"))
    sentences = [_sentence(f"{_subject(t, source, src_ctx)} {_gone(t, status, at)}.")]
    failed = _count(item.get("failed_observations"))
    if item.get("via") == "entered by hand":
        sentences.append(t._("This was entered by hand."))
    elif item.get("definitive") is False and failed:
        sentences.append(t.ngettext("Resurface found it unreadable {n} time in a row and treats it as shut down.",
                                    "Resurface found it unreadable {n} times in a row and treats it as shut down.",
                                    failed))
    pending, read = _count(item.get("pending_leads")), _count(item.get("leads_read"))
    if pending and alert.get("level") == "likely":
        # a Telegram handle that says "does not exist" may have moved: held while links are unread
        sentences.append(t.ngettext(
            "A channel that changes its address answers the same way, and {n} link found since it was last "
            "read is not read yet: this stays likely until it is.",
            "A channel that changes its address answers the same way, and {n} links found since it was last "
            "read are not read yet: this stays likely until they are.", pending))
    elif read is not None and _when(item.get("held_until")):
        sentences.append(t._("The links found since it was last read could not all be read in time; none of "
                             "those read led to it under a new address."))
    elif read:
        sentences.append(t.ngettext("The {n} link found since it was last read was read; it did not lead to it "
                                    "under a new address.",
                                    "The {n} links found since it was last read were read; none led to it "
                                    "under a new address.", read))
    back = _first(alert, "recovered")
    if back.get("recovered") is True:
        # the community reads normally again (a flaky answer, or a group that was private for a while):
        # the alert stays for the record, marked recovered, and says so first to every audience
        when = _when(back.get("recovered_at"))
        sentences.append(t._("It can be read again since {date}: this alert is marked recovered.",
                             date=_day(t, when)) if when else
                         t._("It can be read again: this alert is marked recovered."))
    else:
        sentences.append(t._("Resurface keeps looking for the groups that take its place."))
    sentences.append(_level_sentence(t, alert))
    return sentences


def _hash_match(t: Lang, alert: Mapping[str, Any], detail: str) -> list[str]:
    source, src_ctx = _dict(alert.get("source")), _context(alert, "source")
    items = _evidence(alert, "hash_list")
    at = min((w for w in (_when(e.get("at")) for e in items) if w), default=None)
    distances = [d for d in (_count(e.get("distance")) for e in items) if d is not None]
    place = community(t, source, src_ctx)
    entries = max(len(items), 1)
    if at:
        text = t.ngettext("A picture posted on {date} in {community} matches {n} entry of your hash lists",
                          "A picture posted on {date} in {community} matches {n} entries of your hash lists",
                          entries, date=_day(t, at), community=place)
    else:
        text = t.ngettext("A picture posted in {community} matches {n} entry of your hash lists",
                          "A picture posted in {community} matches {n} entries of your hash lists",
                          entries, community=place)
    if distances:
        text += " " + t._("(PDQ distance {distance})", distance=min(distances))
    sentences = [text + "."]
    if detail == "investigator":
        lists = sorted({n for n in (_name(e.get("list")) for e in items) if n})
        if lists:
            sentences.append(t._("Lists: {lists}.", lists=t.join(lists)))
    thread_sentence = _threads_sentence(t, alert, "source")
    if thread_sentence:
        sentences.append(thread_sentence)
    sentences.append(_level_sentence(t, alert))
    return sentences


def _surge(t: Lang, alert: Mapping[str, Any]) -> list[str]:
    source, src_ctx = _dict(alert.get("source")), _context(alert, "source")
    items = [e for s in alert.get("signals") or [] if isinstance(s, dict)
             for e in s.get("evidence") or [] if isinstance(e, dict)]
    item = items[0] if items else {}
    place = community(t, source, src_ctx)
    factor = _number(item.get("factor"))
    times = t.number(round(factor, 1)) if factor else None
    sentences = []
    if item.get("measure") == "member_count" and _count(item.get("from")) is not None and _count(item.get("to")):
        at = _when(item.get("observed_at"))
        values = {"community": place, "old": t.number(item["from"]), "new": t.number(item["to"])}
        text = (t._("{community} grew from {old} to {new} members by {date}", date=_day(t, at), **values) if at else
                t._("{community} grew from {old} to {new} members", **values))
        if times:
            text += t._(", {factor} times its usual rate", factor=times)
        sentences.append(_sentence(text + "."))
    elif item.get("measure") == "new_members" and _count(item.get("joins")):
        day = _when(item.get("day"))
        joins = int(item["joins"])
        text = (t.ngettext("On {date}, {n} new member appeared in {community}",
                           "On {date}, {n} new members appeared in {community}", joins, date=_day(t, day),
                           community=place) if day else
                t.ngettext("{n} new member appeared in {community}", "{n} new members appeared in {community}",
                           joins, community=place))
        if times:
            text += t._(", {factor} times its usual daily number", factor=times)
        sentences.append(_sentence(text + "."))
    else:
        sentences.append(_sentence(t._("{community} is growing much faster than usual.", community=place)))
    sentences.append(_level_sentence(t, alert))
    return sentences


def summarise(alert: Mapping[str, Any], language: str = "en", detail: str = "ngo") -> str:
    """One paragraph, in ``language``, saying what happened. Never raises on odd evidence: what cannot
    be read is left out (and logged)."""
    t = lang(language)
    kind = alert.get("kind")
    try:
        if kind == "migration":
            sentences = _migration(t, alert)
        elif kind == "rebrand":
            sentences = _rebrand(t, alert)
        elif kind == "shutdown":
            sentences = _shutdown(t, alert)
        elif kind == "hash_match":
            sentences = _hash_match(t, alert, detail)
        elif kind == "surge":
            sentences = _surge(t, alert)
        else:
            sentences = [_sentence(t._("Resurface raised an alert about {community}.",
                                       community=community(t, _dict(alert.get("source")),
                                                           _context(alert, "source")))),
                         _level_sentence(t, alert)]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        log.warning("alert #%s: summary left short (%s: %s)", alert.get("id"), type(exc).__name__, exc)
        sentences = [_level_sentence(t, alert)]
    return " ".join(_sentence(s) for s in sentences if s)


# ---------------------------------------------------------------- what to do next


def _report_step(t: Lang, ref: Mapping[str, Any], places: list[str]) -> Step:
    platform = str(ref.get("platform") or "")
    name = short_name(t, ref)
    link = places[0] if places else _http(ref.get("url"))
    if platform == "telegram":
        return Step(t._("Report {name} to Telegram: in the app open it, tap its name, then Report; or e-mail "
                        "abuse@telegram.org with its link.", name=name), link)
    if platform == "reddit":
        return Step(t._("Report {name} to Reddit with the form at https://www.reddit.com/report, choosing "
                        "non-consensual intimate media, and give its link.", name=name), link)
    if platform in ("facebook", "instagram"):
        return Step(t._("Report {name} to Meta with Report on the group's menu; Meta's guidance for intimate "
                        "images shared without consent: "
                        "https://about.meta.com/actions/safety/topics/bullying-harassment/ncii", name=name), link)
    if platform in FORUMS or platform == "web":
        return Step(t.ngettext("Report the thread to the moderators of {name} with the Report or Flag button on "
                               "its posts, and to the abuse contact of the site's hosting provider "
                               "(https://lookup.icann.org finds it from the domain).",
                               "Report the threads to the moderators of {name} with the Report or Flag button on "
                               "their posts, and to the abuse contact of the site's hosting provider "
                               "(https://lookup.icann.org finds it from the domain).",
                               max(len(places), 1), name=name), link)
    if platform == "discord":
        return Step(t._("Report {name} to Discord's Trust & Safety team at https://dis.gd/report.", name=name), link)
    if platform == "whatsapp":
        return Step(t._("Report {name} in WhatsApp: open the group's info, then Report group.", name=name), link)
    return Step(t._("Report {name} to {platform} with the platform's own reporting tools.", name=name,
                    platform=PLATFORM_NAMES.get(platform, platform or "?")), link)


def _stopncii(t: Lang) -> Step:
    return Step(t._("If you support the people in these pictures: StopNCII.org lets them hash their images so "
                    "that participating platforms block them, without the images leaving their device."),
                "https://stopncii.org/")


def next_steps(alert: Mapping[str, Any], language: str = "en", detail: str = "ngo",
               config: str | None = None) -> list[Step]:
    """What the reader can do. NGOs: where to report the community on its platform (forum threads by
    their link), and StopNCII when pictures are involved. Investigators: the evidence bundle and the
    workspace (the command that opens this alert in this deployment's store)."""
    t = lang(language)
    kind = alert.get("kind")
    alert_id = alert.get("id")
    if detail == "investigator":
        number = alert_id if isinstance(alert_id, int) else "ID"
        where = f"--config {config} " if config and config != "<defaults>" else ""
        export = f"resurface {where}alerts export {number} -o alert-{number}.zip"
        show = f"resurface {where}alerts show {number}"
        return [Step(t._("Evidence bundle (alert, posts, snapshots, hash manifest): {command}", command=export)),
                Step(t._("Workspace: {command}, then confirm or dismiss it with a note so detection learns.",
                         command=show))]
    source, target = _dict(alert.get("source")), _dict(alert.get("target"))
    steps: list[Step] = []
    if kind == "shutdown":
        platform = PLATFORM_NAMES.get(str(source.get("platform") or ""), str(source.get("platform") or "?"))
        if _first(alert, "recovered").get("recovered") is True:
            steps.append(Step(t._("Nothing to do: {platform} shows {name} again. Resurface goes on watching it.",
                                  platform=platform, name=short_name(t, source))))
            return steps
        steps.append(Step(t._("Nothing to report: {platform} no longer shows {name}. Resurface keeps watching for "
                              "the groups that take its place and alerts you when it finds one.",
                              platform=platform, name=short_name(t, source))))
        return steps
    side = "target" if kind == "migration" and target else "source"
    if kind == "rebrand" and target and any(e.get("kind") == "handle_reuse" for e in _evidence(alert, "rename")):
        side = "target"
    ref = target if side == "target" else source
    if ref:
        steps.append(_report_step(t, ref, threads(alert, side)))
    pictures = _count(_first(alert, "content").get("media_matches"))
    if kind == "hash_match" or pictures:
        steps.append(_stopncii(t))
    return steps
