"""Generated worlds for the detection evaluation: pure functions of ``(seed, params, now)``.

A :class:`World` is a handful of communities on Telegram (channels and groups), Reddit and Discourse
forums, seen in two phases: ``before`` the takedown and ``after`` it. Each world mixes one or more
*scenarios* (the ten classes of issue 15, see :data:`CLASSES`) with decoys and noise drawn from
:class:`Params`, and carries its **labels**: the alerts a perfect detector raises (:class:`Label`) and
those it must not raise (:class:`Forbid`). Labels are set by what was planted, never by looking at
what Resurface answers.

Pictures are only named here (:class:`Picture`); :func:`picture_bytes` draws them in memory when a
server is asked for one. Nothing is written to disk.

Every name, handle and person is invented.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
from PIL import Image

__all__ = [
    "CLASSES", "LANGUAGES", "LEVELS", "Forbid", "Forum", "ForumPost", "ForumTopic", "Invite", "Label", "Params",
    "Phase", "Picture", "RedditPost", "Ref", "Subreddit", "TgChat", "TgPost", "World", "generate",
    "picture_bytes",
]

LEVELS = ("possible", "likely", "strong")
LANGUAGES = ("it", "en", "de", "fr", "es")

#: The ten classes of issue 15, each a scenario the generator can plant.
CLASSES: dict[str, str] = {
    "c1": "successor with no announcement and a different name, found only by content",
    "c2": "a directory channel lists many links; the one reposting the closed channel is the successor",
    "c3": "a private invite as the successor",
    "c4": "handle change of the same channel",
    "c5": "cross-platform successor (banned subreddit → its own forum)",
    "c6": "small community: most of few members move",
    "c7": "successor created before the shutdown, surging after it",
    "c8": "flaky source: one bare 403/404, then it answers again",
    "c9": "surge of the successor after its source vanished",
    "c10": "rebrand evidence: old title named, history is not a new rebrand",
}


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Ref:
    """A community as labels name it: ``telegram``/``reddit`` handle, a forum's title, or ``+CODE``."""

    platform: str
    name: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.name}"


@dataclass(frozen=True)
class Label:
    """An alert a perfect detector raises: at least ``min_level``; ``evidence`` strings must appear in it."""

    kind: str  # migration, shutdown, rebrand, surge
    source: Ref
    target: Ref | None
    min_level: str
    cls: str  # a key of CLASSES, or "base" for the shutdowns every scenario implies
    evidence: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Forbid:
    """No more than ``max_count`` alerts of ``kind`` at or above ``level`` about ``source`` (and ``target``,
    when given)."""

    kind: str
    source: Ref
    target: Ref | None
    level: str
    cls: str
    max_count: int = 0
    live: bool = False  # counts toward "strong alerts on live communities"
    unless_recovered: bool = False  # allowed when the alert is marked recovered
    note: str = ""


@dataclass(frozen=True)
class Picture:
    """``seed``: which picture; ``variant`` 0 is the original, k > 0 a re-encoded near-duplicate."""

    seed: int
    variant: int = 0

    @property
    def name(self) -> str:
        return f"p{self.seed}-{self.variant}.jpg"


@dataclass(frozen=True)
class LinkPreview:
    url: str
    site: str
    title: str
    description: str


@dataclass(frozen=True)
class TgPost:
    id: int
    date: datetime
    text: str = ""  # plain text; URLs in it are linked when rendered
    author: str | None = None  # a group member's username (groups show authors)
    photos: tuple[Picture, ...] = ()
    forward: tuple[str, str, int] | None = None  # (handle, title, post id) of the original
    preview: LinkPreview | None = None
    service: bool = False
    views: int | None = None


@dataclass(frozen=True)
class TgChat:
    handle: str
    title: str
    channel_id: int
    group: bool
    members: int
    description: str
    posts: tuple[TgPost, ...]
    created: datetime | None = None


@dataclass(frozen=True)
class Invite:
    code: str
    title: str
    description: str
    members: int


@dataclass(frozen=True)
class RedditPost:
    id: str
    title: str
    selftext: str
    author: str
    date: datetime


@dataclass(frozen=True)
class Subreddit:
    name: str
    title: str
    subscribers: int
    posts: tuple[RedditPost, ...]
    banned: bool = False


@dataclass(frozen=True)
class ForumPost:
    id: int
    author: str
    user_id: int
    date: datetime
    html: str


@dataclass(frozen=True)
class ForumTopic:
    id: int
    title: str
    posts: tuple[ForumPost, ...]


@dataclass(frozen=True)
class Forum:
    key: str  # which server serves it
    title: str
    description: str
    users: int
    topics: tuple[ForumTopic, ...]


