"""The subscribers file, and which of a day's papers each subscriber asked for.

The file is written by hand, so every mistake is reported with its file and line before any
mail goes out: an unknown key (`keyword:` for `keywords:`) would otherwise widen a filter
silently and send someone every paper of the day. Addresses are checked to be plain ASCII
`local@domain`, which is also what keeps them safe to put in a `To:` header and a file name.

Filters match whole words from their start, case-insensitively, in the title and the
abstract: `rag` finds "RAG" and "RAG-based" but not "storage"; `transformer` finds
"Transformers"; a phrase (`long context`) also matches "long-context". A day's papers are
searched once per distinct keyword, not once per subscriber, so ten thousand subscribers
sharing a few hundred keywords cost a few hundred scans (`DaySelector`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from paperroute.config import compose_yaml
from paperroute.errors import InputError
from paperroute.model import Paper

DEFAULT_SUBSCRIBERS_FILE = Path("subscribers.yaml")

_KEYS = ("email", "topics", "keywords", "exclude")
# RFC 5321's dot-atom local part and a DNS host name: no spaces, quotes, brackets, commas or
# line breaks, so an address can never carry a second header or a second recipient.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_MAX_ADDRESS_LENGTH = 254
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_WORD_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class Subscriber:
    """One entry of the subscribers file; empty filters mean "every paper of the day"."""

    email: str
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # Where the entry starts in the file, for errors found later.
    line: int = 0

    @property
    def key(self) -> str:
        """The address as the ledger and duplicate check know it: case does not make a new person."""
        return self.email.casefold()

    @property
    def has_filters(self) -> bool:
        return bool(self.topics or self.keywords or self.exclude)


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A keyword as a regular expression over case-folded text: from a word start, spaces as hyphens."""
    words = [re.escape(word) for word in _WORD_SEPARATORS.split(keyword.casefold().strip()) if word]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(words))


class DaySelector:
    """Picks each subscriber's papers from one day, scanning the day once per distinct keyword."""

    def __init__(self, papers: Sequence[Paper]):
        self.papers = list(papers)
        self._texts = [f"{paper.title}\n{paper.abstract}".casefold() for paper in self.papers]
        self._topics = [frozenset(paper.topics or ["other"]) for paper in self.papers]
        self._keyword_hits: dict[str, frozenset[int]] = {}

    def _hits(self, keyword: str) -> frozenset[int]:
        folded = keyword.casefold()
        hits = self._keyword_hits.get(folded)
        if hits is None:
            pattern = keyword_pattern(folded)
            hits = frozenset(i for i, text in enumerate(self._texts) if pattern.search(text))
            self._keyword_hits[folded] = hits
        return hits

    def _any_hit(self, keywords: Iterable[str]) -> set[int]:
        found: set[int] = set()
        for keyword in keywords:
            found |= self._hits(keyword)
        return found

    def select(self, subscriber: Subscriber) -> list[Paper]:
        """The papers `subscriber` asked for, in the day's order.

        All filters must agree: one of the paper's topics is wanted (when topics are given),
        a keyword matches (when keywords are given), and no excluded word matches.
        """
        chosen = range(len(self.papers))
        if subscriber.topics:
            wanted = frozenset(subscriber.topics)
            chosen = [i for i in chosen if self._topics[i] & wanted]
        if subscriber.keywords:
            matching = self._any_hit(subscriber.keywords)
            chosen = [i for i in chosen if i in matching]
        if subscriber.exclude:
            excluded = self._any_hit(subscriber.exclude)
            chosen = [i for i in chosen if i not in excluded]
        return [self.papers[i] for i in chosen]


# ---------------------------------------------------------------- reading the file


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def load_subscribers(path: Path, known_topics: Iterable[str] | None = None) -> list[Subscriber]:
    """Read and check the subscribers file; `known_topics`, when given, catches misspelt slugs."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("subscribers file not found (see subscribers.example.yaml)", path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path) from None
    except OSError as err:
        raise InputError(f"cannot read the subscribers file ({err.strerror})", path) from None
    return parse_subscribers(text, path, known_topics)


def parse_subscribers(text: str, path: Path, known_topics: Iterable[str] | None = None) -> list[Subscriber]:
    """Parse a YAML list of subscriber entries; the first mistake stops it with its line."""
    try:
        root = compose_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", path, mark.line + 1 if mark else None) from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise InputError("expected a list of subscribers, each like '- email: a@b.org'", path, _line(root))
    known = set(known_topics) if known_topics is not None else None
    subscribers: list[Subscriber] = []
    first_line: dict[str, int] = {}
    for node in root.value:
        subscriber = _parse_entry(node, path, known)
        earlier = first_line.get(subscriber.key)
        if earlier is not None:
            raise InputError(f"{subscriber.email} is listed twice (first on line {earlier})", path, subscriber.line)
        first_line[subscriber.key] = subscriber.line
        subscribers.append(subscriber)
    return subscribers


def _parse_entry(node: yaml.Node, path: Path, known_topics: set[str] | None) -> Subscriber:
    if not isinstance(node, yaml.MappingNode):
        raise InputError("each subscriber must be a mapping like 'email: a@b.org'", path, _line(node))
    values: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in _KEYS:
            raise InputError(f"unknown key {key!r} (known: {', '.join(_KEYS)})", path, _line(key_node))
        if key in values:
            raise InputError(f"{key}: given twice", path, _line(key_node))
        values[key] = value_node
    if "email" not in values:
        raise InputError("email: every subscriber needs an address", path, _line(node))
    email = _address(values["email"], path)
    topic_nodes = _string_list(values.get("topics"), "topics", path)
    topics = tuple(_text(n).strip() for n in topic_nodes)
    if known_topics is not None:
        for slug, topic_node in zip(topics, topic_nodes):
            if slug not in known_topics:
                raise InputError(f"topics: unknown topic {slug!r} (known: {', '.join(sorted(known_topics))})",
                                 path, _line(topic_node))
    keywords = tuple(_keyword(n, "keywords", path) for n in _string_list(values.get("keywords"), "keywords", path))
    exclude = tuple(_keyword(n, "exclude", path) for n in _string_list(values.get("exclude"), "exclude", path))
    return Subscriber(email=email, topics=topics, keywords=keywords, exclude=exclude, line=_line(node))


def _text(node: yaml.ScalarNode) -> str:
    return str(node.value)


def _address(node: yaml.Node, path: Path) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
        raise InputError("email: expected an address like a@b.org", path, _line(node))
    email = node.value.strip()
    if len(email) > _MAX_ADDRESS_LENGTH or not _ADDRESS.fullmatch(email):
        raise InputError(f"email: {email!r} is not a plain address like a@b.org", path, _line(node))
    return email


def _string_list(node: yaml.Node | None, key: str, path: Path) -> list[yaml.ScalarNode]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise InputError(f"{key}: expected a list, like {key}: [one, two]", path, _line(node))
    items = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or item.tag == _NULL_TAG or not _text(item).strip():
            raise InputError(f"{key}: each entry must be a non-empty word or phrase", path, _line(item))
        items.append(item)
    return items


def _keyword(node: yaml.ScalarNode, key: str, path: Path) -> str:
    keyword = " ".join(_text(node).split())
    if not re.search(r"\w", keyword):
        raise InputError(f"{key}: {keyword!r} has no letters or digits to match", path, _line(node))
    return keyword
