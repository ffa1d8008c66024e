"""The labelled scenario set, generated with variations (languages, timing, partial signals).

Each :class:`Case` is a small world: a watched community A (which usually shuts down), the community
B under test, and background communities. ``labels`` says, for pairs (A, X), what an analyst would
call the evidence: "strong", "likely", "possible", or None (not a migration). Any candidate the
detector reports for a pair not listed counts as labelled None, so decoys cost precision.

Label rules (ground truth as planted, decided before looking at scores):
- strong: B is A's successor with two independent strong kinds of evidence after A's end: an
  announcement in A with successor language, most of B's members coming from A, at least four of A's
  images reposted in B.
- likely: B is A's successor with one strong kind of evidence: an announcement with successor
  language, or A's members (with a few reposts, or a disguised copy of A's name).
- possible: B is A's successor but the evidence is weak: a plain link (no successor wording) or a
  stale announcement, plus a similar name.
- None: unrelated (generic similar name, directory listing, coincidental shared members).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from model import records as r
from tests.detect_scenarios.builder import Chan, World, pdq_variant, random_pdq
from tests.factories import T0

SHUTDOWN = T0
PHRASES = {
    "en": "Our backup channel, join now before we get banned: {link}",
    "it": "Ecco il nostro gruppo di riserva, entrate: {link}",
    "de": "Neue Gruppe, falls wir gesperrt werden: {link}",
    "fr": "Nouveau groupe de secours, rejoignez-nous : {link}",
    "es": "Grupo de respaldo por si nos banean: {link}",
}
FILLER = ["bella raga", "che foto", "nice one", "top", "😍😍", "altre?", "grazie", "more pls", "wow", "ciao a tutti"]


@dataclass
class Case:
    name: str
    world: World
    labels: dict[tuple[str, str], str | None]  # (source native id, target native id) -> label
    expect_shutdown: dict[str, bool] = field(default_factory=dict)


def _users(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _life(chan: Chan, rng: random.Random, users: list[str], start: datetime, end: datetime, posts: int,
          media: list[str] | None = None) -> list[r.Record]:
    """A community's ordinary life: a snapshot, participants, posts by its users (some with images)."""
    out: list[r.Record] = [chan.snap(start, members=len(users) * 10)]
    out.extend(chan.joins(users, start))
    span = (end - start).total_seconds()
    for i in range(posts):
        at = start + timedelta(seconds=span * (i + 1) / (posts + 1))
        pdqs = [media[i]] if media and i < len(media) else []
        out.append(chan.post(at, rng.choice(FILLER), user=rng.choice(users), media=pdqs))
    return out


def background(communities: int = 4, users: int = 80, seed: int = 1) -> World:
    """The rest of the platform: unrelated communities whose members make the universe that member
    overlaps are judged against (in a world of only A and B, any overlap looks like chance)."""
    rng = random.Random(seed)
    world = World()
    topics = ["Meteo Lombardia", "Ricette Veloci", "Calcio Serie B", "Viaggi Low Cost", "Auto d'Epoca"]
    for i in range(communities):
        chan = Chan(f"bg-{seed}-{i}", f"bg{seed}x{i}", topics[i % len(topics)], created=SHUTDOWN - timedelta(days=900))
        world.add(_life(chan, rng, _users(f"bg{seed}-{i}-", users), SHUTDOWN - timedelta(days=90), SHUTDOWN, 10))
    return world


def _source(rng: random.Random, name: str, title: str, handle: str, *, shutdown: str | None = "banned",
            users: int = 40, media: int = 8) -> tuple[Chan, World, list[str], list[str]]:
    a = Chan(f"{name}-A", handle, title, created=SHUTDOWN - timedelta(days=300))
    world = World(seeds=[a])
    members = _users(f"{name}-a", users)
    pdqs = [random_pdq(rng) for _ in range(media)]
    world.add(_life(a, rng, members, SHUTDOWN - timedelta(days=60), SHUTDOWN - timedelta(days=1), 30, pdqs))
    if shutdown == "banned":
        world.add(a.down(SHUTDOWN, r.CommunityStatus.BANNED))
    elif shutdown == "unreachable":
        world.add(*(a.down(SHUTDOWN + timedelta(hours=i)) for i in range(3)))
    return a, world, members, pdqs


def _successor(rng: random.Random, name: str, title: str, handle: str, *, created: datetime,
               movers: list[str], newcomers: int = 10, reposts: list[str] | None = None,
               forwards_from: Chan | None = None) -> tuple[Chan, list[r.Record]]:
    b = Chan(f"{name}-B", handle, title, created=created)
    users = movers + _users(f"{name}-b", newcomers)
    start = max(created, SHUTDOWN - timedelta(days=20))
    out = _life(b, rng, users, start, SHUTDOWN + timedelta(days=10), 20,
                [pdq_variant(p, rng.randint(2, 12), rng) for p in (reposts or [])])
    if forwards_from is not None:
        out.append(b.post(SHUTDOWN + timedelta(days=3), "repost", user=users[0], forwarded_from=forwards_from))
    return b, out