@dataclass(frozen=True)
class Phase:
    """What the servers show in one phase; a Telegram handle missing from ``telegram`` does not exist.
    ``flaky``: community key (``telegram:h``, ``reddit:n``, ``discourse:key``) → what its first request of
    the phase gets (later requests answer normally): a bare HTTP status, or for Reddit ``"private"`` (a
    403 with ``reason: private``, as during the 2023 protests)."""

    name: str
    telegram: Mapping[str, TgChat]
    invites: Mapping[str, Invite] = field(default_factory=dict)
    subreddits: Mapping[str, Subreddit] = field(default_factory=dict)
    forums: Mapping[str, Forum] = field(default_factory=dict)
    flaky: Mapping[str, int | str] = field(default_factory=dict)
    watch: tuple[Ref, ...] = ()  # added to the watchlist when this phase starts (found by an investigator)


@dataclass(frozen=True)
class Params:
    """What worlds are drawn from. ``classes``: the scenarios to plant (1–``max_scenarios`` per world)."""

    languages: tuple[str, ...] = LANGUAGES
    classes: tuple[str, ...] = tuple(CLASSES)
    max_scenarios: int = 2
    noise: float = 1.0  # chatter per member, relative
    decoys: tuple[str, ...] = ("similar_name", "popular_reposts", "directory", "flaky")
    decoy_rate: float = 0.5  # chance of each decoy kind in a world
    directory_size: int = 6  # links a directory channel posts (class 2 uses more)


@dataclass(frozen=True)
class World:
    seed: int
    params: Params
    language: str
    now: datetime
    scenarios: tuple[str, ...]
    phases: tuple[Phase, ...]
    labels: tuple[Label, ...]
    forbidden: tuple[Forbid, ...]

    @property
    def seeds(self) -> tuple[Ref, ...]:
        """Everything that gets watched, phase by phase."""
        return tuple(ref for phase in self.phases for ref in phase.watch)


# ----------------------------------------------------------------------------------------- pictures


def _pattern(seed: int, size: int = 256) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    layers = [np.sin(rng.uniform(1, 9) * x * 6.3 + rng.uniform(0, 6.3)) * np.cos(rng.uniform(1, 9) * y * 6.3) * 0.5
              + 0.5 for _ in range(3)]
    img = np.stack(layers, axis=-1)
    for _ in range(5):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.25)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 1, 3)
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")


@lru_cache(maxsize=256)
def picture_bytes(name: str) -> bytes | None:
    """The JPEG for ``p<seed>-<variant>.jpg``, drawn in memory; a variant crops a few pixels, rescales and
    recompresses as a re-upload would. ``None`` for any other name."""
    stem, dot, ext = name.rpartition(".")
    seed_text, dash, variant_text = stem[1:].partition("-")
    if not (stem.startswith("p") and dot and dash and ext == "jpg" and seed_text.isdigit() and variant_text.isdigit()):
        return None
    image = _pattern(int(seed_text))
    variant = int(variant_text)
    quality = 88
    if variant:
        crop = 1 + variant % 4
        w, h = image.size
        scale = (0.7, 0.8, 0.9, 1.1)[variant % 4]
        image = image.crop((crop, crop, w - crop, h - crop)).resize((int(w * scale), int(h * scale)))
        quality = (60, 70, 75, 80)[variant % 4]
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------- words

