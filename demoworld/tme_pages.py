"""Realistic, fictional ``t.me`` pages, built from message specs: the one renderer shared by the
demo world (:mod:`demoworld`) and the Telegram crawler tests.

The markup follows Telegram's web preview: class names, nesting, ``data-post``,
``data-view`` (base64 JSON with the channel id), ``data-peer``, the "more" link with
``data-before``, emoji wrapped in ``<i class="emoji"><b>…</b></i>``, footers with views and
``<time datetime>``. Channels, people and links are invented.

Public *groups* show who wrote each message: the author block links to the member's profile
(``a.tgme_widget_message_owner_name[href="https://t.me/<username>"]``, display name inside), where a
channel's posts link to the channel itself. :attr:`Msg.author` renders the group form.

``img_base`` replaces Telegram's CDN (``https://cdn4.telesco.pe``) so tests can serve the images.

The pages carry the traits of the real recordings in the real-world corpus (``telegram/s_feedjam.html``,
``s_topwar_official.html``, ``message_blocks/``): a comment after ``</html>``
(``<!-- page generated in …ms -->``), the round-video and poll markup, link previews with a picture.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["CDN", "Channel", "Msg", "channel_page", "contact_page", "message_html"]

CDN = "https://cdn4.telesco.pe"


@dataclass(frozen=True)
class Msg:
    id: int
    text: str = ""  # HTML allowed (links, <br/>, emoji markup)
    views: str | None = "1.2K"
    date: datetime | None = None
    edited: bool = False
    forward_name: str | None = None
    forward_href: str | None = None  # None with forward_name: a hidden forward
    photos: Sequence[str] = ()  # image file names under img_base/file/
    album: Sequence[int] = ()  # ids of an album's items (first one is this message)
    video_thumb: str | None = None
    preview: dict[str, str] | None = None  # url, site, title, description
    service: bool = False
    signature: str | None = None
    reply_to: int | None = None
    author: str | None = None  # a group member's username (groups show authors; channels do not)
    author_name: str | None = None  # their display name (defaults to the username)
    round_video_thumb: str | None = None  # a round video's thumbnail file (message_media_round_video.html)
    poll: tuple[str, ...] | None = None  # question, then the options (message_poll.html)


@dataclass(frozen=True)
class Channel:
    handle: str
    title: str
    channel_id: int
    description: str = ""
    subscribers: str = "12 345"
    photo: str | None = "chanphoto.jpg"
    extra_counters: dict[str, str] = field(default_factory=lambda: {"photos": "1.1K", "links": "87"})
    counter_label: str = "subscribers"  # "members" for a group


def _date(msg: Msg) -> datetime:
    return msg.date or datetime(2024, 3, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=37 * msg.id)


def _view_token(channel_id: int, post_id: int, when: datetime) -> str:
    data = {"c": -channel_id, "p": post_id, "t": int(when.timestamp()), "h": f"{(channel_id * 7919 + post_id):018x}"}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _bg(url: str) -> str:
    return f"width:100%;background-image:url('{url}')"


def message_html(ch: Channel, msg: Msg, img_base: str = CDN) -> str:
    when = _date(msg)
    owner = msg.author or ch.handle
    owner_name = (msg.author_name or msg.author) if msg.author else ch.title
    classes = ("tgme_widget_message text_not_supported_wrap" + (" service_message" if msg.service else "")
               + (" roundvideo_media no_bubble" if msg.round_video_thumb else ""))
    parts = [
        '<div class="tgme_widget_message_wrap js-widget_message_wrap">',
        f'<div class="{classes} js-widget_message" data-post="{ch.handle}/{msg.id}" '
        f'data-view="{_view_token(ch.channel_id, msg.id, when)}" '
        f'data-peer="c{ch.channel_id}_-{(ch.channel_id * 31) % 10**18}" data-peer-col="3" data-post-id="{msg.id}">',
        f'<div class="tgme_widget_message_user"><a href="https://t.me/{owner}">'
        f'<i class="tgme_widget_message_user_photo bgcolor3" style="width:45px;height:45px" '
        f'data-content="{html.escape(owner_name[:1])}"><img src="{img_base}/file/avatar-{owner}.jpg"></i></a></div>',
        '<div class="tgme_widget_message_bubble">',
        '<i class="tgme_widget_message_bubble_tail"><svg class="bubble_icon" width="9px" height="20px" '
        'viewBox="0 0 9 20"><path d="M6,17 L9,20 L0,20 Z"></path></svg></i>',
        '<div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
        f'href="https://t.me/{owner}"><span dir="auto">{html.escape(owner_name)}</span></a></div>',
    ]
    if msg.forward_name is not None:
        if msg.forward_href:
            parts.append('<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                         f'<a class="tgme_widget_message_forwarded_from_name" href="{msg.forward_href}">'
                         f'<span dir="auto">{html.escape(msg.forward_name)}</span></a></div>')
        else:
            parts.append('<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                         f'<span class="tgme_widget_message_forwarded_from_name" dir="auto">'
                         f'{html.escape(msg.forward_name)}</span></div>')
    if msg.reply_to is not None:
        parts.append(f'<a class="tgme_widget_message_reply" href="https://t.me/{ch.handle}/{msg.reply_to}">'
                     '<div class="tgme_widget_message_author accent_color">'
                     f'<span class="tgme_widget_message_author_name" dir="auto">{html.escape(ch.title)}</span></div>'
                     '<div class="tgme_widget_message_metatext js-message_reply_text" dir="auto">earlier post</div>'
                     '</a>')
    if msg.album:
        parts.append('<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap" data-margin-w="2" '
                     'data-margin-h="2" style="width:453px;"><div class="tgme_widget_message_grouped '
                     'js-message_grouped" style="padding-top:100%"><div class="tgme_widget_message_grouped_layer '
                     'js-message_grouped_layer">')
        for item, photo in zip(msg.album, msg.photos, strict=False):
            parts.append(f'<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo" '
                         f'style="{_bg(f"{img_base}/file/{photo}")}" data-ratio="1" '
                         f'href="https://t.me/{ch.handle}/{item}?single"></a>')
        parts.append("</div></div></div>")
    else:
        for photo in msg.photos:
            parts.append(f'<a class="tgme_widget_message_photo_wrap 5423 blured js-message_photo" '
                         f'style="{_bg(f"{img_base}/file/{photo}")}" href="https://t.me/{ch.handle}/{msg.id}">'
                         '<div class="tgme_widget_message_photo" style="padding-top:75%"></div></a>')
    if msg.video_thumb:
        parts.append(f'<a class="tgme_widget_message_video_player js-message_video_player" '
                     f'href="https://t.me/{ch.handle}/{msg.id}"><i class="tgme_widget_message_video_thumb" '
                     f'style="{_bg(f"{img_base}/file/{msg.video_thumb}")}"></i>'
                     '<div class="tgme_widget_message_video_wrap"><video class="tgme_widget_message_video '
                     'js-message_video" src="" width="100%" height="100%"></video></div>'
                     '<time class="message_video_duration js-message_video_duration">0:14</time></a>')
    if msg.round_video_thumb:
        parts.append('<div class="tgme_widget_message_roundvideo_player js-message_roundvideo_player">'
                     '<div class="tgme_widget_message_roundvideo_wrap"><i class="tgme_widget_message_roundvideo_thumb" '
                     f'style="background-image:url(\'{img_base}/file/{msg.round_video_thumb}\')"></i>'
                     '<video class="tgme_widget_message_roundvideo js-message_roundvideo" src="" width="100%" '
                     'height="100%" preload="" muted="" autoplay="" loop="" playsinline=""></video></div>'
                     '<time class="tgme_widget_message_roundvideo_duration js-message_roundvideo_duration">0:44'
                     '</time></div>')
    if msg.poll:
        question, *options = msg.poll
        parts.append('<div class="tgme_widget_message_poll js-poll">'
                     f'<div class="tgme_widget_message_poll_question">{html.escape(question)}</div>'
                     '<div class="tgme_widget_message_poll_type">Anonymous Poll</div>'
                     f'<a class="tgme_widget_message_poll_options" href="https://t.me/{ch.handle}/{msg.id}">'
                     + "".join('<div class="tgme_widget_message_poll_option">'
                               '<div class="tgme_widget_message_poll_option_percent">50%</div>'
                               '<div class="tgme_widget_message_poll_option_value">'
                               f'<div class="tgme_widget_message_poll_option_text">{html.escape(option)}</div>'
                               '</div></div>' for option in options)
                     + "</a></div>")
    if msg.text:
        parts.append(f'<div class="tgme_widget_message_text js-message_text" dir="auto">{msg.text}</div>')
    if msg.preview:
        p = msg.preview
        parts.append(
            f'<a class="tgme_widget_message_link_preview" href="{p["url"]}">'
            f'<i class="link_preview_right_image" style="{_bg(f"{img_base}/file/preview.jpg")}"></i>'
            f'<div class="link_preview_site_name accent_color" dir="auto">{html.escape(p.get("site", ""))}</div>'
            f'<div class="link_preview_title" dir="auto">{html.escape(p.get("title", ""))}</div>'
            f'<div class="link_preview_description" dir="auto">{html.escape(p.get("description", ""))}</div></a>'
        )
    parts.append('<div class="tgme_widget_message_footer compact js-message_footer">'
                 '<div class="tgme_widget_message_info short js-message_info">')
    if msg.views is not None:
        parts.append(f'<span class="tgme_widget_message_views">{msg.views}</span><span class="copyonly"> views</span>')
    if msg.signature:
        parts.append(f'<span class="tgme_widget_message_from_author" dir="auto">{html.escape(msg.signature)}'
                     '</span>,&nbsp;')
    parts.append('<span class="tgme_widget_message_meta">' + ("edited " if msg.edited else "")
                 + f'<a class="tgme_widget_message_date" href="https://t.me/{ch.handle}/{msg.id}">'
                 f'<time datetime="{when.isoformat()}" class="time">{when:%H:%M}</time></a></span>')
    parts.append("</div></div></div></div></div>")
    return "\n".join(parts)


def channel_page(ch: Channel, messages: Sequence[Msg], *, before: int | None = None, img_base: str = CDN) -> str:
    """A preview page: header, then the messages oldest first, with a "more" link when ``before``."""
    counters = [(ch.counter_label, ch.subscribers), *ch.extra_counters.items()]
    counter_html = "".join(
        f'<div class="tgme_channel_info_counter"><span class="counter_value">{value}</span> '
        f'<span class="counter_type">{kind}</span></div>' for kind, value in counters
    )
    photo = (f'<i class="tgme_page_photo_image bgcolor3" data-content="{html.escape(ch.title[:1])}">'
             f'<img src="{img_base}/file/{ch.photo}"></i>') if ch.photo else ""
    more = (f'<div class="tgme_widget_message_centered js-messages_more_wrap"><a href="/s/{ch.handle}?before={before}" '
            f'class="tme_messages_more js-messages_more" data-before="{before}"></a></div>') if before else ""
    body = "\n".join(message_html(ch, m, img_base) for m in sorted(messages, key=lambda m: m.id))
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{html.escape(ch.title)} – Telegram</title>
    <meta name="viewport" content="width=device-width, initial-scale=1.0, minimum-scale=1.0, maximum-scale=1.0">
    <meta property="og:title" content="{html.escape(ch.title)}">
    <meta property="og:description" content="{html.escape(ch.description)}">
    <link href="//telegram.org/css/widget-frame.css?71" rel="stylesheet">
    <link href="//telegram.org/css/telegram-web.css?40" rel="stylesheet">
  </head>
  <body class="widget_frame_base tgme_webpage emoji_image nodark">
    <header class="tgme_header search_collapsed">
      <div class="tgme_header_search"><form class="tgme_header_search_form" action="" method="get">
        <input class="tgme_header_search_form_input js-header_search" placeholder="Search" name="q" value="">
      </form></div>
      <div class="tgme_header_info"><div class="tgme_header_title">{html.escape(ch.title)}</div>
        <div class="tgme_header_counter">{ch.subscribers} {ch.counter_label}</div></div>
    </header>
    <main class="tgme_main" data-url="/s/{ch.handle}">
      <div class="tgme_container">
        <section class="tgme_right_column">
          <div class="tgme_channel_info">
            <div class="tgme_channel_info_header">
              {photo}
              <div class="tgme_channel_info_header_title"><span dir="auto">{html.escape(ch.title)}</span></div>
              <div class="tgme_channel_info_header_username"><a href="https://t.me/{ch.handle}">@{ch.handle}</a></div>
            </div>
            <div class="tgme_channel_info_counters">{counter_html}</div>
            <div class="tgme_channel_info_description">{html.escape(ch.description)}</div>
          </div>
        </section>
        <section class="tgme_channel_history js-message_history">
          {more}
          {body}
        </section>
      </div>
    </main>
    <script src="//telegram.org/js/widget-frame.js?66"></script>
  </body>
</html>
<!-- page generated in 25.61ms -->
"""


def contact_page(handle: str) -> str:
    """``t.me/<handle>`` when the handle resolves to nothing (a deleted channel or group): Telegram's
    generic "contact @handle" page, without ``.tgme_page_title``."""
    h = html.escape(handle)
    return f"""<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>Telegram: Contact @{h}</title>
    <meta property="og:title" content="Telegram: Contact @{h}"></head>
  <body class="no_transition">
    <div class="tgme_page_wrap">
      <div class="tgme_body_wrap">
        <div class="tgme_page">
          <div class="tgme_page_icon"><i class="tgme_icon_user"></i></div>
          <div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact
            <a class="tgme_username_link" href="tg://resolve?domain={h}">@{h}</a> right away.</div>
          <div class="tgme_page_action"><a class="tgme_action_button_new shine"
            href="tg://resolve?domain={h}">Send Message</a></div>
        </div>
      </div>
    </div>
  </body>
</html>
<!-- page generated in 3.25ms -->
"""
