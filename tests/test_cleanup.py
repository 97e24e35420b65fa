"""LaTeX remnants in abstracts become the text they typeset to; unknown macros stay readable."""

import pytest
from hypothesis import given, strategies as st

from paperroute.cleanup import clean_abstract


@pytest.mark.parametrize(
    "raw, clean",
    [
        (r"improves accuracy by 12\% on", "improves accuracy by 12% on"),
        (r"outperforms {\tt GPT-3.5} on", "outperforms GPT-3.5 on"),
        (r"a {\em specialized} model", "a specialized model"),
        (r"on {\sc MwpBench} we", "on MwpBench we"),
        (r"code at \url{https://github.com/x/y}.", "code at https://github.com/x/y."),
        ('a na\\"ive RAG baseline', "a naïve RAG baseline"),
        (r"Q\&A pairs", "Q&A pairs"),
        (r"we call it \ours, and \ourMethod wins", r"we call it \ours, and \ourMethod wins"),
        (r"S^{2}FT saves memory", "S²FT saves memory"),
        (r"ranks 3^{rd} on", "ranks 3rd on"),
        (r"$\texttt{metabench}$ is", "metabench is"),
        (r"text prompts (\eg tasks)", "text prompts (e.g. tasks)"),
        (r"{\epsilon}-ambiguous", "ε-ambiguous"),
        ("progress.~Working", "progress. Working"),
        ("about ~10% fewer", "about ~10% fewer"),
        ("costs $5 and $10 a run", "costs $5 and $10 a run"),
        (r"\'{e}t\'e and \c{c}a", "été and ça"),
        (r"\textbf{bold} and \emph{em}", "bold and em"),
    ],
)
def test_known_remnants_become_text(raw, clean):
    assert clean_abstract(raw) == clean


def test_plain_text_is_unchanged():
    text = "Large language models (LLMs) reach 95.3 BLEU on En-Ja; see Table 2 {a, b}."
    assert clean_abstract(text) == text


@given(st.text())
def test_never_raises_and_is_stable(text):
    once = clean_abstract(text)
    assert isinstance(once, str)
