"""Text keys shared by every stage: one slug function and one title normaliser.

Identity rests on `normalise_title`, and URLs on `slugify`, so both live here and nowhere else.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def normalise_title(title: str) -> str:
    """Fold case, accents, punctuation and spacing so that one paper's title variants agree."""
    folded = unicodedata.normalize("NFKD", title).casefold()
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _SPACES.sub(" ", re.sub(r"[^\w]+", " ", folded)).strip()


def slugify(text: str, max_length: int = 80) -> str:
    """ASCII, lower-case, hyphenated; cut at a word boundary so URLs stay readable.

    Only [0-9a-z-] survive, so a hostile title (`../../etc/passwd`) can never name a path.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NON_WORD.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut[: cut.rfind("-")] if "-" in cut else slug[:max_length]
    return slug.strip("-") or "paper"


def clean_line(text: str) -> str:
    """Drop control characters and fold white space: what every single-line field gets."""
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()
