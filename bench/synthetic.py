"""Synthetic papers for the scale benchmarks: N realistic records from a seed, then a content store.

A benchmark is only as honest as its corpus. Real abstracts follow Zipf's law: a few words
("model", "language") appear in most papers, a long tail of method names and rare terms in one
or two. Search index sizes, posting-list lengths and build times all depend on that shape, so
words here are drawn from frequency-ranked ML vocabulary with Zipf weights, and every paper
invents a method name or two, which gives the long tail real corpora have.

Paper `i` depends only on (seed, i): a corpus of 1,000 papers is the first 1,000 papers of the
100,000-paper corpus, 100 a day going back from `END_DATE`, newest first. Nothing reads the
clock or the disk until `write_corpus`.

    python bench/synthetic.py DIR N      # write N papers into the content store DIR
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import sys
import time
from bisect import bisect
from contextlib import ExitStack
from itertools import accumulate
from pathlib import Path
from typing import Iterable, Iterator, Sequence

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paperroute.model import Paper, SourceRef
from paperroute.store import ContentStore
from paperroute.text import slugify

SEED = 20260312
END_DATE = dt.date(2026, 3, 12)
PAPERS_PER_DAY = 100

# The default taxonomy (DESIGN.md), with words that make a paper look like it belongs there.
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "long-context": ("long-context", "context window", "long documents", "position interpolation",
                     "KV cache", "million-token", "context extension", "memory"),
    "efficient-inference": ("inference", "speculative decoding", "latency", "throughput", "KV cache",
                            "serving", "early exit", "decoding"),
    "compression": ("quantization", "pruning", "distillation", "low-bit", "4-bit", "compression",
                    "weight quantization", "student model"),
    "sparsity-moe": ("mixture of experts", "MoE", "sparse", "routing", "experts", "expert parallelism",
                     "sparsity", "gating"),
    "training": ("pre-training", "scaling laws", "optimizer", "learning rate", "training stability",
                 "memory-efficient training", "gradient", "batch size"),
    "fine-tuning": ("fine-tuning", "LoRA", "instruction tuning", "adapters", "parameter-efficient",
                    "PEFT", "supervised fine-tuning", "low-rank"),
    "alignment-safety": ("alignment", "RLHF", "safety", "jailbreak", "reward model", "preference",
                         "red teaming", "harmlessness"),
    "evaluation": ("benchmark", "evaluation", "leaderboard", "metrics", "contamination", "judge",
                   "human evaluation", "test set"),
    "retrieval-rag": ("retrieval", "RAG", "retrieval-augmented generation", "dense retrieval",
                      "reranking", "knowledge base", "embeddings", "search"),
    "agents-tools": ("agents", "tool use", "planning", "web agents", "function calling", "multi-agent",
                     "environment", "API"),
    "reasoning": ("reasoning", "chain-of-thought", "mathematical reasoning", "self-consistency",
                  "verifier", "step-by-step", "logical reasoning", "test-time compute"),
    "multimodal": ("vision-language", "multimodal", "image", "video", "visual question answering",
                   "diffusion", "audio", "vision encoder"),
    "multilingual": ("multilingual", "low-resource languages", "translation", "cross-lingual",
                     "language transfer", "tokenizer", "code-switching", "dialects"),
    "code": ("code generation", "program synthesis", "software engineering", "code", "repository",
             "unit tests", "debugging", "compiler"),
    "data": ("dataset", "data curation", "synthetic data", "data quality", "deduplication",
             "annotation", "data mixture", "filtering"),
    "interpretability": ("interpretability", "probing", "sparse autoencoders", "circuits", "features",
                         "attribution", "mechanistic", "neurons"),
    "surveys": ("survey", "overview", "taxonomy", "literature review", "open problems", "tutorial",
                "position paper", "systematic review"),
}
TOPIC_SLUGS = tuple(TOPIC_WORDS)
# How often each topic is a paper's primary one: a few big topics, a long tail, like arXiv.
TOPIC_WEIGHTS = (6, 9, 6, 4, 9, 8, 7, 8, 7, 7, 10, 9, 3, 5, 5, 4, 2)

# Frequency-ranked vocabulary (most frequent first), drawn with Zipf weights.
ADJECTIVES = (
    "large", "efficient", "novel", "robust", "scalable", "simple", "effective", "general",
    "adaptive", "lightweight", "unified", "hierarchical", "sparse", "dense", "multimodal",
    "zero-shot", "few-shot", "open", "reliable", "faithful", "compositional", "contrastive",
    "self-supervised", "autoregressive", "differentiable", "modular", "structured", "causal",
    "probabilistic", "interpretable", "low-rank", "memory-efficient", "parameter-efficient",
    "hardware-aware", "data-efficient", "long-horizon", "fine-grained", "cross-modal", "iterative",
    "asynchronous", "decentralized", "federated", "Bayesian", "geometric", "spectral", "stochastic",
    "calibrated", "verifiable", "grounded", "emergent",
)
NOUNS = (
    "model", "language model", "transformer", "method", "framework", "approach", "attention",
    "network", "architecture", "representation", "policy", "agent", "benchmark", "dataset",
    "objective", "algorithm", "encoder", "decoder", "tokenizer", "embedding", "layer", "head",
    "prompt", "reward", "loss", "optimizer", "gradient", "cache", "memory", "retriever", "planner",
    "verifier", "critic", "router", "adapter", "kernel", "scheduler", "pipeline", "graph", "corpus",
    "distribution", "baseline", "ensemble", "curriculum", "schedule", "vocabulary", "latent space",
    "state space model", "diffusion model", "world model", "reward model", "student", "teacher",
    "activation", "feature", "circuit", "neuron", "manifold", "trajectory", "simulator",
)
TASKS = (
    "question answering", "text generation", "reasoning", "summarization", "code generation",
    "machine translation", "instruction following", "image captioning", "retrieval", "planning",
    "classification", "dialogue", "theorem proving", "information extraction", "speech recognition",
    "video understanding", "table understanding", "entity linking", "program repair",
    "molecule design", "protein folding", "time series forecasting", "recommendation",
    "semantic parsing", "fact verification", "document understanding", "navigation",
)
VERBS = (
    "improves", "reduces", "outperforms", "enables", "achieves", "matches", "accelerates",
    "stabilizes", "generalizes", "scales", "compresses", "aligns", "extends", "recovers",
    "preserves", "identifies", "mitigates", "exploits", "simplifies", "unifies",
)
METRICS = (
    "accuracy", "perplexity", "latency", "throughput", "F1", "win rate", "pass@1", "BLEU",
    "memory footprint", "exact match", "calibration error", "energy consumption", "ROUGE-L",
)
DATASETS = (
    "MMLU", "GSM8K", "HumanEval", "MATH", "ImageNet", "C4", "The Pile", "LongBench", "MT-Bench",
    "TruthfulQA", "HellaSwag", "ARC", "SWE-bench", "BIG-Bench", "WMT", "Natural Questions",
    "HotpotQA", "MBPP", "RULER", "AlpacaEval", "COCO", "VQAv2", "FLORES-200", "WebArena",
)
FILLER = (
    "across", "diverse", "settings", "while", "maintaining", "strong", "performance", "existing",
    "methods", "often", "fail", "under", "realistic", "conditions", "significant", "gains",
    "computational", "cost", "extensive", "experiments", "demonstrate", "state-of-the-art",
    "results", "analysis", "reveals", "key", "insights", "into", "behavior", "training",
    "inference", "downstream", "tasks", "scale", "parameters", "tokens", "budget", "quality",
    "trade-off", "empirical", "theoretical", "guarantees", "limitations", "future", "work",
    "open-source", "release", "code", "weights", "practical", "deployment", "real-world",
    "applications", "remains", "challenging", "problem", "address", "gap", "leveraging",
    "insight", "observation", "phenomenon", "surprisingly", "consistently", "substantially",
)
# Pieces of invented method names: "FlashMoE", "QuaRot-2", "SparseLoRA": the long tail.
NAME_HEADS = (
    "Flash", "Quick", "Sparse", "Deep", "Meta", "Hyper", "Omni", "Uni", "Mega", "Nano", "Lite",
    "Auto", "Self", "Co", "Re", "Multi", "Poly", "Quant", "Prune", "Long", "Mem", "Rope", "Star",
    "Sky", "Aqua", "Zen", "Neo", "Tera", "Vox", "Pix", "Lingo", "Logi", "Mind", "Chain", "Tree",
    "Graph", "Orca", "Falcon", "Lynx", "Otter", "Panda", "Koala", "Heron", "Raven", "Wren",
)
NAME_TAILS = (
    "MoE", "LoRA", "Attn", "Former", "Net", "GPT", "BERT", "Diff", "Quant", "Prune", "Cache",
    "Mamba", "RAG", "Agent", "Bench", "Coder", "Math", "Vision", "Tune", "Align", "Guard", "Scope",
    "Mix", "Fuse", "Route", "Scale", "Spec", "Draft", "Probe", "Lens", "Zip", "Stream", "Forge",
)
NAME_SYLLABLES = ("ka", "ri", "to", "ve", "lu", "ne", "zo", "qua", "mi", "sa", "tor", "lex",
                  "dra", "phi", "xen", "bo", "cy", "ul", "gen", "vi")

FIRST_NAMES = (
    "Wei", "Yang", "Jing", "Li", "Hao", "Xin", "Yu", "Min", "Jun", "Chen", "Anna", "Maria", "David",
    "Michael", "Sarah", "Daniel", "Laura", "Thomas", "Elena", "Ahmed", "Fatima", "Priya", "Rahul",
    "Arjun", "Kenji", "Yuki", "Hiroshi", "Sofía", "José", "Zoë", "François", "Jürgen", "Søren",
    "Ingrid", "Olga", "Dmitri", "Mehmet", "Ayşe", "Kwame", "Amara", "Lucas", "Noah", "Emma", "Mia",
    "Oliver", "Chloé", "Mateo", "Nadia", "Omar", "Leila", "Tomás", "Ana", "Pedro", "Ji-woo",
    "Seo-yeon", "Minh", "Thanh", "Siddharth", "Ananya", "Ivan",
)
LAST_NAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Zhu", "Hu", "Guo", "He", "Lin", "Kim", "Lee", "Park", "Choi", "Nguyen", "Tran", "Sato",
    "Suzuki", "Tanaka", "Smith", "Johnson", "Brown", "Garcia", "Martínez", "Müller", "Schmidt",
    "Schäfer", "Dubois", "Lefèvre", "Rossi", "Bianchi", "Kowalski", "Nowak", "Ivanov", "Petrov",
    "Singh", "Kumar", "Sharma", "Patel", "Gupta", "Iyer", "Reddy", "Khan", "Ali", "Hassan",
    "Yılmaz", "Öztürk", "Andersen", "Nielsen", "Johansson", "O'Brien", "Murphy", "Silva",
    "Santos", "Oliveira", "Cohen", "Levi", "Okafor", "Mensah", "Novak", "Horváth", "Papadopoulos",
)

SOURCE_FORMATS = ("capture", "html", "hf", "arxiv")
SOURCE_FILES = {"capture": "captures/{}.txt", "html": "saved/{}.html", "hf": "hf/{}.json",
                "arxiv": "arxiv/{}.xml"}


def _zipf(count: int, exponent: float = 1.0) -> list[float]:
    """Cumulative Zipf weights for `count` ranked items, for `random.choices(cum_weights=...)`."""
    return list(accumulate(1.0 / (rank ** exponent) for rank in range(1, count + 1)))


_WEIGHTS = {id(words): _zipf(len(words)) for words in (ADJECTIVES, NOUNS, TASKS, VERBS, METRICS, DATASETS,
                                                         FILLER, FIRST_NAMES, LAST_NAMES)}
_TOPIC_CUM = list(accumulate(TOPIC_WEIGHTS))
# Rare words: the long tail of a real corpus (names, jargon, numbers). Heaps' law then holds:
# 100,000 abstracts have over 100,000 distinct words, most of them in one or two papers.
TAIL_RANKS = 200_000
TAIL_SHARE = 0.3
_TAIL_CUM = _zipf(TAIL_RANKS)


def _pick(rng: random.Random, words: Sequence[str], k: int = 1) -> list[str]:
    return rng.choices(words, cum_weights=_WEIGHTS[id(words)], k=k)


def _one(rng: random.Random, words: Sequence[str]) -> str:
    # random.choices for one item, minus its argument checks: this runs 40 times a paper.
    cumulative = _WEIGHTS[id(words)]
    return words[bisect(cumulative, rng.random() * cumulative[-1])]


def _tail_word(rng: random.Random) -> str:
    """A word from the long tail: rank r (Zipf-drawn) spelled in syllables, one word per rank."""
    rank = bisect(_TAIL_CUM, rng.random() * _TAIL_CUM[-1]) + len(NAME_SYLLABLES)
    syllables = []
    while rank:
        rank, digit = divmod(rank, len(NAME_SYLLABLES))
        syllables.append(NAME_SYLLABLES[digit])
    return "".join(syllables)


def _method_name(rng: random.Random) -> str:
    """An invented method name; the syllable forms are rare enough to be one-paper words."""
    style = rng.random()
    if style < 0.45:
        return rng.choice(NAME_HEADS) + rng.choice(NAME_TAILS)
    if style < 0.75:
        return (rng.choice(NAME_SYLLABLES) + rng.choice(NAME_SYLLABLES)).capitalize() + rng.choice(NAME_TAILS)
    if style < 0.9:
        return "".join(rng.choice(NAME_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
    return f"{rng.choice(NAME_HEADS)}{rng.choice(NAME_TAILS)}-{rng.randint(1, 9)}"


def _title(rng: random.Random, name: str, topic_phrase: str, survey: bool) -> str:
    adj, noun, task = _one(rng, ADJECTIVES), _one(rng, NOUNS), _one(rng, TASKS)
    phrase = topic_phrase if topic_phrase[:1].isupper() else topic_phrase.title()
    if survey:
        return rng.choice((f"A Survey of {phrase} for {task.title()}",
                           f"{phrase} in {noun.title()}s: A Survey",
                           f"A Systematic Review of {adj.title()} {phrase}"))
    forms = (
        f"{name}: {adj.title()} {phrase} for {task.title()}",
        f"{adj.title()} {noun.title()}s via {phrase}",
        f"Towards {adj.title()} {task.title()} with {phrase}",
        f"On the {noun.title()} of {adj.title()} {phrase}",
        f"{name}: Scaling {phrase} to {adj.title()} {noun.title()}s",
        f"{phrase} Is All You Need for {task.title()}",
        f"Rethinking {phrase} in {adj.title()} {noun.title()}s",
        f"{name}: {adj.title()} and {_one(rng, ADJECTIVES).title()} {noun.title()}s for {phrase}",
    )
    return rng.choice(forms)


def _abstract(rng: random.Random, name: str, topic_words: Sequence[str]) -> str:
    def filler(k: int) -> str:
        return " ".join(_tail_word(rng) if rng.random() < TAIL_SHARE else word for word in _pick(rng, FILLER, k))

    def topic() -> str:
        return rng.choice(topic_words)

    sentences = [
        f"{_one(rng, ADJECTIVES).capitalize()} {_one(rng, NOUNS)}s have shown {filler(2)} on "
        f"{_one(rng, TASKS)}, yet {topic()} remains {filler(3)}.",
        f"Existing {_one(rng, NOUNS)}s {_one(rng, VERBS).removesuffix('s')} {_one(rng, NOUNS)} only "
        f"{filler(rng.randint(2, 6))}.",
        f"We propose {name}, a {_one(rng, ADJECTIVES)} {_one(rng, NOUNS)} that {_one(rng, VERBS)} "
        f"{topic()} for {_one(rng, TASKS)}.",
        f"{name} {_one(rng, VERBS)} the {_one(rng, NOUNS)} with a {_one(rng, ADJECTIVES)} "
        f"{_one(rng, NOUNS)} and {filler(rng.randint(3, 8))}.",
    ]
    for _ in range(rng.randint(1, 4)):
        sentences.append(
            f"Unlike prior {_one(rng, NOUNS)}s, our {_one(rng, NOUNS)} {_one(rng, VERBS)} "
            f"{_one(rng, ADJECTIVES)} {topic()} {filler(rng.randint(4, 12))}.")
    if rng.random() < 0.3:
        sentences.append(f"We also introduce {_method_name(rng)}, a {_one(rng, NOUNS)} of "
                         f"{rng.randint(2, 900)}K {_one(rng, TASKS)} examples.")
    sentences.append(
        f"On {_one(rng, DATASETS)} and {_one(rng, DATASETS)}, {name} {_one(rng, VERBS)} "
        f"{_one(rng, METRICS)} by {rng.randint(2, 60)}.{rng.randint(0, 9)}% over "
        f"{_one(rng, ADJECTIVES)} baselines {filler(rng.randint(2, 6))}.")
    if rng.random() < 0.5:
        sentences.append(f"Code is available at https://github.com/{slugify(name)}/{slugify(name)}.")
    return " ".join(sentences)


def _authors(rng: random.Random) -> list[str]:
    count = min(int(rng.paretovariate(1.3)) + 1, 40)
    return [f"{_one(rng, FIRST_NAMES)} {_one(rng, LAST_NAMES)}" for _ in range(count)]


def _topics(rng: random.Random) -> list[str]:
    primary = rng.choices(TOPIC_SLUGS, cum_weights=_TOPIC_CUM)[0]
    topics = [primary]
    for _ in range(rng.choices((0, 1, 2), weights=(5, 4, 1))[0]):
        extra = rng.choices(TOPIC_SLUGS, cum_weights=_TOPIC_CUM)[0]
        if extra not in topics:
            topics.append(extra)
    return topics


def listing_date(index: int) -> dt.date:
    """Paper `index` (0 = newest) is listed `index // PAPERS_PER_DAY` days before END_DATE."""
    return END_DATE - dt.timedelta(days=index // PAPERS_PER_DAY)


def synthetic_paper(index: int, seed: int = SEED) -> Paper:
    """Paper number `index` of the corpus for `seed`; its slug is the plain title slug."""
    rng = random.Random(seed * 1_000_003 + index)
    date = listing_date(index)
    topics = _topics(rng)
    topic_words = TOPIC_WORDS[topics[0]]
    name = _method_name(rng)
    title = _title(rng, name, rng.choice(topic_words), survey=topics[0] == "surveys")
    # arXiv numbers papers per month; five digits since 2015.
    arxiv_id = f"{date:%y%m}.{(date.day - 1) * PAPERS_PER_DAY + index % PAPERS_PER_DAY + 1:05d}"
    formats = sorted(set(rng.choices(SOURCE_FORMATS, weights=(4, 2, 3, 2), k=rng.choice((1, 1, 1, 2)))),
                     key=SOURCE_FORMATS.index)
    sources = [SourceRef(fmt, SOURCE_FILES[fmt].format(date.isoformat()), date) for fmt in formats]
    upvotes = int(rng.paretovariate(1.1) * 2) if "hf" in formats else None
    return Paper(
        title=title,
        date=date,
        abstract=_abstract(rng, name, topic_words),
        authors=_authors(rng),
        arxiv_id=arxiv_id,
        topics=topics,
        upvotes=upvotes,
        links={"arxiv": f"https://arxiv.org/abs/{arxiv_id}", "pdf": f"https://arxiv.org/pdf/{arxiv_id}"},
        sources=sources,
        position=index % PAPERS_PER_DAY + 1,
        slug=slugify(title),
    )


def _unique_slug(slug: str, arxiv_id: str, seen: set[str]) -> str:
    """Two papers may share a title; the later one's slug gets its arXiv number, as a store would."""
    if slug in seen:
        slug = f"{slug[:70]}-{arxiv_id.replace('.', '')}"
    seen.add(slug)
    return slug


