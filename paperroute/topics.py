"""The taxonomy and the rules that file a paper under one to three of its topics.

The taxonomy lives in `content/topics.yaml` so that a person can rename a topic, reword its
description or sharpen its rules without touching code; the packaged `default_topics.yaml` is
the starting point. Every rule is a regular expression over the title and the abstract. A title
names what a paper is about while an abstract mentions much in passing, so a title match
counts for more, and an abstract counts each rule once plus a little for repetition (a paper
that says "quantization" six times is about quantization; one that says it once is not).

Assignment runs on every paper of a store that grows to 100,000, so each topic's rules are
compiled once, into one alternation, and a text is scanned once per topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from paperroute.config import compose_yaml
from paperroute.errors import InputError
from paperroute.model import Topic
from paperroute.output import write_atomic
from paperroute.text import slugify

TAXONOMY_FILE = "topics.yaml"
DEFAULT_TAXONOMY = Path(__file__).with_name("default_topics.yaml")
OTHER = "other"
MAX_TOPICS = 3

# Scores are integers so that ties, and therefore results, never depend on float rounding.
TITLE_WEIGHT = 6  # per distinct rule matching the title
ABSTRACT_WEIGHT = 2  # per distinct rule matching the abstract
ABSTRACT_REPEAT_WEIGHT = 1  # per further occurrence of that rule in the abstract ...
ABSTRACT_REPEAT_CAP = 2  # ... counted at most this many times, so one word cannot outvote a title
# A topic needs one title match, or two abstract matches, to be assigned at all ...
MIN_SCORE = 4
# ... and a secondary topic needs at least this share of the primary topic's score.
SECONDARY_SHARE_PERCENT = 40

_WHOLE_WORDS = r"(?<!\w)(?:{})(?!\w)"
_ESCAPES = re.compile(r"\\.")  # \W, \S, \B are classes, not letters
_UPPER_LITERAL = re.compile(r"[A-Z]")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_TOPIC_KEYS = ("slug", "name", "description", "patterns", "title_patterns")
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class _Rules:
    """A list of rules compiled twice: as one alternation to find matches in a single scan, and
    one by one to tell which rule a match came from (capturing groups would make the scan
    several times slower). Texts arrive lower-cased, so no pattern needs IGNORECASE, which is
    slower too.
    """

    scan: re.Pattern[str]
    each: tuple[re.Pattern[str], ...]

    def counts(self, text: str) -> dict[int, int]:
        """How often each rule matched `text`, by rule index."""
        found: dict[int, int] = {}
        for match in self.scan.finditer(text):
            start = match.start()
            if match.end() == start:  # a zero-width rule (a lone lookahead) names nothing
                continue
            # The alternation took the first rule that matches here; find that one.
            rule = next(index for index, pattern in enumerate(self.each) if pattern.match(text, start))
            found[rule] = found.get(rule, 0) + 1
        return found


@dataclass(frozen=True)
class TopicScore:
    """How strongly one topic's rules matched a paper, from its title and from its abstract."""

    slug: str
    title: int
    abstract: int

    @property
    def total(self) -> int:
        return self.title + self.abstract


@dataclass(frozen=True)
class _Matcher:
    topic: Topic
    in_title: _Rules | None  # `patterns` then `title_patterns`
    in_abstract: _Rules | None  # `patterns`

    def score(self, title: str, abstract: str) -> TopicScore:
        title_points = abstract_points = 0
        if self.in_title is not None:
            title_points = TITLE_WEIGHT * len(self.in_title.counts(title))
        if self.in_abstract is not None:
            for count in self.in_abstract.counts(abstract).values():
                abstract_points += ABSTRACT_WEIGHT + ABSTRACT_REPEAT_WEIGHT * min(count - 1, ABSTRACT_REPEAT_CAP)
        return TopicScore(self.topic.slug, title_points, abstract_points)


def _comparable(text: str) -> str:
    """Lower-cased, without links: a repository URL says nothing about what a paper is about."""
    return _URL.sub(" ", text.lower())