def explicit_announcement(lang: str, move_fraction: float, days_before: int, seed: int) -> Case:
    rng = random.Random(seed)
    name = f"ann-{lang}-{int(move_fraction * 100)}-{days_before}"
    a, world, members, _ = _source(rng, name, "Mia Moglie Segreta", f"miamoglie{seed}")
    b_handle = f"riserva{seed}_x"
    movers = rng.sample(members, int(len(members) * move_fraction))
    b, life = _successor(rng, name, "Riserva privata", b_handle, created=SHUTDOWN - timedelta(days=days_before + 2),
                         movers=movers)
    world.add(life)
    world.batches.insert(1, [a.post(SHUTDOWN - timedelta(days=days_before),
                                    PHRASES[lang].format(link=f"https://t.me/{b_handle}"), user=members[0])])
    label = "strong" if move_fraction >= 0.3 else "likely"
    return Case(name, world, {(a.native_id, b.native_id): label}, {a.native_id: True})


def silent_successor(move_fraction: float, reposts: int, disguised: bool, seed: int) -> Case:
    rng = random.Random(seed)
    name = f"silent-{int(move_fraction * 100)}-{reposts}-{int(disguised)}"
    a, world, members, pdqs = _source(rng, name, "Il Cortile Segreto", f"cortile{seed}", shutdown="unreachable")
    title = "𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖 𝕊𝕖𝕘𝕣𝕖𝕥𝕠 2" if disguised else "Foto private"
    b, life = _successor(rng, name, title, f"c0rt1le_{seed}" if disguised else f"fotopriv{seed}",
                         created=SHUTDOWN + timedelta(days=2), movers=rng.sample(members, int(40 * move_fraction)),
                         reposts=rng.sample(pdqs, reposts))
    world.add(life)
    label = "strong" if reposts >= 4 else "likely"
    return Case(name, world, {(a.native_id, b.native_id): label}, {a.native_id: True})


def homoglyph_name(title: str, handle: str, move_fraction: float, seed: int) -> Case:
    rng = random.Random(seed)
    name = f"homoglyph-{seed}"
    a, world, members, pdqs = _source(rng, name, "Mia Moglie", f"mia_moglie_{seed}")
    b, life = _successor(rng, name, title, handle, created=SHUTDOWN + timedelta(days=1),
                         movers=rng.sample(members, int(40 * move_fraction)), reposts=rng.sample(pdqs, 2))
    world.add(life)
    return Case(name, world, {(a.native_id, b.native_id): "likely"}, {a.native_id: True})


def sister_channel(move_fraction: float, seed: int) -> Case:
    """An active sibling sharing much of A's audience; A never shut down. Not a migration."""
    rng = random.Random(seed)
    name = f"sister-{seed}"
    a, world, members, pdqs = _source(rng, name, "Foto Amatoriali", f"amatoriali{seed}", shutdown=None)
    b, life = _successor(rng, name, "Scambi Amatoriali", f"scambi{seed}", created=SHUTDOWN - timedelta(days=250),
                         movers=rng.sample(members, int(40 * move_fraction)), newcomers=30,
                         reposts=rng.sample(pdqs, 1))
    world.add(life)
    return Case(name, world, {(a.native_id, b.native_id): None}, {a.native_id: False})


def weak_link(lang: str, stale: bool, seed: int) -> Case:
    """A plain link (or a stale announcement) to a similarly named group: possible at most."""
    rng = random.Random(seed)
    name = f"weak-{lang}-{int(stale)}-{seed}"
    a, world, members, _ = _source(rng, name, "Ragazze Nude Italia", f"ragazze{seed}")
    b_handle = f"ragazze_nude_italia_{seed}"
    b, life = _successor(rng, name, "Ragazze Nude Italia 2", b_handle, created=SHUTDOWN + timedelta(days=1),
                         movers=[], newcomers=15)
    world.add(life)
    text = (PHRASES[lang] if stale else "guardate anche {link}").format(link=f"t.me/{b_handle}")
    world.batches.insert(1, [a.post(SHUTDOWN - timedelta(days=120 if stale else 2), text, user=members[1])])
    return Case(name, world, {(a.native_id, b.native_id): "possible"}, {a.native_id: True})


def unrelated_generic_name(seed: int) -> Case:
    rng = random.Random(seed)
    name = f"generic-{seed}"
    a, world, _, _ = _source(rng, name, "Hot Girls", f"hotgirls{seed}")
    b, life = _successor(rng, name, "H0t G1rls", f"h0tg1rls_{seed}", created=SHUTDOWN + timedelta(days=3),
                         movers=[], newcomers=30)
    world.add(life)
    return Case(name, world, {(a.native_id, b.native_id): None}, {a.native_id: True})