def synthetic_papers(count: int, seed: int = SEED) -> Iterator[Paper]:
    """The first `count` papers, newest first, with unique slugs."""
    seen: set[str] = set()
    for index in range(count):
        paper = synthetic_paper(index, seed)
        paper.slug = _unique_slug(paper.slug, paper.arxiv_id or "", seen)
        yield paper


def _yaml_text(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar, and json.dumps is C-fast.
    return json.dumps(value, ensure_ascii=False)


def paper_file_text(paper: Paper) -> str:
    """The store file for a synthetic paper, formatted directly instead of through PyYAML.

    `ContentStore.load` reads it back as the same `Paper` (tests/test_synthetic.py checks);
    writing YAML by hand is what makes 100,000 papers take seconds instead of a minute.
    """
    lines = ["---", f"title: {_yaml_text(paper.title)}", f"date: {paper.date.isoformat()}", "authors:"]
    lines += [f"- {_yaml_text(author)}" for author in paper.authors]
    lines.append(f"arxiv_id: {_yaml_text(paper.arxiv_id)}" if paper.arxiv_id else "arxiv_id: null")
    lines.append("topics:")
    lines += [f"- {topic}" for topic in paper.topics]
    lines.append(f"upvotes: {paper.upvotes if paper.upvotes is not None else 'null'}")
    lines.append("links:")
    lines += [f"  {name}: {_yaml_text(url)}" for name, url in paper.links.items()]
    lines.append("sources:")
    for source in paper.sources:
        lines += [f"- format: {source.format}", f"  file: {_yaml_text(source.file)}",
                  f"  seen: {source.seen.isoformat()}"]
    lines.append(f"position: {paper.position}")
    lines.append("---")
    return "\n".join(lines) + f"\n\n{paper.abstract}\n"


# Papers per unit of work handed to a worker process.
_CHUNK = 2_000


def _rendered_chunk(job: tuple[int, int, int]) -> list[tuple[str, str, str, str]]:
    """Papers [start, stop) as (date folder, slug, arXiv id, file text): what a worker sends back."""
    start, stop, seed = job
    rendered = []
    for index in range(start, stop):
        paper = synthetic_paper(index, seed)
        rendered.append((paper.date.isoformat(), paper.slug, paper.arxiv_id or "", paper_file_text(paper)))
    return rendered


def write_corpus(content_dir: Path, count: int, seed: int = SEED) -> int:
    """Write the first `count` synthetic papers into a content store; returns how many.

    Generating is pure CPU, so above one chunk it runs in one worker process per core while
    this process names and writes files in index order (slugs stay deterministic). Files are
    written directly, not through write_atomic: a benchmark corpus is disposable, and a
    rename per file would double the time. The store must be new or hold an earlier
    synthetic corpus.
    """
    papers_dir = ContentStore(Path(content_dir)).papers_dir
    jobs = [(start, min(start + _CHUNK, count), seed) for start in range(0, count, _CHUNK)]
    seen: set[str] = set()
    made: set[str] = set()
    written = 0
    with ExitStack() as stack:
        if len(jobs) > 1:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(os.cpu_count()))
            chunks: Iterable[list[tuple[str, str, str, str]]] = pool.imap(_rendered_chunk, jobs)
        else:
            chunks = map(_rendered_chunk, jobs)
        for chunk in chunks:
            for folder, slug, arxiv_id, text in chunk:
                if folder not in made:
                    (papers_dir / folder).mkdir(parents=True, exist_ok=True)
                    made.add(folder)
                name = _unique_slug(slug, arxiv_id, seen)
                (papers_dir / folder / f"{name}.md").write_text(text, encoding="utf-8")
                written += 1
    return written


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python bench/synthetic.py DIR N", file=sys.stderr)
        return 2
    started = time.perf_counter()
    written = write_corpus(Path(argv[0]), int(argv[1]))
    print(f"wrote {written:,} synthetic papers into {argv[0]} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
