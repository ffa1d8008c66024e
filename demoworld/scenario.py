"""The demo's fictional scenario, as data: who posts what, where, in which phase. Pure (no I/O).

Phase 1 is the world just before a takedown; phase 2 is the world after it ("the world changes"):

- **Il Cortile Segreto** (``t.me/cortile_segreto``), a watched public group: its members post
  pictures (:func:`demoworld.images.original`) and, shortly before the end, the admin announces a
  private reserve group (an invite link: a lead for a human) and a public backup group. In phase 2
  the handle resolves to nothing: the group was deleted.
- **the reserve group** (``t.me/cortile_segreto_riserva``), titled with look-alike letters, appears
  after the shutdown: many of the same members, reposting the same pictures re-encoded
  (:func:`demoworld.images.repost`).
- **Forum Scatti Amatoriali**, a watched Discourse forum: in phase 2 a thread reposts some of the
  pictures as a "backup" of the closed group.
- **Il Cortile Verde** (``t.me/cortile_verde``), a watched gardening group with a similar name and
  nothing else in common: the decoy, which must raise nothing.
- **Bacheca Notturna** (``t.me/bacheca_notturna``), a watched channel that renames itself.
- **r/CortileSegreto**, a watched subreddit, banned in phase 2.

Every name, handle and person here is invented; the pictures are generated patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from demoworld.tme_pages import Channel, Msg

RESERVE_INVITE = "https://t.me/+R1serva7xQ"
CASE = "demo-cortile"

#: Seeds of the pictures the watched group posts, and which of them reappear where.
GROUP_SEEDS = (1, 2, 3, 4, 5, 6, 7)
RESERVE_SEEDS = (1, 2, 3, 4, 5)
FORUM_SEEDS = (2, 3, 4, 6)
DECOY_SEEDS = (21, 22)

_ANIMALS = ("gufo", "volpe", "lince", "falco", "tasso", "riccio", "merlo", "corvo", "lupo", "orso", "airone",
            "civetta", "faina", "donnola", "gheppio", "upupa", "cervo", "istrice", "lontra", "picchio")
_PLANTS = ("basilico", "pomodoro", "rosmarino", "lavanda", "salvia", "ortica", "zucchina", "melograno", "glicine",
           "peonia", "camelia", "ciclamino", "menta", "timo", "origano", "carciofo", "fragola", "mirtillo",
           "girasole", "ortensia", "tulipano", "gelsomino", "limone", "oleandro", "ranuncolo")

#: Members of the watched group (invented usernames).
GROUP_MEMBERS = tuple(f"{animal}_{n}" for animal, n in zip(_ANIMALS, range(11, 91, 4), strict=False))
#: Of them, those who turn up in the reserve group, plus two newcomers.
RESERVE_MEMBERS = (*GROUP_MEMBERS[:13], "nuovo_arrivo_01", "nuovo_arrivo_02")
#: The gardening group's members: nobody in common with the others.
DECOY_MEMBERS = tuple(f"{plant}_orto{n}" for plant, n in zip(_PLANTS, range(3, 99, 4), strict=False))
ADMIN = "custode_cortile"

GROUP = Channel("cortile_segreto", "Il Cortile Segreto 🔞", 1820456713, description="Solo membri. Members only.",
                subscribers="1 284", photo=None, counter_label="members", extra_counters={"photos": "312"})
RESERVE = Channel("cortile_segreto_riserva", "𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖 𝕊𝕖𝕘𝕣𝕖𝕥𝕠 🔞 riserva", 1974402281,
                  description="Backup. Il vecchio gruppo è stato chiuso.", subscribers="402", photo=None,
                  counter_label="members", extra_counters={"photos": "9"})
DECOY = Channel("cortile_verde", "Il Cortile Verde 🌱", 1533870419,
                description="Orto, balconi e giardini. Gardening tips in Italian and English.", subscribers="5 930",
                photo=None, counter_label="members", extra_counters={"photos": "1.4K"})
RENAMER_OLD = Channel("bacheca_notturna", "Bacheca Notturna", 1650093377, description="Annunci e scambi.",
                      subscribers="8 112", photo=None, extra_counters={"links": "41"})
RENAMED_TITLE = "Bacheca Notturna ✨ Nuova Gestione"
RENAMER_NEW = Channel(RENAMER_OLD.handle, RENAMED_TITLE, RENAMER_OLD.channel_id,
                      description="Annunci e scambi. Nuova gestione.", subscribers="8 240", photo=None,
                      extra_counters={"links": "43"})

SUBREDDIT = "CortileSegreto"
FORUM_TITLE = "Forum Scatti Amatoriali"

_CHATTER_IT = ("buonasera a tutti", "qualcuno ha altro materiale?", "bella questa 🔥", "ne arrivano altre stasera",
               "grazie per la condivisione", "chi è nuovo qui?", "ciao ragazzi", "questa è fantastica")
_CHATTER_EN = ("new pics tonight", "anyone got more?", "nice one", "thanks for sharing", "hi all, new here",
               "more coming soon")


def picture(kind: str, seed: int) -> str:
    """File name under which a server serves a generated picture (``orig-3.jpg``, ``repost-3.jpg``)."""
    return f"{kind}-{seed}.jpg"


@dataclass(frozen=True)
class ForumPost:
    id: int
    number: int
    username: str
    user_id: int
    created_at: datetime
    cooked: str


@dataclass(frozen=True)
class ForumTopic:
    id: int
    slug: str
    title: str
    posts: tuple[ForumPost, ...]


@dataclass(frozen=True)
class RedditPost:
    id: str
    title: str
    selftext: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class Phase:
    """What every server shows in one phase. A community missing from ``channels`` does not exist."""

    channels: dict[str, tuple[Channel, tuple[Msg, ...]]]
    forum_topics: tuple[ForumTopic, ...]
    subreddit_banned: bool
    reddit_posts: tuple[RedditPost, ...] = ()


@dataclass(frozen=True)
class Scenario:
    now: datetime
    phases: tuple[Phase, Phase]


def _group_messages(now: datetime) -> tuple[Msg, ...]:
    start = now - timedelta(days=12)
    msgs: list[Msg] = [Msg(1, "Benvenuti nel Cortile. Regole fissate in alto. Welcome, rules pinned.",
                           date=start, author=ADMIN, author_name="Custode", views=None)]
    seeds = iter(GROUP_SEEDS)
    post_id = 2
    for round_ in range(2):
        for index, member in enumerate(GROUP_MEMBERS):
            when = start + timedelta(hours=5 * post_id)
            seed = next(seeds, None) if index % 3 == 0 and round_ == 0 else None
            if seed is not None:
                msgs.append(Msg(post_id, f"nuova foto #{seed} · new pic", date=when, author=member, views=None,
                                photos=(picture("orig", seed),)))
            else:
                chatter = _CHATTER_IT if (index + round_) % 3 else _CHATTER_EN
                msgs.append(Msg(post_id, chatter[(index + post_id) % len(chatter)], date=when, author=member,
                                views=None))
            post_id += 1
    msgs.append(Msg(
        post_id,
        '⚠️ Il gruppo verrà chiuso a breve. Nuovo gruppo di riserva: '
        f'<a href="{RESERVE_INVITE}">{RESERVE_INVITE}</a> — canale di backup: '
        '<a href="https://t.me/cortile_segreto_riserva">t.me/cortile_segreto_riserva</a><br/>'
        "This group will be closed soon: join the backup group above.",
        date=now - timedelta(hours=3), author=ADMIN, author_name="Custode", views=None))
    return tuple(msgs)


def _reserve_messages(now: datetime) -> tuple[Msg, ...]:
    start = now - timedelta(minutes=150)
    msgs = [Msg(1, "Benvenuti nel gruppo di riserva, ricominciamo da qui 👋 Welcome to the backup group.",
                date=start, author=ADMIN, author_name="Custode", views=None)]
    seeds = list(RESERVE_SEEDS)
    for index, member in enumerate(RESERVE_MEMBERS):
        when = start + timedelta(minutes=8 * (index + 1))
        if index < len(seeds):
            msgs.append(Msg(index + 2, f"ripostata #{seeds[index]} · reposted", date=when, author=member,
                            views=None, photos=(picture("repost", seeds[index]),)))
        else:
            msgs.append(Msg(index + 2, ("eccomi", "here again", "ci siamo tutti?", "finalmente")[index % 4], date=when,
                            author=member, views=None))
    return tuple(msgs)


def _decoy_messages(now: datetime, phase: int) -> tuple[Msg, ...]:
    start = now - timedelta(days=60)
    tips = ("Pomodori: annaffiare la sera, mai sulle foglie.", "Basil loves sun and hates cold nights.",
            "Chi ha consigli per la lavanda in vaso?", "Compost tip: mix greens and browns 1:2.",
            "Le fragole sul balcone stanno fiorendo!", "Slugs ate my lettuce again 🐌")
    msgs = []
    for index, member in enumerate(DECOY_MEMBERS):
        seed = DECOY_SEEDS[index // 10] if index % 10 == 0 and index // 10 < len(DECOY_SEEDS) else None
        msgs.append(Msg(index + 1, tips[index % len(tips)], date=start + timedelta(days=2 * index), author=member,
                        views=None, photos=(picture("orig", seed),) if seed is not None else ()))
    if phase == 2:
        msgs.append(Msg(len(msgs) + 1, "Semina di novembre: aglio e fave. November sowing: garlic and broad beans.",
                        date=now - timedelta(hours=5), author=DECOY_MEMBERS[3], views=None))
    return tuple(msgs)


def _renamer_messages(now: datetime, phase: int) -> tuple[Msg, ...]:
    start = now - timedelta(days=20)
    msgs = [Msg(i, text, date=start + timedelta(days=3 * i), views=f"{1 + i}.{i}K") for i, text in enumerate(
        ("Annunci della settimana.", "Weekly listings are up.", "Nuove regole per gli annunci.",
         "Reminder: no spam."), start=1)]
    if phase == 2:
        msgs.append(Msg(5, f"Channel name was changed to «{RENAMED_TITLE}»", service=True, views=None,
                        date=now - timedelta(hours=1)))
        msgs.append(Msg(6, "Stessa bacheca, nuova gestione. Same board, new management.", views="2.1K",
                        date=now - timedelta(minutes=50)))
    return tuple(msgs)


def _img(seed: int) -> str:
    return (f'<p><a class="lightbox" href="/uploads/default/original/1X/{picture("repost", seed)}">'
            f'<img src="/uploads/default/optimized/1X/{picture("repost", seed)}" alt="foto" width="240" '
            'height="240"></a></p>')


def _forum_topics(now: datetime, phase: int) -> tuple[ForumTopic, ...]:
    old = now - timedelta(days=30)
    tips = ForumTopic(11, "consigli-luce-naturale", "Consigli: luce naturale al tramonto", (
        ForumPost(101, 1, "fotografo_paziente", 501, old,
                  '<p>Quale apertura usate al tramonto? <img src="/images/emoji/twitter/camera.png" class="emoji" '
                  'alt=":camera:"></p>'),
        ForumPost(102, 2, "diaframma_aperto", 502, old + timedelta(hours=2),
                  "<p>f/8 and a tripod, always. Sempre cavalletto.</p>"),
    ))
    topics = [tips]
    if phase == 2:
        start = now - timedelta(minutes=40)
        posts = [ForumPost(201, 1, "archivista_anonimo", 601, start,
                           "<p>Il canale t.me/cortile_segreto è stato chiuso, ecco il backup di qualche foto. "
                           "The group got banned, backup here.</p>")]
        for index, seed in enumerate(FORUM_SEEDS):
            posts.append(ForumPost(202 + index, index + 2, ("archivista_anonimo", "collezionista_x")[index % 2],
                                   601 + index % 2, start + timedelta(minutes=5 * (index + 1)), _img(seed)))
        topics.insert(0, ForumTopic(12, "backup-dal-cortile", "Backup dal Cortile (canale chiuso)", tuple(posts)))
    return tuple(topics)


def _reddit_posts(now: datetime) -> tuple[RedditPost, ...]:
    return (
        RedditPost("c0s001", "Benvenuti / Welcome", "Regole nella sidebar. Rules in the sidebar.", "custode_reddit",
                   now - timedelta(days=40)),
        RedditPost("c0s002", "Thread settimanale", "Presentatevi qui. Introduce yourselves.", "gufo_notturno_r",
                   now - timedelta(days=9)),
        RedditPost("c0s003", "Domanda", "Qualcuno sa perché il sub è così lento? Why is the sub so slow?",
                   "volpe_rossa_r", now - timedelta(days=2)),
    )


def build(now: datetime | None = None) -> Scenario:
    """The whole scenario, with dates relative to ``now`` (the demo's start)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    group = (GROUP, _group_messages(now))
    phase1 = Phase(
        channels={"cortile_segreto": group, "cortile_verde": (DECOY, _decoy_messages(now, 1)),
                  "bacheca_notturna": (RENAMER_OLD, _renamer_messages(now, 1))},
        forum_topics=_forum_topics(now, 1), subreddit_banned=False, reddit_posts=_reddit_posts(now))
    phase2 = Phase(
        channels={"cortile_segreto_riserva": (RESERVE, _reserve_messages(now)),
                  "cortile_verde": (DECOY, _decoy_messages(now, 2)),
                  "bacheca_notturna": (RENAMER_NEW, _renamer_messages(now, 2))},
        forum_topics=_forum_topics(now, 2), subreddit_banned=True, reddit_posts=_reddit_posts(now))
    return Scenario(now=now, phases=(phase1, phase2))