class Taxonomy:
    """The topics in the order pages list them, and the rules that assign them."""

    def __init__(self, matchers: list[_Matcher]):
        self._matchers = matchers
        self.topics: list[Topic] = [matcher.topic for matcher in matchers]

    @property
    def slugs(self) -> list[str]:
        return [topic.slug for topic in self.topics]

    def scores(self, title: str, abstract: str) -> list[TopicScore]:
        """Every topic's score, in taxonomy order: what `assign` decides from, and what to look
        at when tuning a rule."""
        title, abstract = _comparable(title), _comparable(abstract)
        return [matcher.score(title, abstract) for matcher in self._matchers]

    def assign(self, title: str, abstract: str) -> list[str]:
        """One to three topic slugs, primary first; `["other"]` when no topic scores enough.

        Sorting is stable, so ties keep taxonomy order and the same text always gets the same topics.
        """
        ranked = sorted((s for s in self.scores(title, abstract) if s.total >= MIN_SCORE), key=lambda s: -s.total)
        if not ranked:
            return [OTHER]
        primary = ranked[0].total
        # A topic the title names stays a candidate however much the abstract says about another.
        chosen = [s.slug for s in ranked if s.title or s.total * 100 >= primary * SECONDARY_SHARE_PERCENT]
        return chosen[:MAX_TOPICS]


# ---------------------------------------------------------------- reading topics.yaml


def load_taxonomy(content_dir: Path) -> Taxonomy:
    """The store's `topics.yaml`, or the packaged default when the store has none."""
    path = _taxonomy_path(content_dir)
    return parse_taxonomy(_read_text(path), path)


def load_topics(content_dir: Path) -> list[Topic]:
    """The taxonomy's topics, in order, without its rules: all that pages, feeds and digests
    need. Rules are checked and compiled only where papers are filed: compiling the default's
    700 took 0.1 s, a thirtieth of a daily build."""
    path = _taxonomy_path(content_dir)
    return [matcher.topic for matcher in _parse_matchers(_read_text(path), path, with_rules=False)]


def _taxonomy_path(content_dir: Path) -> Path:
    path = Path(content_dir) / TAXONOMY_FILE
    return path if path.is_file() else DEFAULT_TAXONOMY


def ensure_taxonomy_file(content_dir: Path) -> None:
    """Put the default taxonomy into the store, once, so a person has a file to edit."""
    path = Path(content_dir) / TAXONOMY_FILE
    if not path.exists():
        write_atomic(path, DEFAULT_TAXONOMY.read_bytes())


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", path) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", path) from None


def parse_taxonomy(text: str, path: Path) -> Taxonomy:
    """Validate a taxonomy file node by node, so that every complaint names its line."""
    return Taxonomy(_parse_matchers(text, path, with_rules=True))


def _parse_matchers(text: str, path: Path, *, with_rules: bool) -> list[_Matcher]:
    """Each topic of a taxonomy file, with its rules checked and compiled, or without rules."""
    try:
        root = compose_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        message = f"not valid YAML: {getattr(err, 'problem', None) or err}"
        context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
        if context and context_mark:
            message += f" ({context} started on line {context_mark.line + 1})"
        raise InputError(message, path, mark.line + 1 if mark else None) from None
    if root is None:
        raise InputError("empty taxonomy: expected 'topics:' with a list of topics", path, 1)
    document = _mapping(root, path, "the file", ("topics",))
    if "topics" not in document:
        raise InputError("missing 'topics:' (a list of topics)", path, _line(root))
    topics_node = document["topics"][1]
    if not isinstance(topics_node, yaml.SequenceNode) or not topics_node.value:
        raise InputError("'topics' must be a non-empty list of topics", path, _line(topics_node))

    matchers: list[_Matcher] = []
    seen: dict[str, int] = {}
    for topic_node in topics_node.value:
        matcher = _parse_topic(topic_node, path, with_rules)
        slug = matcher.topic.slug
        if slug in seen:
            raise InputError(f"topic {slug!r} is defined twice (first on line {seen[slug]})", path, _line(topic_node))
        seen[slug] = _line(topic_node)
        matchers.append(matcher)
    return matchers


