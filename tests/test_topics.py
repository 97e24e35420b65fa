"""Topic assignment: the default taxonomy against hand-labelled seed papers, the scoring rules on
small taxonomies written for each test, and topics.yaml validation with file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from paperroute.errors import InputError
from paperroute.topics import DEFAULT_TAXONOMY, TAXONOMY_FILE, ensure_taxonomy_file, load_taxonomy, load_topics

ROOT = Path(__file__).resolve().parent.parent
LABELS = Path(__file__).parent / "data" / "topic_labels.yaml"
CONTRACT_SLUGS = [
    "long-context", "efficient-inference", "compression", "sparsity-moe", "training", "fine-tuning",
    "alignment-safety", "evaluation", "retrieval-rag", "agents-tools", "reasoning", "multimodal",
    "multilingual", "code", "data", "interpretability", "surveys",
]


@pytest.fixture(scope="module")
def default_taxonomy():
    return load_taxonomy(Path("/nonexistent-content-dir"))


def write_taxonomy(content_dir: Path, text: str) -> Path:
    content_dir.mkdir(parents=True, exist_ok=True)
    path = content_dir / TAXONOMY_FILE
    path.write_text(text, encoding="utf-8")
    return path


FRUIT = """\
topics:
  - slug: alpha
    name: Alpha
    patterns: [apple, apricot]
  - slug: beta
    name: Beta
    patterns: [banana, blueberry]
  - slug: gamma
    name: Gamma
    patterns: [cherry, currant]
  - slug: delta
    name: Delta
    patterns: [date, durian]
    title_patterns: [dried]
"""


@pytest.fixture
def fruit(tmp_path):
    write_taxonomy(tmp_path, FRUIT)
    return load_taxonomy(tmp_path)


# ---------------------------------------------------------------- the default taxonomy


def test_default_taxonomy_has_the_contract_slugs_in_order(default_taxonomy):
    assert default_taxonomy.slugs == CONTRACT_SLUGS
    for topic in default_taxonomy.topics:
        assert topic.name and topic.description, topic.slug
        # A paper titled like the topic lands there: every topic is reachable by its rules.
        assert default_taxonomy.assign(topic.name, "")[0] == topic.slug, topic.name


def test_demo_store_has_a_valid_taxonomy_with_the_contract_slugs():
    assert (ROOT / "content" / TAXONOMY_FILE).is_file()
    assert load_taxonomy(ROOT / "content").slugs == CONTRACT_SLUGS


def test_labelled_sample_share(default_taxonomy):
    """The share of hand-labelled seed papers whose label is among their assigned topics."""
    sample = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    assert len(sample) >= 50
    assert {paper["topic"] for paper in sample} == set(CONTRACT_SLUGS), "the sample covers every topic"
    assigned = [default_taxonomy.assign(paper["title"], paper["abstract"]) for paper in sample]
    among = sum(paper["topic"] in topics for paper, topics in zip(sample, assigned))
    primary = sum(paper["topic"] == topics[0] for paper, topics in zip(sample, assigned))
    share = among / len(sample)
    print(f"\ntopic sample: {among}/{len(sample)} = {share:.1%} labelled topic among assigned; "
          f"{primary}/{len(sample)} = {primary / len(sample):.1%} as primary")
    assert share >= 0.85
    assert all(1 <= len(topics) <= 3 for topics in assigned)


def test_default_rules_on_clear_cases(default_taxonomy):
    assert default_taxonomy.assign("GPTQ: Accurate Post-Training Quantization for Generative Transformers",
                                   "We quantize weights to 3 or 4 bits.")[0] == "compression"
    assert set(default_taxonomy.assign("A Survey on Retrieval-Augmented Generation", "")) == {"surveys", "retrieval-rag"}
    # Release boilerplate and links are not evidence of a code paper.
    assert "code" not in default_taxonomy.assign(
        "Scaling Laws for Mixture-of-Experts",
        "We fit scaling laws for MoE models. Our code is available at https://github.com/x/code-llm.")


# ---------------------------------------------------------------- scoring rules


def test_one_to_three_topics_primary_first(fruit):
    assert fruit.assign("Apple and banana", "cherry and currant, date and durian") == ["alpha", "beta", "gamma"]
    assert fruit.assign("Apple", "") == ["alpha"]


def test_other_when_nothing_matches(fruit, default_taxonomy):
    assert fruit.assign("Kiwi", "Mango and papaya.") == ["other"]
    assert fruit.assign("", "") == ["other"]
    # One passing mention in the abstract is not enough to file a paper under a topic.
    assert fruit.assign("Kiwi", "A banana.") == ["other"]
    assert default_taxonomy.assign("A history of windmills", "Windmills ground grain for centuries.") == ["other"]


def test_title_match_beats_abstract_match(fruit):
    assert fruit.assign("An apple", "Banana and blueberry.") == ["alpha", "beta"]
    assert fruit.assign("A banana", "Apple and apricot.") == ["beta", "alpha"]
    # Repeating one word in the abstract does not outvote a title.
    assert fruit.assign("A banana", "apple " * 20) == ["beta", "alpha"]


def test_title_patterns_count_only_in_the_title(fruit):
    assert fruit.assign("Dried fruit", "") == ["delta"]
    assert fruit.assign("Fruit", "Dried and dried again, dried.") == ["other"]


def test_a_topic_the_title_names_stays_among_the_topics(tmp_path):
    write_taxonomy(tmp_path, """\