_WORDS = {
    "it": ("segreto", "notte", "proibito", "cortile", "vetrina", "salotto", "angolo", "stanza", "piccante", "privato",
           "nascosto", "rifugio"),
    "en": ("secret", "night", "forbidden", "yard", "showcase", "lounge", "corner", "room", "spicy", "private",
           "hidden", "haven"),
    "de": ("geheim", "nacht", "verboten", "hof", "schaufenster", "salon", "ecke", "zimmer", "scharf", "privat",
           "versteckt", "zuflucht"),
    "fr": ("secret", "nuit", "interdit", "cour", "vitrine", "salon", "coin", "chambre", "piquant", "prive",
           "cache", "refuge"),
    "es": ("secreto", "noche", "prohibido", "patio", "vitrina", "salon", "rincon", "cuarto", "picante", "privado",
           "oculto", "refugio"),
}
_NEUTRAL = {
    "it": ("ricette", "giardino", "calcio", "motori", "viaggi", "cinema"),
    "en": ("recipes", "garden", "football", "motors", "travel", "movies"),
    "de": ("rezepte", "garten", "fussball", "motoren", "reisen", "kino"),
    "fr": ("recettes", "jardin", "foot", "moteurs", "voyages", "cinema"),
    "es": ("recetas", "jardin", "futbol", "motores", "viajes", "cine"),
}
_CHATTER = {
    "it": ("buonasera a tutti", "qualcuno ha altro materiale?", "bella questa", "ne arrivano altre stasera",
           "grazie per la condivisione", "chi è nuovo qui?", "ciao ragazzi", "questa è fantastica"),
    "en": ("evening all", "anyone got more?", "nice one", "more coming tonight", "thanks for sharing",
           "who's new here?", "hi guys", "this one is great"),
    "de": ("guten abend zusammen", "hat jemand mehr?", "schönes bild", "heute abend kommt mehr", "danke fürs teilen",
           "wer ist neu hier?", "hallo leute", "das ist super"),
    "fr": ("bonsoir à tous", "quelqu'un a d'autres photos ?", "belle photo", "d'autres arrivent ce soir",
           "merci pour le partage", "qui est nouveau ici ?", "salut tout le monde", "celle-ci est géniale"),
    "es": ("buenas noches a todos", "¿alguien tiene más?", "qué buena", "esta noche llegan más",
           "gracias por compartir", "¿quién es nuevo aquí?", "hola chicos", "esta es genial"),
}
#: How people announce a successor (with a link appended). Several wordings per language.
_SUCCESSOR = {
    "it": ("⚠️ Ci chiudono. Nuovo gruppo di riserva:", "Ci siamo spostati qui, passate tutti:",
           "Abbiamo creato un nuovo gruppo privato e sicuro:", "Nuovo canale, il vecchio sta per chiudere:"),
    "en": ("⚠️ They are closing us. New backup group:", "We moved here, everyone come over:",
           "We have created a new private and secure group:", "New channel, the old one is about to close:"),
    "de": ("⚠️ Wir werden gesperrt. Neue Gruppe:", "Wir sind umgezogen, kommt alle rüber:",
           "Wir haben eine neue private und sichere Gruppe erstellt:", "Neuer Kanal, der alte wird bald gesperrt:"),
    "fr": ("⚠️ Ils nous ferment. Nouveau groupe de secours :", "On a déménagé ici, venez tous :",
           "Nous avons créé un nouveau groupe privé et sécurisé :", "Nouvelle chaîne, l'ancienne va fermer :"),
    "es": ("⚠️ Nos cierran. Nuevo grupo de respaldo:", "Nos mudamos aquí, venid todos:",
           "Hemos creado un nuevo grupo privado y seguro:", "Nuevo canal, el viejo va a cerrar:"),
}
_INVITE = {
    "it": "Entrate nel gruppo di riserva 👉", "en": "Join the reserve group 👉",
    "de": "Tretet der Reservegruppe bei 👉",
    "fr": "Rejoignez le groupe de réserve 👉", "es": "Uníos al grupo de reserva 👉",
}
_DIRECTORY = {
    "it": "Canali chiusi? Ecco i nuovi canali di backup:", "en": "Channels closed? Here are the new backup channels:",
    "de": "Kanäle gesperrt? Hier die neuen Backup-Kanäle:", "fr": "Chaînes fermées ? Voici les nouvelles chaînes :",
    "es": "¿Canales cerrados? Aquí los nuevos canales de respaldo:",
}
_MENTION = {
    "it": "Da seguire anche:", "en": "Also worth following:", "de": "Auch lesenswert:", "fr": "À suivre aussi :",
    "es": "También vale la pena:",
}
_CHECKIN = {
    "it": "Appello: chi c'era su r/{sub}?", "en": "Roll call: who was on r/{sub}?",
    "de": "Appell: wer war auf r/{sub}?", "fr": "Appel : qui était sur r/{sub} ?",
    "es": "Lista: ¿quién estaba en r/{sub}?",
}
_HERE = {"it": "presente", "en": "here", "de": "bin da", "fr": "présent", "es": "presente"}
_FORUM_LINK = {
    "it": "Nel caso, il nostro forum:", "en": "Just in case, our forum:", "de": "Für alle Fälle, unser Forum:",
    "fr": "Au cas où, notre forum :", "es": "Por si acaso, nuestro foro:",
}

#: In post text, replaced by the forum's base URL when served (ports are known only then).
FORUM_URL = "{forum:%s}"


def forum_placeholder(key: str) -> str:
    return FORUM_URL % key


# ----------------------------------------------------------------------------------------- builder


def _tg(handle: str) -> Ref:
    return Ref("telegram", handle)


