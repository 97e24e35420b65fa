"""arXiv identifiers and the links they imply, shared by every format that carries one.

The same paper reaches us as `2503.02130` (HF JSON), `http://arxiv.org/abs/2503.02130v2` (the
arXiv API), `oai:arXiv.org:2503.02130v1` (arXiv's listings) or `/papers/2503.02130` (a saved
page). Identity rests on the bare id, so every spelling is reduced here, in one place, and the
version suffix is dropped: v1 and v3 of a paper are one paper. Links are rebuilt from the bare
id, so the same paper from two formats carries byte-identical links and a re-ingest changes
nothing.
"""

from __future__ import annotations

import re

from paperroute.urls import web_address

# New-style ids (0704.0001 to 9912.99999) and old-style archive ids (hep-th/9901001, math.AG/0601001).
_ID = r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})"
_ANY_SPELLING = re.compile(
    rf"^(?:arxiv:|oai:arxiv\.org:|https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|"
    rf"https?://huggingface\.co/papers/|/papers/)?({_ID})(?:v\d+)?(?:\.pdf)?/?$",
    re.IGNORECASE,
)


def bare_arxiv_id(text: str) -> str | None:
    """The version-less arXiv id in any of its spellings, or None when `text` is not one."""
    match = _ANY_SPELLING.match(text.strip())
    if match is None:
        return None
    found = match.group(1)
    # Only the archive name of an old-style id is case-insensitive in the pattern; keep its canonical case.
    if "/" in found:
        archive, number = found.split("/")
        head, _, subject = archive.partition(".")
        found = f"{head.lower()}{'.' + subject.upper() if subject else ''}/{number}"
    return found


def arxiv_links(arxiv_id: str) -> dict[str, str]:
    """The abstract page, the PDF and the Hugging Face page of a paper, without version."""
    return {
        "arxiv": f"https://arxiv.org/abs/{arxiv_id}",
        "pdf": f"https://arxiv.org/pdf/{arxiv_id}",
        "hf": f"https://huggingface.co/papers/{arxiv_id}",
    }


def web_url(value: object) -> str | None:
    """`value` when it is an http(s) address with a host; sources are untrusted, so no `javascript:`."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    return url if web_address(url) is not None else None