topics:
  - {slug: berries, name: Berries, patterns: [blueberry, blackberry, bilberry, cranberry, gooseberry]}
  - {slug: cherries, name: Cherries, patterns: [cherry]}
""")
    taxonomy = load_taxonomy(tmp_path)
    abstract = "blueberry blackberry bilberry cranberry gooseberry " * 3
    # Berries score 5 x 4 = 20 from the abstract; a title's 6 is under 40% of that, yet it counts.
    assert taxonomy.assign("Cherry", abstract) == ["berries", "cherries"]
    assert taxonomy.assign("Fruit", abstract + " cherry cherry") == ["berries"]


def test_rules_match_whole_words_and_ignore_case(fruit):
    assert fruit.assign("Pineapple", "Bananas are not bananax.") == ["other"]
    assert fruit.assign("APPLE", "") == ["alpha"]


def test_ties_keep_taxonomy_order(fruit):
    assert fruit.assign("Banana apple", "") == ["alpha", "beta"]
    assert fruit.assign("Cherry date banana", "") == ["beta", "gamma", "delta"]


def test_a_zero_width_rule_matches_nothing(tmp_path):
    write_taxonomy(tmp_path, "topics:\n  - {slug: edges, name: Edges, patterns: ['(?=-)', edge]}\n")
    taxonomy = load_taxonomy(tmp_path)
    assert taxonomy.assign("Words - and - more - words", "") == ["other"]
    assert taxonomy.assign("An edge", "") == ["edges"]


def test_links_are_not_evidence(fruit):
    assert fruit.assign("Kiwi", "See https://example.org/apple/apricot and www.apple.com/banana.") == ["other"]


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=300), abstract=st.text(max_size=3000))
def test_assign_never_raises_and_returns_known_slugs(default_taxonomy, title, abstract):
    topics = default_taxonomy.assign(title, abstract)
    assert 1 <= len(topics) <= 3
    assert len(set(topics)) == len(topics)
    assert set(topics) <= set(CONTRACT_SLUGS) | {"other"}
    assert topics == ["other"] or "other" not in topics
    assert default_taxonomy.assign(title, abstract) == topics


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(
    ["quantization", "agents", "long-context", "retrieval", "survey", "code", "reasoning", "pre-training",
     "LoRA", "jailbreak", "benchmark", "multilingual", "dataset", "probing", "MoE", "speech", "the", "of"]),
    max_size=40))
def test_assign_on_field_vocabulary_returns_one_to_three(default_taxonomy, words):
    text = " ".join(words)
    topics = default_taxonomy.assign(text[:120], text)
    assert 1 <= len(topics) <= 3 and set(topics) <= set(CONTRACT_SLUGS) | {"other"}


# ---------------------------------------------------------------- the store's file


def test_load_falls_back_to_the_default(tmp_path):
    assert load_taxonomy(tmp_path).slugs == CONTRACT_SLUGS
    assert not (tmp_path / TAXONOMY_FILE).exists()


def test_the_store_file_wins_over_the_default(tmp_path):
    write_taxonomy(tmp_path, FRUIT)
    taxonomy = load_taxonomy(tmp_path)
    assert taxonomy.slugs == ["alpha", "beta", "gamma", "delta"]
    assert [t.name for t in taxonomy.topics] == ["Alpha", "Beta", "Gamma", "Delta"]


def test_ensure_taxonomy_file_writes_the_default_once(tmp_path):
    content = tmp_path / "content"
    ensure_taxonomy_file(content)
    path = content / TAXONOMY_FILE
    assert path.read_bytes() == DEFAULT_TAXONOMY.read_bytes()
    assert sorted(p.name for p in content.iterdir()) == [TAXONOMY_FILE]  # no temporary file left
    edited = FRUIT.replace("Alpha", "Apples")
    path.write_text(edited, encoding="utf-8")
    ensure_taxonomy_file(content)
    assert path.read_text(encoding="utf-8") == edited


def test_utf8_bom_and_comments_are_fine(tmp_path):
    write_taxonomy(tmp_path, "\ufeff# my topics\n" + FRUIT)
    assert load_taxonomy(tmp_path).slugs == ["alpha", "beta", "gamma", "delta"]


TOPIC = "topics:\n  - slug: alpha\n    name: Alpha\n"

BAD_FILES = [
    # (what, file text, line the error must name, words the message must contain)
    ("empty file", "", 1, "empty"),
    ("no topics key", "topcs:\n  - slug: a\n", 1, "unknown key"),
    ("topics not a list", "topics: alpha\n", 1, "list"),
    ("empty topics list", "topics: []\n", 1, "list"),
    ("YAML syntax error", TOPIC + "    patterns: [apple\n", 5, "started on line 4"),
    # read by libyaml, reported by PyYAML, whose message names the tab (`config.compose_yaml`)
    ("tab in YAML", TOPIC + "\t  patterns: [apple]\n", 4, "found character '\\t'"),
    # deeper than PyYAML's recursion can follow: libyaml's error, not a RecursionError
    ("nested too deep", "topics: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nesting depth"),
    ("topic not a mapping", "topics:\n  - alpha\n", 2, "mapping"),
    ("missing name", "topics:\n  - slug: alpha\n    patterns: [apple]\n", 2, "name"),
    ("unknown key", TOPIC + "    pattern: [apple]\n", 4, "unknown key 'pattern'"),
    ("repeated key", TOPIC + "    name: Again\n", 4, "twice"),
    ("bad slug", "topics:\n  - slug: Long Context\n    name: X\n", 2, "slug"),
    ("reserved slug", "topics:\n  - slug: other\n    name: Other\n", 2, "reserved"),
    ("duplicate slug", TOPIC + "  - slug: alpha\n    name: Again\n", 4, "line 2"),
    ("invalid regex", TOPIC + "    patterns:\n      - apple\n      - '(unclosed'\n", 6, "regular expression"),
    ("upper-case rule", TOPIC + "    patterns:\n      - LoRA\n", 5, "lower case"),
    ("capturing group", TOPIC + "    patterns:\n      - (apple|pear)\n", 5, "(?:"),
    ("rule matching empty text", TOPIC + "    patterns:\n      - apple\n      - 'x*'\n", 6, "empty"),
    ("rule not text", TOPIC + "    patterns:\n      - yes\n", 5, "text"),
    ("rules not a list", TOPIC + "    patterns: apple\n", 4, "list"),
    ("name not text", "topics:\n  - slug: alpha\n    name: [A]\n", 3, "text"),
]


@pytest.mark.parametrize("what, text, line, words", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_topics_file_names_file_and_line(tmp_path, what, text, line, words):
    path = write_taxonomy(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_taxonomy(tmp_path)
    err = caught.value
    assert (err.path, err.line) == (str(path), line), what
    assert words in err.message, err.message
    assert str(err).startswith(f"{path}:{line}: ")


RULE_PROBLEMS = {"invalid regex", "upper-case rule", "capturing group", "rule matching empty text", "rule not text",
                 "rules not a list"}


@pytest.mark.parametrize("what, text, line, words", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_topics_alone_are_read_without_the_rules(tmp_path, what, text, line, words):
    """A build needs only the topics: a broken rule is reported where papers are filed, and
    everything else as `load_taxonomy` reports it."""
    path = write_taxonomy(tmp_path, text)
    if what in RULE_PROBLEMS:
        assert [topic.slug for topic in load_topics(tmp_path)] == ["alpha"]
        return
    with pytest.raises(InputError) as caught:
        load_topics(tmp_path)
    assert (caught.value.path, caught.value.line) == (str(path), line) and words in caught.value.message


def test_topics_alone_are_the_taxonomy_topics(tmp_path):
    assert load_topics(tmp_path) == load_taxonomy(tmp_path).topics
    write_taxonomy(tmp_path, FRUIT)
    assert load_topics(tmp_path) == load_taxonomy(tmp_path).topics


def test_non_utf8_topics_file(tmp_path):
    path = tmp_path / TAXONOMY_FILE
    path.write_bytes(b"topics:\n  - slug: caf\xe9\n")
    with pytest.raises(InputError) as caught:
        load_taxonomy(tmp_path)
    assert caught.value.path == str(path) and "UTF-8" in caught.value.message


def test_ingest_with_a_bad_topics_file_is_one_line_and_exit_1(tmp_path, seeds_dir):
    content = tmp_path / "content"
    path = write_taxonomy(content, TOPIC + "    patterns:\n      - '[unclosed'\n")
    seed = sorted(seeds_dir.glob("*.txt"))[0]
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "ingest", str(seed), "--date", "2026-03-12",
                             "--content", str(content)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path}:5:" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (content / "papers").exists()