def coincidental_overlap(seed: int) -> Case:
    """A few shared members between two big, unrelated, active communities."""
    rng = random.Random(seed)
    name = f"coincidence-{seed}"
    a, world, members, _ = _source(rng, name, "Calcio Amatori", f"calcio{seed}", shutdown=None, users=60)
    b, life = _successor(rng, name, "Cucina Facile", f"cucina{seed}", created=SHUTDOWN - timedelta(days=200),
                         movers=rng.sample(members, 3), newcomers=60)
    world.add(life)
    return Case(name, world, {(a.native_id, b.native_id): None}, {a.native_id: False})


def flaky_fetch(seed: int) -> Case:
    """One failed fetch, then the channel is back: no shutdown, and its namesake is no successor."""
    rng = random.Random(seed)
    name = f"flaky-{seed}"
    a, world, _members, _ = _source(rng, name, "Segreti di Roma", f"segreti{seed}", shutdown=None)
    world.add(a.down(SHUTDOWN))
    b, life = _successor(rng, name, "Segreti di Roma 2", f"segreti_roma_{seed}", created=SHUTDOWN + timedelta(days=1),
                         movers=[], newcomers=20)
    world.add(life)
    return Case(name, world, {(a.native_id, b.native_id): None}, {a.native_id: False})


def directory(targets: int, seed: int) -> Case:
    """A watched directory channel advertising many groups, one post each, with "new group" wording."""
    rng = random.Random(seed)
    name = f"directory-{seed}"
    d = Chan(f"{name}-D", f"directory{seed}", "Gruppi Italia Directory", created=SHUTDOWN - timedelta(days=400))
    world = World(seeds=[d])
    users = _users(f"{name}-d", 10)
    world.add(_life(d, rng, users, SHUTDOWN - timedelta(days=30), SHUTDOWN - timedelta(days=1), 5))
    labels: dict[tuple[str, str], str | None] = {}
    for i in range(targets):
        t = Chan(f"{name}-T{i}", f"gruppo{seed}x{i}", f"Gruppo {i}", created=SHUTDOWN - timedelta(days=50))
        world.add(_life(t, rng, _users(f"{name}-t{i}-", 8), SHUTDOWN - timedelta(days=40), SHUTDOWN, 3))
        world.add(d.post(SHUTDOWN - timedelta(days=10 - i % 10), f"Nuovo gruppo! https://t.me/{t.handle}",
                         user=users[0]))
        labels[(d.native_id, t.native_id)] = None
    return Case(name, world, labels, {d.native_id: False})


def all_cases() -> Iterator[Case]:
    seed = 100
    makers: list[Callable[[], Case]] = []
    for lang in PHRASES:
        for fraction, days in ((0.5, 1), (0.0, 3)):
            makers.append(lambda lang=lang, fraction=fraction, days=days, s=seed: explicit_announcement(
                lang, fraction, days, s))
            seed += 1
    makers.append(lambda s=seed: explicit_announcement("it", 0.35, 10, s))
    seed += 1
    for fraction, reposts, disguised in ((0.8, 6, False), (0.6, 4, True), (0.5, 8, False), (0.7, 3, True)):
        makers.append(lambda f=fraction, rp=reposts, d=disguised, s=seed: silent_successor(f, rp, d, s))
        seed += 1
    for title, handle in (("𝕄𝕚𝕒 𝕄𝕠𝕘𝕝𝕚𝕖 2", "m1a_m0glie_backup"), ("Міа Моglіе", "miamoglie_riserva"),
                          ("ＭＩＡ ＭＯＧＬＩＥ", "mia_mogl1e_2")):
        makers.append(lambda t=title, h=handle, s=seed: homoglyph_name(t, f"{h}{s}", 0.5, s))
        seed += 1
    for fraction, reposts in ((0.2, 2), (0.25, 1)):  # hard: a few movers, little content
        makers.append(lambda f=fraction, rp=reposts, s=seed: silent_successor(f, rp, False, s))
        seed += 1
    for fraction in (0.5, 0.3):
        makers.append(lambda f=fraction, s=seed: sister_channel(f, s))
        seed += 1
    for lang, stale in (("it", False), ("en", True), ("es", True)):
        makers.append(lambda lang=lang, st=stale, s=seed: weak_link(lang, st, s))
        seed += 1
    for _ in range(3):
        makers.append(lambda s=seed: unrelated_generic_name(s))
        seed += 1
    for _ in range(2):
        makers.append(lambda s=seed: coincidental_overlap(s))
        seed += 1
    for _ in range(2):
        makers.append(lambda s=seed: flaky_fetch(s))
        seed += 1
    makers.append(lambda s=seed: directory(12, s))
    for make in makers:
        yield make()