class _Builder:
    """Collects both phases, the seeds and the labels while scenarios are planted."""

    def __init__(self, seed: int, params: Params, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.params = params
        self.now = now
        self.lang = self.rng.choice(params.languages)
        self.before: dict[str, TgChat] = {}
        self.after: dict[str, TgChat] = {}
        self.invites_before: dict[str, Invite] = {}
        self.invites_after: dict[str, Invite] = {}
        self.subs_before: dict[str, Subreddit] = {}
        self.subs_after: dict[str, Subreddit] = {}
        self.forums_before: dict[str, Forum] = {}
        self.forums_after: dict[str, Forum] = {}
        self.flaky_after: dict[str, int | str] = {}
        self.seeds: list[Ref] = []
        self.seeds_after: list[Ref] = []
        self.labels: list[Label] = []
        self.forbidden: list[Forbid] = []
        self._used: set[str] = set()
        self._next_picture = 100 + self.rng.randrange(10_000) * 50
        self._next_id = 1_400_000_000 + self.rng.randrange(100_000_000)

    # names, ids, people
    def name(self, *, neutral: bool = False) -> str:
        for _ in range(1000):
            words = _NEUTRAL[self.lang] if neutral else _WORDS[self.lang]
            a, b = self.rng.sample(words, 2)
            handle = f"{a}_{b}" if self.rng.random() < 0.6 else f"{a}{b}{self.rng.randrange(10, 99)}"
            if handle not in self._used:
                self._used.add(handle)
                return handle
        raise RuntimeError("names exhausted")  # pragma: no cover - 12 words give 132+ names per world

    def channel_id(self) -> int:
        self._next_id += self.rng.randrange(1, 90_000)
        return self._next_id

    def people(self, count: int, prefix: str | None = None) -> list[str]:
        stem = prefix or self.rng.choice(("user", "anon", "member", "guest", "fan"))
        base = self.rng.randrange(100, 900)
        people = [f"{stem}_{self.rng.choice(_WORDS[self.lang])[:5]}{base + 7 * i}" for i in range(count)]
        return people

    def pictures(self, count: int) -> list[Picture]:
        start = self._next_picture
        self._next_picture += count
        return [Picture(start + i) for i in range(count)]

    def chatter(self) -> str:
        return self.rng.choice(_CHATTER[self.lang])

    def title(self, handle: str) -> str:
        return " ".join(part.capitalize() for part in handle.replace("_", " ").split())

    def add_seed(self, ref: Ref, *, later: bool = False) -> None:
        """Watch ``ref`` from the start, or (``later``) from the second phase, when it exists."""
        if ref not in self.seeds and ref not in self.seeds_after:
            (self.seeds_after if later else self.seeds).append(ref)


def _history(b: _Builder, *, members: list[str] | None, pictures: list[Picture], start: datetime, end: datetime,
             first_id: int = 1, chatter: int = 6) -> list[TgPost]:
    """Posts spread between ``start`` and ``end``: the pictures and some chatter, by members when given."""
    count = len(pictures) + max(1, round(chatter * b.params.noise))
    step = (end - start) / max(1, count)
    items: list[Picture | None] = [*pictures, *([None] * (count - len(pictures)))]
    b.rng.shuffle(items)
    posts = []
    for i, item in enumerate(items):
        author = b.rng.choice(members) if members else None
        when = start + step * i
        if item is None:
            posts.append(TgPost(first_id + i, when, b.chatter(), author=author, views=b.rng.randrange(200, 3000)))
        else:
            posts.append(TgPost(first_id + i, when, "", author=author, photos=(item,),
                                views=b.rng.randrange(200, 3000)))
    if members:  # every member speaks at least once, so a group shows who is in it
        said = {p.author for p in posts}
        for person in members:
            if person not in said:
                when = start + (end - start) * b.rng.random()
                posts.append(TgPost(first_id + len(posts), when, b.chatter(), author=person))
        posts = [replace(p, id=first_id + i) for i, p in enumerate(sorted(posts, key=lambda p: p.date))]
    return posts


def _chat(b: _Builder, handle: str, posts: list[TgPost], *, group: bool, members: int, title: str | None = None,
          description: str = "", channel_id: int | None = None) -> TgChat:
    return TgChat(handle, title or b.title(handle), channel_id or b.channel_id(), group, members, description,
                  tuple(posts), created=min((p.date for p in posts), default=None))


def _source(b: _Builder, *, group: bool, members: int = 14, pictures: int = 6, days: float = 20,
            end: datetime | None = None) -> tuple[str, list[str], list[Picture], list[TgPost], datetime]:
    """A watched community that is about to go: its handle, members, pictures, history and last post."""
    handle = b.name()
    people = b.people(members) if group else []
    pics = b.pictures(pictures)
    end = end or b.now - timedelta(hours=b.rng.uniform(3, 10))
    posts = _history(b, members=people or None, pictures=pics, start=end - timedelta(days=days), end=end)
    return handle, people, pics, posts, end


def _gone(b: _Builder, handle: str, chat: TgChat) -> None:
    """``chat`` exists before, not after (Telegram then says the handle does not exist), and is watched."""
    b.before[handle] = chat
    b.add_seed(_tg(handle))
    b.labels.append(Label("shutdown", _tg(handle), None, "strong", "base", note="deleted, seen twice"))


def _reposts(b: _Builder, pics: list[Picture], start: datetime, authors: list[str] | None, first_id: int,
             source: TgChat | None = None, forwards: int = 0) -> list[TgPost]:
    posts = []
    when = start
    for i, pic in enumerate(pics):
        when = start + timedelta(minutes=20 * (i + 1))
        posts.append(TgPost(first_id + i, when, "", author=b.rng.choice(authors) if authors else None,
                            photos=(replace(pic, variant=1 + b.rng.randrange(4)),), views=b.rng.randrange(50, 900)))
    if source is not None:
        originals = [p for p in source.posts if p.text and not p.service][:forwards]
        for j, orig in enumerate(originals):
            when = start + timedelta(minutes=20 * (len(pics) + j + 1))
            posts.append(TgPost(first_id + len(posts), when, orig.text, forward=(source.handle, source.title, orig.id),
                                views=b.rng.randrange(50, 900)))
    return posts


# ---------------------------------------------------------------------------------------- scenarios


def _c1_silent(b: _Builder) -> None:
    handle, _, pics, posts, end = _source(b, group=False, pictures=8)
    src = _chat(b, handle, posts, group=False, members=b.rng.randrange(800, 4000))
    _gone(b, handle, src)
    succ = b.name()  # a different name: nothing links the two but their content
    reposted = b.rng.sample(pics, 6)
    new_posts = _reposts(b, reposted, end + timedelta(hours=1), None, 1, source=src, forwards=4)
    b.after[succ] = _chat(b, succ, new_posts, group=False, members=b.rng.randrange(100, 600))
    b.add_seed(_tg(succ), later=True)  # an investigator adds it among many others, once it exists
    b.labels.append(Label("migration", _tg(handle), _tg(succ), "likely", "c1",
                          note="6 reposted pictures and 4 forwards, no announcement, unrelated name"))


def _directory(b: _Builder, listed: list[str], *, when: datetime, successor_wording: bool) -> str:
    """A watched directory channel whose post (after ``when``) lists ``listed``; returns its handle."""
    handle = b.name(neutral=True)
    old = _history(b, members=None, pictures=[], start=when - timedelta(days=30), end=when - timedelta(days=1),
                   chatter=3)
    lead = _DIRECTORY[b.lang] if successor_wording else _MENTION[b.lang]
    text = lead + "\n" + "\n".join(f"https://t.me/{h}" for h in listed)
    listing = TgPost(len(old) + 1, when, text, views=b.rng.randrange(1000, 9000))
    b.before[handle] = _chat(b, handle, old, group=False, members=b.rng.randrange(5000, 20000))
    b.after[handle] = replace(b.before[handle], posts=(*b.before[handle].posts, listing))
    b.add_seed(_tg(handle))
    return handle


def _filler(b: _Builder, start: datetime, *, pictures: int = 1) -> TgChat:
    """A live channel with its own content (listed by directories, mentioned in passing)."""
    handle = b.name()
    posts = _history(b, members=None, pictures=b.pictures(pictures), start=start - timedelta(days=40), end=start,
                     chatter=3)
    return _chat(b, handle, posts, group=False, members=b.rng.randrange(300, 5000))


def _c2_directory(b: _Builder) -> None:
    handle, _, pics, posts, end = _source(b, group=False, pictures=10)
    src = _chat(b, handle, posts, group=False, members=b.rng.randrange(800, 4000))
    _gone(b, handle, src)
    succ = b.name()
    b.after[succ] = _chat(b, succ, _reposts(b, b.rng.sample(pics, 9), end + timedelta(hours=1), None, 1, source=src,
                                            forwards=4), group=False, members=b.rng.randrange(100, 600))
    others = [_filler(b, end) for _ in range(max(3, b.params.directory_size * 2))]
    for chat in others:
        b.before[chat.handle] = b.after[chat.handle] = chat
    listed = [succ, *(c.handle for c in others)]
    b.rng.shuffle(listed)
    directory = _directory(b, listed, when=end + timedelta(hours=2), successor_wording=True)
    b.labels.append(Label("migration", _tg(handle), _tg(succ), "likely", "c2",
                          note=f"listed among {len(listed)} by {directory}; 9 reposts and 4 forwards"))
    for chat in others:
        b.forbidden.append(Forbid("migration", _tg(handle), _tg(chat.handle), "possible", "c2",
                                  note="listed by the directory, nothing else in common"))


def _c3_invite(b: _Builder) -> None:
    handle, people, _, posts, end = _source(b, group=True, members=12)
    code = "+" + "".join(b.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(16))
    invite = Invite(code, f"{b.title(handle)} ♻️", _CHATTER[b.lang][0], b.rng.randrange(150, 900))
    text = f"{_INVITE[b.lang]} https://t.me/{code}"
    preview = LinkPreview(f"https://t.me/{code}", "Telegram", invite.title, invite.description)
    posts.append(TgPost(len(posts) + 1, end + timedelta(minutes=5), text, author=people[0], preview=preview))
    _gone(b, handle, _chat(b, handle, posts, group=True, members=len(people) * 20))
    b.invites_before[code] = b.invites_after[code] = invite
    b.labels.append(Label("migration", _tg(handle), Ref("telegram", code), "likely", "c3",
                          evidence=(code, invite.title, str(invite.members)),
                          note="the invite's public page: title, description, member count; needs a human"))


def _c4_handle_change(b: _Builder) -> None:
    old = b.name()
    new = b.name()
    posts = _history(b, members=None, pictures=b.pictures(3), start=b.now - timedelta(days=25),
                     end=b.now - timedelta(hours=8))
    chat = _chat(b, old, posts, group=False, members=b.rng.randrange(1000, 9000))
    b.before[old] = chat
    later = TgPost(len(posts) + 1, b.now - timedelta(hours=1), b.chatter(), views=400)
    b.after[new] = replace(chat, handle=new, posts=(*chat.posts, later))
    b.add_seed(_tg(old))
    hub = _filler(b, b.now - timedelta(days=1))
    mention = TgPost(len(hub.posts) + 1, b.now - timedelta(minutes=30), f"{b.chatter()} https://t.me/{new}", views=90)
    b.before[hub.handle] = hub
    b.after[hub.handle] = replace(hub, posts=(*hub.posts, mention))
    b.add_seed(_tg(hub.handle))
    b.labels.append(Label("rebrand", _tg(old), _tg(new), "likely", "c4", evidence=(old, new),
                          note="same channel id, old handle gone, new handle serves the same messages"))
    b.forbidden.append(Forbid("shutdown", _tg(old), None, "possible", "c4", live=True,
                              note="the channel is alive under its new handle"))
    b.forbidden.append(Forbid("shutdown", _tg(new), None, "possible", "c4", live=True))


def _c5_cross_platform(b: _Builder) -> None:
    sub = b.name().replace("_", "").capitalize()
    people = b.people(14, prefix="u")
    key = f"forum{len(b.forums_after)}"
    forum_title = f"{b.title(b.name(neutral=True))} Forum"
    start = b.now - timedelta(days=30)
    posts = [RedditPost(f"x{b.rng.randrange(36**4):04x}{i}", b.chatter().capitalize(), b.chatter(), person,
                        start + timedelta(hours=30 * i)) for i, person in enumerate(people)]
    posts.append(RedditPost(f"y{b.rng.randrange(36**4):04x}", _FORUM_LINK[b.lang], forum_placeholder(key) + "/",
                            people[0], b.now - timedelta(days=2)))
    b.subs_before[sub] = Subreddit(sub, b.title(sub), b.rng.randrange(2000, 30000), tuple(posts))
    b.subs_after[sub] = replace(b.subs_before[sub], banned=True)
    b.add_seed(Ref("reddit", sub))
    old_topic = ForumTopic(10, b.chatter().capitalize(), tuple(
        ForumPost(100 + i, person, 500 + i, start + timedelta(days=i), f"<p>{b.chatter()}</p>")
        for i, person in enumerate(b.people(3, prefix="old"))))
    b.forums_before[key] = Forum(key, forum_title, b.chatter(), 40, (old_topic,))
    movers = b.rng.sample(people, 11)
    checkin = ForumTopic(11, _CHECKIN[b.lang].format(sub=sub), tuple(
        ForumPost(200 + i, person, 600 + i, b.now - timedelta(hours=5) + timedelta(minutes=10 * i),
                  f"<p>{_HERE[b.lang]} 👋</p>") for i, person in enumerate(movers)))
    b.forums_after[key] = replace(b.forums_before[key], users=40 + len(movers), topics=(old_topic, checkin))
    b.labels.append(Label("shutdown", Ref("reddit", sub), None, "strong", "base", note="404 reason banned"))
    b.labels.append(Label("migration", Ref("reddit", sub), Ref("discourse", forum_title), "likely", "c5",
                          note="11 of 14 usernames check in on the forum linked from the subreddit"))


def _c6_small(b: _Builder) -> None:
    handle, people, _, posts, end = _source(b, group=True, members=18, pictures=2)
    _gone(b, handle, _chat(b, handle, posts, group=True, members=18))
    succ = b.name()
    movers = people[:16] + b.people(2, prefix="new")
    new_posts = _history(b, members=movers, pictures=[], start=end + timedelta(hours=1), end=b.now, chatter=4)
    b.after[succ] = _chat(b, succ, new_posts, group=True, members=20)
    b.add_seed(_tg(succ), later=True)
    b.labels.append(Label("migration", _tg(handle), _tg(succ), "likely", "c6",
                          note="16 of 18 members moved; no announcement, no reposts"))


def _c7_timing(b: _Builder) -> None:
    handle, people, pics, posts, end = _source(b, group=True, members=16, pictures=6)
    succ = b.name()
    early = _history(b, members=people[:3], pictures=[], start=end - timedelta(days=4), end=end - timedelta(days=3),
                     chatter=3)
    b.before[succ] = _chat(b, succ, early, group=True, members=25)
    later = _history(b, members=people[3:14], pictures=b.rng.sample(pics, 3), start=end + timedelta(hours=1),
                     end=b.now, first_id=len(early) + 1, chatter=6)
    later = [replace(p, photos=tuple(replace(x, variant=2) for x in p.photos)) for p in later]
    b.after[succ] = replace(b.before[succ], members=320, posts=(*early, *later))
    _gone(b, handle, _chat(b, handle, posts, group=True, members=16 * 25))
    b.add_seed(_tg(succ))
    b.labels.append(Label("migration", _tg(handle), _tg(succ), "likely", "c7",
                          note="successor started 4 days before the end, surged after it"))


def _c8_flaky(b: _Builder) -> None:
    """A live channel whose preview answers one bare 404 (as a proxy would), and a live forum whose
    ``about.json`` answers one bare 403; both answer normally right after."""
    chat = _filler(b, b.now - timedelta(hours=6), pictures=2)
    b.before[chat.handle] = b.after[chat.handle] = chat
    b.flaky_after[f"telegram:{chat.handle}"] = 404
    b.add_seed(_tg(chat.handle))
    key = f"forum{len(b.forums_after)}"
    title = f"{b.title(b.name(neutral=True))} Forum"
    topic = ForumTopic(10, b.chatter().capitalize(), tuple(
        ForumPost(100 + i, person, 500 + i, b.now - timedelta(days=3 - i), f"<p>{b.chatter()}</p>")
        for i, person in enumerate(b.people(3, prefix="fan"))))
    b.forums_before[key] = b.forums_after[key] = Forum(key, title, b.chatter(), 60, (topic,))
    b.flaky_after[f"discourse:{key}"] = 403
    b.add_seed(Ref("discourse", title))
    for ref in (_tg(chat.handle), Ref("discourse", title)):
        b.forbidden.append(Forbid("shutdown", ref, None, "possible", "c8", live=True,
                                  note="one bare 403/404, then good answers"))
    # a subreddit that goes private for one answer (unambiguous) and comes back: a shutdown alert may be
    # raised, but once the subreddit answers again it must say so
    sub = b.name(neutral=True).replace("_", "").capitalize()
    start = b.now - timedelta(days=10)
    posts = tuple(RedditPost(f"z{i}{b.rng.randrange(36**4):04x}", b.chatter().capitalize(), b.chatter(), person,
                             start + timedelta(days=i)) for i, person in enumerate(b.people(4, prefix="r")))
    b.subs_before[sub] = b.subs_after[sub] = Subreddit(sub, b.title(sub), b.rng.randrange(500, 5000), posts)
    b.flaky_after[f"reddit:{sub.lower()}"] = "private"
    b.add_seed(Ref("reddit", sub))
    b.forbidden.append(Forbid("shutdown", Ref("reddit", sub), None, "possible", "c8", live=True, unless_recovered=True,
                              note="private once, then public again: any shutdown alert is marked recovered"))


def _c9_surge(b: _Builder) -> None:
    handle, people, pics, posts, end = _source(b, group=True, members=12, pictures=5)
    succ = b.name()
    wording = b.rng.choice(_SUCCESSOR[b.lang])
    posts.append(TgPost(len(posts) + 1, end + timedelta(minutes=3), f"{wording} https://t.me/{succ}",
                        author=people[0]))
    _gone(b, handle, _chat(b, handle, posts, group=True, members=300))
    first = _history(b, members=people[:2], pictures=[], start=end - timedelta(days=1), end=end, chatter=2)
    b.before[succ] = _chat(b, succ, first, group=True, members=40)
    more = _history(b, members=people[2:10], pictures=b.rng.sample(pics, 2), start=end + timedelta(hours=1),
                    end=b.now, first_id=len(first) + 1, chatter=4)
    b.after[succ] = replace(b.before[succ], members=480, posts=(*first, *more))
    b.labels.append(Label("migration", _tg(handle), _tg(succ), "likely", "base",
                          note="announced with successor wording"))
    b.labels.append(Label("surge", _tg(succ), None, "possible", "c9", evidence=("40", "480"),
                          note="members 40 → 480 after its source vanished"))


def _c10_rename(b: _Builder) -> None:
    handle = b.name()
    older, old_title, new_title = (b.title(b.name()) for _ in range(3))
    posts = _history(b, members=None, pictures=b.pictures(2), start=b.now - timedelta(days=30),
                     end=b.now - timedelta(days=2), first_id=2, chatter=4)
    history = [TgPost(0, b.now - timedelta(days=60), f"Channel name was changed to «{older}»", service=True),
               TgPost(1, b.now - timedelta(days=31), f"Channel name was changed to «{old_title}»", service=True)]
    chat = _chat(b, handle, [*history, *posts], group=False, members=b.rng.randrange(900, 5000), title=old_title)
    b.before[handle] = chat
    rename = TgPost(len(posts) + 2, b.now - timedelta(hours=1), f"Channel name was changed to «{new_title}»",
                    service=True)
    b.after[handle] = replace(chat, title=new_title, posts=(*chat.posts, rename))
    b.add_seed(_tg(handle))
    b.labels.append(Label("rebrand", _tg(handle), None, "likely", "c10", evidence=(old_title, new_title),
                          note=f"renamed {old_title!r} → {new_title!r}; {older!r} → {old_title!r} is history"))
    b.forbidden.append(Forbid("rebrand", _tg(handle), None, "possible", "c10", max_count=1,
                              note="the rename seen in the history on the first crawl is not a new rebrand"))
    b.forbidden.append(Forbid("shutdown", _tg(handle), None, "possible", "c10", live=True))


SCENARIOS: dict[str, Callable[[_Builder], None]] = {
    "c1": _c1_silent, "c2": _c2_directory, "c3": _c3_invite, "c4": _c4_handle_change, "c5": _c5_cross_platform,
    "c6": _c6_small, "c7": _c7_timing, "c8": _c8_flaky, "c9": _c9_surge, "c10": _c10_rename,
}


# ------------------------------------------------------------------------------------------- decoys


def _first_gone(b: _Builder) -> TgChat | None:
    gone = [c for h, c in b.before.items() if h not in b.after and not c.handle.startswith("+")]
    return gone[0] if gone else None


def _decoy_similar(b: _Builder) -> None:
    src = _first_gone(b)
    if src is None:
        return
    neutral = b.rng.choice(_NEUTRAL[b.lang])
    handle = f"{src.handle}_{neutral}"
    b._used.add(handle)
    posts = _history(b, members=b.people(10, prefix="orto"), pictures=b.pictures(2), start=b.now - timedelta(days=50),
                     end=b.now - timedelta(hours=2), chatter=4)
    chat = _chat(b, handle, posts, group=True, members=b.rng.randrange(2000, 9000), title=f"{src.title} {neutral}")
    b.before[handle] = b.after[handle] = chat
    b.add_seed(_tg(handle))
    b.forbidden.append(Forbid("migration", _tg(src.handle), _tg(handle), "possible", "decoy", note="similar name only"))
    b.forbidden.append(Forbid("shutdown", _tg(handle), None, "possible", "decoy", live=True))


def _decoy_popular(b: _Builder) -> None:
    src = _first_gone(b)
    if src is None:
        return
    popular = [pic for p in src.posts for pic in p.photos][:1]
    handle = b.name(neutral=True)
    posts = _history(b, members=None, pictures=[replace(x, variant=3) for x in popular] + b.pictures(3),
                     start=b.now - timedelta(days=90), end=b.now - timedelta(hours=4), chatter=5)
    chat = _chat(b, handle, posts, group=False, members=b.rng.randrange(20000, 90000))
    b.before[handle] = b.after[handle] = chat
    b.add_seed(_tg(handle))
    b.forbidden.append(Forbid("migration", _tg(src.handle), _tg(handle), "possible", "decoy",
                              note="reposted one popular picture long ago"))


def _decoy_directory(b: _Builder) -> None:
    chats = [_filler(b, b.now - timedelta(days=2)) for _ in range(max(2, b.params.directory_size // 2))]
    for chat in chats:
        b.before[chat.handle] = b.after[chat.handle] = chat
    handle = _directory(b, [c.handle for c in chats], when=b.now - timedelta(hours=3), successor_wording=False)
    src = _first_gone(b)
    for chat in chats:
        if src is not None:
            b.forbidden.append(Forbid("migration", _tg(src.handle), _tg(chat.handle), "possible", "decoy",
                                      note=f"listed by {handle}"))


def _decoy_flaky(b: _Builder) -> None:
    live = [h for h in b.before if h in b.after and f"telegram:{h}" not in b.flaky_after and _tg(h) in b.seeds]
    if not live:
        return
    handle = b.rng.choice(live)
    b.flaky_after[f"telegram:{handle}"] = b.rng.choice((403, 404))
    b.forbidden.append(Forbid("shutdown", _tg(handle), None, "possible", "decoy", live=True,
                              note="one bare answer, then good ones"))


DECOYS: dict[str, Callable[[_Builder], None]] = {
    "similar_name": _decoy_similar, "popular_reposts": _decoy_popular, "directory": _decoy_directory,
    "flaky": _decoy_flaky,
}


# --------------------------------------------------------------------------------------------- entry


def generate(seed: int, params: Params | None = None, now: datetime | None = None) -> World:
    """The world for ``seed``: the same ``(seed, params, now)`` always gives the same world."""
    params = params or Params()
    now = (now or datetime(2025, 9, 1, 12, 0, tzinfo=UTC)).replace(microsecond=0)
    unknown = (set(params.classes) - set(SCENARIOS)) | (set(params.decoys) - set(DECOYS)) | (
        set(params.languages) - set(LANGUAGES))
    if unknown or not params.classes or not params.languages:
        raise ValueError(f"Params: unknown or no classes/decoys/languages: {sorted(unknown) or 'none given'}")
    b = _Builder(seed, params, now)
    count = b.rng.randint(1, max(1, min(params.max_scenarios, len(params.classes))))
    scenarios = tuple(b.rng.sample(params.classes, count))
    for name in scenarios:
        SCENARIOS[name](b)
    for decoy in params.decoys:
        if b.rng.random() < params.decoy_rate:
            DECOYS[decoy](b)
    phases = (
        Phase("before", dict(b.before), dict(b.invites_before), dict(b.subs_before), dict(b.forums_before),
              watch=tuple(b.seeds)),
        Phase("after", dict(b.after), dict(b.invites_after), dict(b.subs_after), dict(b.forums_after),
              dict(b.flaky_after), watch=tuple(b.seeds_after)),
    )
    return World(seed, params, b.lang, now, scenarios, phases, tuple(b.labels), tuple(b.forbidden))