def _parse_topic(node: yaml.Node, path: Path, with_rules: bool) -> _Matcher:
    fields = _mapping(node, path, "a topic", _TOPIC_KEYS)
    for required in ("slug", "name"):
        if required not in fields:
            raise InputError(f"topic has no '{required}'", path, _line(node))
    slug_node = fields["slug"][1]
    slug = _text(slug_node, path, "slug")
    if slug != slugify(slug) or len(slug) > 80:
        raise InputError(f"slug {slug!r} must be lower-case letters, digits and hyphens (like {slugify(slug)!r})",
                         path, _line(slug_node))
    if slug == OTHER:
        raise InputError(f"slug {OTHER!r} is reserved for papers no rule matches", path, _line(slug_node))
    name = _text(fields["name"][1], path, "name")
    description = _text(fields["description"][1], path, "description", allow_empty=True) if "description" in fields else ""
    topic = Topic(slug=slug, name=name, description=description)
    if not with_rules:
        return _Matcher(topic, in_title=None, in_abstract=None)
    anywhere = _rule_list(fields.get("patterns"), path, slug)
    title_only = _rule_list(fields.get("title_patterns"), path, slug)
    return _Matcher(
        topic,
        in_title=_compile(anywhere + title_only),
        in_abstract=_compile(anywhere),
    )


def _rule_list(entry: tuple[yaml.Node, yaml.Node] | None, path: Path, slug: str) -> list[str]:
    """Check each rule alone, so that an error names its line."""
    if entry is None:
        return []
    key_node, node = entry
    if not isinstance(node, yaml.SequenceNode):
        raise InputError(f"'{key_node.value}' must be a list of regular expressions", path, _line(node))
    rules = []
    for rule_node in node.value:
        rule = _text(rule_node, path, f"a rule of {slug!r}")

        def bad(problem: str) -> InputError:
            return InputError(f"rule {rule!r} of {slug!r} {problem}", path, _line(rule_node))

        if _UPPER_LITERAL.search(_ESCAPES.sub("", rule)):
            raise bad("has upper-case letters: rules ignore case, write them in lower case")
        try:
            compiled = re.compile(_WHOLE_WORDS.format(rule))
        except re.error as err:
            raise bad(f"is not a valid regular expression: {err.msg}") from None
        if compiled.groups:
            raise bad("has a capturing group: write (?:...) to group")
        if compiled.fullmatch(""):
            raise bad("matches empty text, so it would match every paper")
        rules.append(rule)
    return rules


def _compile(rules: list[str]) -> _Rules | None:
    """Rules match whole words: `moe` must not fire inside "some"; `quantiz\\w*` matches a stem.

    One word-boundary check around the whole alternation, not one per rule, keeps the scan fast.
    """
    if not rules:
        return None
    return _Rules(scan=re.compile(_WHOLE_WORDS.format("|".join(rules))),
                  each=tuple(re.compile(_WHOLE_WORDS.format(rule)) for rule in rules))


def _mapping(node: yaml.Node, path: Path, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping's entries by key; unknown and repeated keys are errors (they are typos)."""
    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"{what} must be a mapping of keys to values", path, _line(node))
    entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in allowed:
            raise InputError(f"unknown key {key!r} in {what} (expected one of: {', '.join(allowed)})",
                             path, _line(key_node))
        if key in entries:
            raise InputError(f"key {key!r} appears twice in {what}", path, _line(key_node))
        entries[key] = (key_node, value_node)
    return entries


def _text(node: yaml.Node, path: Path, what: str, *, allow_empty: bool = False) -> str:
    """A scalar that YAML reads as text; `yes` or `1.5` unquoted would silently be something else."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
        raise InputError(f"{what} must be text (quote it)", path, _line(node))
    value = node.value.strip()
    if not value and not allow_empty:
        raise InputError(f"{what} is empty", path, _line(node))
    return value


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
