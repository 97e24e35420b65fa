"""Composing the digest: MIME structure and headers read back with `email`, filters, the
subscribers file, hostile text, and the HTML part in a real Chromium (narrow and dark)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re
import shutil
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from conftest import make_paper
from paperroute.config import DigestConfig, SiteConfig
from paperroute.corpus import build_corpus
from paperroute.digest.compose import DigestEdition
from paperroute.digest.subscribers import DaySelector, Subscriber, parse_subscribers
from paperroute.errors import InputError
from paperroute.model import Paper, Topic
from paperroute.render import TEMPLATES_DIR

DAY = dt.date(2026, 3, 12)
TAXONOMY = [Topic("long-context", "Long context"), Topic("code", "Code"), Topic("training", "Training")]
SITE = SiteConfig(title="paperroute", base_url="https://papers.example.org/daily/")
SETTINGS = DigestConfig(sender="paperroute <digest@papers.example.org>", unsubscribe_mailto="leave@papers.example.org",
                        unsubscribe_url="https://papers.example.org/unsubscribe?email={email}")


def paper(title: str, topics: list[str], abstract: str = "", **fields) -> Paper:
    from paperroute.text import slugify

    return make_paper(title, DAY, topics=topics, abstract=abstract or f"The abstract of {title}.",
                      slug=slugify(title), **fields)


def day_papers() -> list[Paper]:
    papers = [
        paper("Ring Attention for Million-Token Context", ["long-context"], upvotes=40,
              authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]),
        paper("A Code Model That Writes Tests", ["code", "training"], upvotes=12, authors=["Grace Hopper"]),
        paper("Scaling Laws Revisited", ["training"], abstract="We revisit scaling laws for storage systems."),
        paper("Retrieval for Long-Context Question Answering", ["long-context", "code"],
              abstract="RAG-based retrieval helps long context models."),
        paper("A Survey of Code Generation", ["code"], abstract="A survey of program synthesis."),
    ]
    return build_corpus(papers, TAXONOMY).days[0].papers


def edition(papers: list[Paper] | None = None, **settings) -> DigestEdition:
    papers = day_papers() if papers is None else papers
    return DigestEdition(DAY, papers, TAXONOMY, SITE, dataclasses.replace(SETTINGS, **settings))


def received(digest: DigestEdition, subscriber: Subscriber, papers: list[Paper]) -> EmailMessage:
    """What a receiving client sees: the wire bytes parsed back by the stdlib."""
    return email.message_from_bytes(digest.render(subscriber, papers), policy=email.policy.default)


def parts(message: EmailMessage) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


READER = Subscriber("reader@example.org")


# ---------------------------------------------------------------- structure and headers


def test_multipart_alternative_with_text_then_html():
    papers = day_papers()
    raw = edition(papers).render(READER, papers)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    assert all(part["Content-Transfer-Encoding"] == "quoted-printable" for part in message.iter_parts())
    # CRLF line ends only, as SMTP and .eml files want, and no line longer than RFC 5322 allows.
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable's limit
    # compose() is the same message as an object.
    assert edition(papers).compose(READER, papers).as_bytes() == raw


def test_headers():
    papers = day_papers()
    message = received(edition(papers), READER, papers)
    assert message["From"].addresses[0].addr_spec == "digest@papers.example.org"
    assert message["To"] == "reader@example.org"
    assert message["Subject"] == "paperroute digest 2026-03-12: 5 papers"
    assert message["Date"].datetime == dt.datetime(2026, 3, 12, tzinfo=dt.timezone.utc)
    assert re.fullmatch(r"<digest\.2026-03-12\.[0-9a-f]{24}@papers\.example\.org>", message["Message-ID"])
    assert message["List-Unsubscribe"] == ("<mailto:leave@papers.example.org?subject=unsubscribe%20reader%40example.org>, "
                                          "<https://papers.example.org/unsubscribe?email=reader%40example.org>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "paperroute digest <digest.papers.example.org>"
    # Nothing about the subscriber's address in the Message-ID.
    assert "reader" not in message["Message-ID"]


def test_message_id_is_stable_per_day_and_subscriber():
    papers = day_papers()
    first = edition(papers).compose(READER, papers)
    again = edition(papers).compose(Subscriber("Reader@Example.org"), papers[:2])
    other_reader = edition(papers).compose(Subscriber("other@example.org"), papers)
    next_day = DigestEdition(DAY + dt.timedelta(days=1), papers, TAXONOMY, SITE, SETTINGS).compose(READER, papers)
    assert first["Message-ID"] == again["Message-ID"]
    assert len({first["Message-ID"], other_reader["Message-ID"], next_day["Message-ID"]}) == 3


def test_the_same_day_composes_byte_identical_messages():
    papers = day_papers()
    assert edition(papers).render(READER, papers) == edition(papers).render(READER, papers)


def test_one_click_header_only_with_an_https_unsubscribe_url():
    papers = day_papers()
    message = edition(papers, unsubscribe_url="http://127.0.0.1:8000/unsubscribe?email={email}").compose(READER, papers)
    assert "List-Unsubscribe-Post" not in message
    assert "<http://127.0.0.1:8000/unsubscribe?email=reader%40example.org>" in message["List-Unsubscribe"]


def test_a_long_unsubscribe_url_stays_one_readable_header():
    """The stdlib would fold a long URL into an RFC 2047 encoded-word no client decodes there."""
    papers = day_papers()
    url = "https://papers.example.org/lists/daily-digest/unsubscribe/one-click?token=" + "a" * 80 + "&email={email}"
    raw = edition(papers, unsubscribe_url=url).render(READER, papers)
    header = next(line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:"))
    assert b"=?utf-8?" not in header and b"token=" + b"a" * 80 in header


def test_the_unsubscribe_url_defaults_to_one_on_the_site():
    """Unset, it is <base_url>unsubscribe?email=...: one-click on an https site, plain on http."""
    papers = day_papers()
    assert DigestConfig().unsubscribe_url == ""
    message = received(edition(papers, unsubscribe_url=""), READER, papers)
    assert message["List-Unsubscribe"].endswith(", <https://papers.example.org/daily/unsubscribe?email=reader%40example.org>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    local = DigestEdition(DAY, papers, TAXONOMY, SiteConfig(), dataclasses.replace(SETTINGS, unsubscribe_url=""))
    message = received(local, READER, papers)
    assert message["List-Unsubscribe"].endswith(", <http://127.0.0.1:8000/unsubscribe?email=reader%40example.org>")
    assert "List-Unsubscribe-Post" not in message


@pytest.mark.parametrize("url, site_url, error", [
    ("https://papers.example.org/unsubscribe", "https://papers.example.org/", "has no {email}"),
    ("https://papers.example.org/u?e={email}>, <https://evil.example/", "https://papers.example.org/", "not an http(s) URL"),
    ('https://papers.example.org/u?e="{email}"', "https://papers.example.org/", "not an http(s) URL"),
    ("mailto:leave@papers.example.org?subject={email}", "https://papers.example.org/", "not an http(s) URL"),
    ("", "https://papers.example.org/my papers/", "made from site.base_url"),
])
def test_an_unsubscribe_url_must_name_the_subscriber_and_stay_inside_its_brackets(url, site_url, error):
    with pytest.raises(InputError, match=re.escape(error)):
        DigestEdition(DAY, day_papers(), TAXONOMY, dataclasses.replace(SITE, base_url=site_url),
                      dataclasses.replace(SETTINGS, unsubscribe_url=url))


def test_an_address_with_url_and_html_specials_is_quoted_in_links_and_escaped_in_html():
    address = "o'brien&co+x=y@example.org"
    quoted = "o%27brien%26co%2Bx%3Dy%40example.org"
    papers = day_papers()
    message = received(edition(papers), Subscriber(address), papers)
    assert message["To"] == address
    assert message["List-Unsubscribe"] == (f"<mailto:leave@papers.example.org?subject=unsubscribe%20{quoted}>, "
                                          f"<https://papers.example.org/unsubscribe?email={quoted}>")
    text, html = parts(message)
    soup = BeautifulSoup(html, "html.parser")
    link = soup.find("a", string="Unsubscribe")["href"]
    assert link == f"https://papers.example.org/unsubscribe?email={quoted}"
    assert parse_qs(urlsplit(link).query) == {"email": [address]}
    assert f"because {address} subscribed" in soup.find(class_="footer").get_text()
    assert "o&#39;brien&amp;co+x=y@example.org" in html  # the HTML source, escaped
    assert f"You get this digest because {address} subscribed" in text
    assert f"Unsubscribe: https://papers.example.org/unsubscribe?email={quoted}" in text


def test_subscribers_sharing_a_frame_each_get_their_own_address_only():
    papers = day_papers()
    digest = edition(papers)
    first, second = Subscriber("first@example.org"), Subscriber("second@example.org")
    assert digest.frame_key(first, papers) == digest.frame_key(second, papers)
    one, two = digest.render(first, papers), digest.render(second, papers)
    assert digest.render(first, papers) == one
    # Another edition that renders them the other way round gives the same bytes.
    other = edition(papers)
    assert (other.render(second, papers), other.render(first, papers)) == (two, one)
    for part_one, part_two in zip(parts(email.message_from_bytes(one, policy=email.policy.default)),
                                  parts(email.message_from_bytes(two, policy=email.policy.default))):
        assert "second" not in part_one and part_one.replace("first", "second") == part_two


def test_filters_with_markup_are_text_in_the_footer():
    hostile = Subscriber("reader@example.org", keywords=('<script>alert("k")</script>', "a&b"))
    message = received(edition(send_empty=True), hostile, [])
    text, html = parts(message)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None
    assert 'with keywords "<script>alert("k")</script>", "a&b".' in soup.find(class_="footer").get_text()
    assert 'with keywords "<script>alert("k")</script>", "a&b".' in " ".join(text.split())


# ---------------------------------------------------------------- body


def test_papers_grouped_by_topic_with_absolute_links():
    papers = day_papers()
    text, html = parts(received(edition(papers), READER, papers))
    soup = BeautifulSoup(html, "html.parser")
    sections = [h2.a.get_text() for h2 in soup.find_all("h2")]
    assert sections == ["Long context", "Code", "Training"]  # taxonomy order
    links = [a["href"] for a in soup.select("h3 a")]
    assert links[0] == "https://papers.example.org/daily/papers/ring-attention-for-million-token-context/"
    assert len(links) == 5 and all(link.startswith("https://papers.example.org/daily/papers/") for link in links)
    assert soup.find("h2").a["href"] == "https://papers.example.org/daily/topics/long-context/"
    # Upvotes and authors, the long author list cut short.
    first_meta = soup.select("p.meta")[0].get_text(" ", strip=True)
    assert first_meta == "▲ 40 · Ada Lovelace, Alan Turing, Grace Hopper, Edsger Dijkstra and 1 more"
    # The text part: the same sections in the same order, each paper with its link.
    headings = [line for line in text.splitlines() if re.fullmatch(r"[A-Z ]+ \(\d+\)", line)]
    assert headings == ["LONG CONTEXT (2)", "CODE (2)", "TRAINING (1)"]
    assert text.index("Ring Attention") < text.index("https://papers.example.org/daily/papers/ring-attention")
    assert "40 upvotes - Ada Lovelace" in text


def test_view_in_browser_and_unsubscribe_are_visible_in_both_parts():
    papers = day_papers()
    text, html = parts(received(edition(papers), READER, papers))
    soup = BeautifulSoup(html, "html.parser")
    day_url = "https://papers.example.org/daily/days/2026-03-12/"
    assert soup.find("a", string="View in browser")["href"] == day_url
    assert soup.find("a", string="Unsubscribe")["href"] == "https://papers.example.org/unsubscribe?email=reader%40example.org"
    assert f"View in your browser: {day_url}" in text
    assert "Unsubscribe: https://papers.example.org/unsubscribe?email=reader%40example.org" in text


def test_a_subscriber_with_topics_sees_papers_under_the_topic_they_asked_for():
    papers = day_papers()
    coder = Subscriber("coder@example.org", topics=("code",))
    chosen = DaySelector(papers).select(coder)
    _, html = parts(received(edition(papers), coder, chosen))
    soup = BeautifulSoup(html, "html.parser")
    # "Retrieval for Long-Context ..." is primarily long-context, but this reader asked for code.
    assert [h2.a.get_text() for h2 in soup.find_all("h2")] == ["Code"]
    assert "3 of the day’s 5 papers, chosen by your filters, in 1 topic." in soup.find(class_="lede").get_text()
    assert "with topics Code" in soup.find(class_="footer").get_text()


def test_a_long_day_lists_the_first_papers_and_links_to_the_rest():
    papers = day_papers()
    message = received(edition(papers, max_papers=2), READER, papers)
    text, html = parts(message)
    soup = BeautifulSoup(html, "html.parser")
    assert message["Subject"] == "paperroute digest 2026-03-12: 5 papers"
    assert len(soup.select("h3 a")) == 2
    more = soup.find(class_="more").a
    assert more.get_text() == "3 more papers on the day’s page"
    assert more["href"] == "https://papers.example.org/daily/days/2026-03-12/"
    assert "3 more papers on the day's page: https://papers.example.org/daily/days/2026-03-12/" in text
    assert "in 3 topics" in soup.find(class_="lede").get_text()  # of all five, not of the two shown


def test_an_empty_selection_says_so_when_empty_digests_are_sent():
    papers = day_papers()
    message = received(edition(papers, send_empty=True), Subscriber("x@example.org", keywords=("quantum",)), [])
    text, html = parts(message)
    assert message["Subject"] == "paperroute digest 2026-03-12: 0 papers"
    assert "None of the day's papers matched your filters." in text
    assert BeautifulSoup(html, "html.parser").find(class_="empty") is not None


def test_css_is_inlined_and_nothing_remote_is_referenced():
    papers = day_papers()
    _, html = parts(received(edition(papers), READER, papers))
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("link") is None and soup.find("img") is None and soup.find("script") is None
    # Every card (inlined once a day, spliced in per message) sits in the section cell, in order.
    assert [a.get_text() for a in soup.select("td.section > div.paper > h3 > a")] == [p.title for p in [
        papers[0], papers[3], papers[1], papers[2], papers[4]]]
    assert "padding" in soup.find("div", class_="paper")["style"]
    assert "color: #1f4e8c" in soup.select_one("h3 a")["style"]
    # What stays in <style> is only what cannot be inlined: the dark-mode and narrow-screen rules.
    kept = " ".join(style.get_text() for style in soup.find_all("style"))
    assert "@media (prefers-color-scheme: dark)" in kept and "@media (max-width: 480px)" in kept
    assert re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", kept).strip() == ""
    assert len(re.findall(r"(?:src|href)=", html)) == len(re.findall(r'href="https://papers\.example\.org/', html))


# ---------------------------------------------------------------- hostile text


HOSTILE_TITLE = ('</a><script>alert("t")</script><img src=x onerror=alert(1)> Attention\r\n'
                 'Bcc: victim@example.net\r\n\r\n--=_boundary & friends')
HOSTILE_ABSTRACT = "<iframe src=https://evil.example></iframe> We show <b>that</b>\x00 & \u2028it works."


def test_hostile_titles_are_text_in_both_parts_and_never_reach_a_header():
    evil = paper(HOSTILE_TITLE, ["code"], abstract=HOSTILE_ABSTRACT, authors=["<Mallory> \r\nX-Injected: 1"])
    papers = build_corpus([evil, *day_papers()], TAXONOMY).days[0].papers
    boundary = re.search(r'boundary="([^"]+)"', edition(papers).compose(READER, papers)["Content-Type"]).group(1)
    # An abstract that knows this reader's boundary (it is derived from day and address) and
    # tries to close the part with it, on a line of its own.
    evil.abstract = f"{HOSTILE_ABSTRACT}\n\n--{boundary}\nContent-Type: text/html\n\n<script>x()</script>\n--{boundary}--"
    raw = edition(papers).render(READER, papers)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    # Headers: exactly the ones composed, each on one line.
    assert sorted(message.keys()) == sorted(["From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                                             "List-Unsubscribe-Post", "Auto-Submitted", "MIME-Version", "Content-Type"])
    assert "Bcc" not in message and "X-Injected" not in message
    # MIME: still exactly two parts; the title's "--=_boundary" did not close one.
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and soup.find("img") is None and soup.find("iframe") is None
    assert not any(attr.startswith("on") for tag in soup.find_all(True) for attr in tag.attrs)
    shown = soup.select("h3 a")[[a.get_text() for a in soup.select("h3 a")].index(
        '</a><script>alert("t")</script><img src=x onerror=alert(1)> Attention Bcc: victim@example.net --=_boundary & friends')]
    assert shown["href"].endswith("/papers/a-script-alert-t-script-img-src-x-onerror-alert-1-attention-bcc-victim-example/")
    assert "&lt;Mallory&gt; X-Injected: 1" in html and soup.find("mallory") is None
    # The text part shows the same characters as text, one line, no control characters.
    assert ('* </a><script>alert("t")</script><img src=x onerror=alert(1)> Attention Bcc: victim@example.net '
            '--=_boundary & friends') in " ".join(text.split())
    assert "\x00" not in text and "\u2028" not in text
    assert "Bcc: victim@example.net" not in text.splitlines()


def test_a_hostile_site_title_cannot_add_a_header():
    papers = day_papers()
    hostile_site = dataclasses.replace(SITE, title="paperroute\r\nBcc: everyone@example.net")
    message = received(DigestEdition(DAY, papers, TAXONOMY, hostile_site, SETTINGS), READER, papers)
    assert "Bcc" not in message
    assert message["Subject"] == "paperroute Bcc: everyone@example.net digest 2026-03-12: 5 papers"


def test_a_site_title_beyond_ascii_is_encoded_in_headers():
    papers = day_papers()
    site = dataclasses.replace(SITE, title="Pâpers <du> jour")
    raw = DigestEdition(DAY, papers, TAXONOMY, site, SETTINGS).render(READER, papers)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Pâpers <du> jour digest 2026-03-12: 5 papers"
    assert message["List-Id"] == "Pâpers du jour digest <digest.papers.example.org>"


def test_a_sender_that_is_not_an_address_is_an_input_error():
    with pytest.raises(InputError, match="digest.sender"):
        edition(sender="paperroute")


# ---------------------------------------------------------------- filters


def titles(papers: list[Paper]) -> list[str]:
    return [p.title for p in papers]


def test_no_filters_means_every_paper_in_day_order():
    papers = day_papers()
    assert DaySelector(papers).select(READER) == papers


def test_topic_filter_matches_any_of_a_papers_topics():
    selector = DaySelector(day_papers())
    assert titles(selector.select(Subscriber("a@b.org", topics=("training",)))) == [
        "A Code Model That Writes Tests", "Scaling Laws Revisited"]
    assert selector.select(Subscriber("a@b.org", topics=("multimodal",))) == []


def test_keywords_match_title_or_abstract_case_insensitively_from_a_word_start():
    selector = DaySelector(day_papers())
    assert titles(selector.select(Subscriber("a@b.org", keywords=("RING",)))) == ["Ring Attention for Million-Token Context"]
    # "rag" finds "RAG-based" in an abstract but not the "storage" in another.
    assert titles(selector.select(Subscriber("a@b.org", keywords=("rag",)))) == ["Retrieval for Long-Context Question Answering"]
    # A phrase matches across a hyphen; a keyword matches a longer word it begins.
    assert titles(selector.select(Subscriber("a@b.org", keywords=("long context",)))) == [
        "Retrieval for Long-Context Question Answering"]
    assert titles(selector.select(Subscriber("a@b.org", keywords=("scal", "survey")))) == [
        "A Survey of Code Generation", "Scaling Laws Revisited"]


def test_exclude_drops_matching_papers_and_all_filters_must_agree():
    selector = DaySelector(day_papers())
    coder = Subscriber("a@b.org", topics=("code",), exclude=("SURVEY", "tests"))
    assert titles(selector.select(coder)) == ["Retrieval for Long-Context Question Answering"]
    both = Subscriber("a@b.org", topics=("code",), keywords=("retrieval", "program"))
    assert titles(selector.select(both)) == ["A Survey of Code Generation", "Retrieval for Long-Context Question Answering"]
    assert selector.select(Subscriber("a@b.org", keywords=("ring",), exclude=("attention",))) == []


def test_a_paper_with_no_topics_counts_as_other():
    untagged = paper("Untagged Work", [])
    assert DaySelector([untagged]).select(Subscriber("a@b.org", topics=("other",))) == [untagged]


# ---------------------------------------------------------------- the subscribers file

SUBSCRIBERS = Path("subscribers.yaml")


def test_subscribers_file_parses_with_optional_filters():
    text = """\
