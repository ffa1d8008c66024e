"""Name folding shared by detection and search (pure; imports nothing of ours).

Successor groups are named to be found by their members but not by moderators' filters: the same
words in mathematical alphanumerics ("𝕄𝕚𝕒"), Cyrillic or Greek look-alikes ("Міа"), fullwidth forms,
leetspeak ("M0gl1e"), with zero-width characters inside, and decorated ("2", "backup", "riserva",
emoji, brackets). :func:`normalise_name` maps all of those to one plain key ("mia moglie"), the key
detection compares (``detect.names``) and ``community:`` searches match; :func:`fold_words` keeps
every word (decorations too) for searching inside titles.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Look-alikes NFKC leaves alone: Cyrillic and Greek letters that render like Latin ones. The
# mathematical alphanumerics and fullwidth forms are already folded by NFKC.
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "һ": "h", "ԁ": "d", "ɡ": "g",
    "ԛ": "q", "ԝ": "w", "ѵ": "v", "ӏ": "l",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w", "γ": "y", "μ": "u", "ϲ": "c", "ς": "s",
    # Latin look-alikes and symbols
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe",
})

# Capital look-alikes, applied before case folding (capital Greek Mu is "M", its lower case "μ" is "u").
_CAPITAL_CONFUSABLES = str.maketrans({
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t",
    "Х": "x", "І": "i", "Ј": "j", "Ѕ": "s", "Ү": "y",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o",
    "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
})
# Small capitals (Latin letter modifiers NFKC keeps).
_SMALL_CAPS = str.maketrans(dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz", strict=True)))

# Leetspeak, applied only inside tokens that also contain letters ("m0glie"), never to numbers.
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
                       "@": "a", "$": "s", "!": "i", "|": "l", "€": "e", "£": "l"})

#: Words that decorate a name without changing which community it means (a successor is often
#: "<name> 2", "<name> backup", "<name> riserva"). Compared after normalisation.
DECORATIONS = frozenset({
    "2", "3", "4", "ii", "iii", "v2", "v3", "bis", "ter", "new", "the", "official", "backup", "back", "up",
    "reserve", "spare", "mirror", "channel", "group", "chat", "real", "only", "original", "main", "vip",
    "tg", "telegram", "nuovo", "nuova", "riserva", "ufficiale", "canale", "gruppo", "neu", "neue", "neuer",
    "offiziell", "kanal", "gruppe", "nouveau", "nouvelle", "officiel", "groupe", "chaine", "nuevo", "nueva",
    "oficial", "respaldo", "canal", "grupo", "reserva",
})

_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")
_LEETABLE = re.compile(r"[0-9@$!|€£]")


def skeleton(text: str) -> str:
    """Fold a name to plain lower-case Latin: NFKC, no invisible characters, no accents, look-alikes
    replaced. Emoji and punctuation survive here; :func:`normalise_name` drops them."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = text.translate(_CAPITAL_CONFUSABLES).translate(_SMALL_CAPS).casefold().translate(_CONFUSABLES)
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_CONFUSABLES)


def _tokens(text: str) -> list[str]:
    """Split into word tokens, gluing leet symbols to the letters around them ("m@ria" is one token)."""
    merged = re.sub(r"(?<=\w)([@$!|€£]+)(?=\w)", lambda mt: mt.group(1), text)
    out: list[str] = []
    for raw in re.findall(r"[\w@$!|€£]+", merged):
        for part in raw.split("_"):
            if part:
                out.append(part)
    return out


def _unleet(token: str) -> str:
    if not any(ch.isalpha() for ch in token) or not _LEETABLE.search(token):
        return token
    stripped = token.rstrip("0123456789")
    trailing = token[len(stripped):]
    # "moglie2", "chat2024": a trailing number is a decoration; "segret0": one leet digit is a letter.
    is_decoration = bool(trailing) and not (len(trailing) == 1 and trailing in "013457")
    core = stripped if is_decoration and any(ch.isalpha() for ch in stripped) else token
    return core.translate(_LEET)


@lru_cache(maxsize=65536)
def normalise_name(name: str | None) -> str:
    """The comparison key of a title or handle: ``"𝕄𝕚𝕒 𝕄𝕠𝕘𝕝𝕚𝕖 2"`` and ``"M1a_M0glie_backup"`` both
    become ``"mia moglie"``. Returns ``""`` when nothing but decoration is left."""
    if not name:
        return ""
    words = [_unleet(tok) for tok in _tokens(skeleton(name))]
    words = [w for w in words if w and any(ch.isalnum() for ch in w)]
    kept = [w for w in words if w not in DECORATIONS and not w.isdigit()]
    if not kept:  # a name that is only decoration ("Backup 2") keeps its words
        kept = [w for w in words if not w.isdigit()] or words
    return " ".join(kept)


def fold_words(text: str | None) -> str:
    """Every word of ``text`` folded like :func:`normalise_name` folds them (look-alikes, accents, case,
    leetspeak), decorations and numbers kept: what a title is searched by."""
    if not text:
        return ""
    words = [_unleet(tok) for tok in _tokens(skeleton(text))]
    return " ".join(w for w in words if w and any(ch.isalnum() for ch in w))