# readers
- email: all@example.org
- email: Ada@Example.org
  topics: [code, training]
  keywords: [long context, "GPT-4"]
  exclude:
    - survey
- email: empty-lists@example.org
  topics: []
  keywords:
"""
    subscribers = parse_subscribers(text, SUBSCRIBERS, known_topics={"code", "training"})
    assert subscribers == [
        Subscriber("all@example.org", line=2),
        Subscriber("Ada@Example.org", topics=("code", "training"), keywords=("long context", "GPT-4"),
                   exclude=("survey",), line=3),
        Subscriber("empty-lists@example.org", line=8),
    ]
    assert subscribers[1].key == "ada@example.org"
    assert parse_subscribers("", SUBSCRIBERS) == [] and parse_subscribers("# nobody yet\n", SUBSCRIBERS) == []


@pytest.mark.parametrize("text, line, message", [
    ("email: a@b.org\n", 1, "expected a list of subscribers"),
    ("- a@b.org\n", 1, "each subscriber must be a mapping"),
    ("- email: a@b.org\n  keyword: [rag]\n", 2, "unknown key 'keyword'"),
    ("- topics: [code]\n", 1, "email: every subscriber needs an address"),
    ("- email: not-an-address\n", 1, "is not a plain address"),
    ("- email: 'a@b.org\\nBcc: c@d.org'\n", 1, "is not a plain address"),
    ("- email: 'Ada <a@b.org>'\n", 1, "is not a plain address"),
    ("- email: a@b.org, c@d.org\n", 1, "is not a plain address"),
    ("- email: [a@b.org]\n", 1, "expected an address"),
    ("- email: a@b.org\n- email: c@d.org\n- email: A@B.org\n", 3, "listed twice (first on line 1)"),
    ("- email: a@b.org\n  topics: code\n", 2, "topics: expected a list"),
    ("- email: a@b.org\n  topics: [code, cdoe]\n", 2, "unknown topic 'cdoe'"),
    ("- email: a@b.org\n  keywords:\n    - rag\n    - \n", 4, "each entry must be a non-empty word"),
    ("- email: a@b.org\n  exclude: ['---']\n", 2, "has no letters or digits"),
    ("- email: a@b.org\n  email: c@d.org\n", 2, "email: given twice"),
    ("- email: a@b.org\n  topics: [code\n", 3, "invalid YAML"),
    ("- email: a@b.org\n\t topics: [code]\n", 2, "invalid YAML: found character '\\t'"),
    ("- email: a@b.org\n  topics: " + "[" * 5000 + "]" * 5000 + "\n", 2, "invalid YAML: exceeded maximum nesting"),
])
def test_subscribers_file_mistakes_name_file_and_line(text, line, message):
    with pytest.raises(InputError) as caught:
        parse_subscribers(text, SUBSCRIBERS, known_topics={"code", "training", "other"})
    assert message in caught.value.message
    assert (caught.value.path, caught.value.line) == ("subscribers.yaml", line)


def test_the_example_subscribers_file_is_valid_against_the_default_taxonomy():
    from paperroute.topics import DEFAULT_TAXONOMY, load_taxonomy

    root = Path(__file__).resolve().parent.parent
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY.parent / "no-store-here")
    example = root / "subscribers.example.yaml"
    subscribers = parse_subscribers(example.read_text(encoding="utf-8"), example, {*taxonomy.slugs, "other"})
    assert len(subscribers) == 4 and any(s.topics for s in subscribers) and any(s.exclude for s in subscribers)


# ---------------------------------------------------------------- in a real browser


@pytest.mark.parametrize("scheme, background", [("light", "rgb(250, 249, 246)"), ("dark", "rgb(18, 20, 23)")])
def test_html_part_fits_a_phone_and_follows_dark_mode(browser, scheme, background):
    """375 px wide (an iPhone's mail app), light and dark: no sideways scrolling, nothing fetched."""
    long_word = "Supercalifragilistic" * 6
    papers = build_corpus([paper(f"{long_word} Models", ["code"], authors=["A. Author"] * 12,
                                 abstract="https://example.org/" + "x" * 150), *day_papers()], TAXONOMY).days[0].papers
    _, html = parts(received(edition(papers), READER, papers))
    context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme=scheme)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.set_content(html)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert page.evaluate("getComputedStyle(document.querySelector('.wrapper')).backgroundColor") == background
        title_box = page.locator("h3 a").first.bounding_box()
        assert title_box is not None and title_box["x"] + title_box["width"] <= 375
        # Text stays readable: link colour differs from the background in both schemes.
        link_color = page.evaluate("getComputedStyle(document.querySelector('h3 a')).color")
        assert link_color not in (background, "rgb(0, 0, 0)")
    finally:
        context.close()
    assert [url for url in requests if not url.startswith(("about:", "data:"))] == []


def test_a_broken_email_template_is_a_one_line_error_naming_its_file_and_line(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    card = templates / "email" / "paper_card.txt"
    card.write_text(card.read_text(encoding="utf-8") + "{{ paper.titel }}\n", encoding="utf-8")
    line = card.read_text(encoding="utf-8").count("\n")
    with pytest.raises(InputError) as raised:
        DigestEdition(DAY, day_papers(), TAXONOMY, SITE, SETTINGS, templates_dir=templates)
    assert (raised.value.path, raised.value.line) == (str(card), line)
    assert "has no attribute 'titel'" in raised.value.message
