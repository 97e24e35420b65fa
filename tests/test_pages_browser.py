"""The built pages in real Chromium: they render, load their CSS under the CSP, run no
injected script, and fit a phone's width. Served under a sub-path, as a project site is."""

from __future__ import annotations

import pytest

from conftest import make_paper, write_store
from paperroute.config import Config, SiteConfig, with_base_url
from paperroute.site import build_site

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
PAGES = ["", "days/2026-03-11/", "topics/training/", "papers/scaling-laws-for-training/", "archive/", "search/",
         "no/such/page/"]
# Records Content-Security-Policy violations from the first moment of every page.
CSP_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def site_url(tmp_path_factory, request) -> str:
    """A site with hostile text, served at http://127.0.0.1:PORT/project/."""
    import functools
    import http.server
    import threading

    root = tmp_path_factory.mktemp("www")
    content = root.parent / "content"
    write_store(content, [
        make_paper("Scaling Laws for Training", "2026-03-10", topics=["training"], upvotes=3,
                   abstract="Scaling laws *predict* loss. Code: https://github.com/example/scaling."),
        make_paper(HOSTILE, "2026-03-11", topics=["training", "reasoning"], authors=[HOSTILE],
                   abstract=HOSTILE + "\n\n[x](javascript:window.__pwned=3)"),
        make_paper("Reasoning Benchmark", "2026-03-11", topics=["reasoning"], abstract="Multi-step reasoning."),
    ])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def send_error(self, code, message=None, explain=None):  # serve 404.html like a static host
            if code == 404:
                body = (root / "project" / "404.html").read_bytes()
                self.send_response(404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().send_error(code, message, explain)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(lambda: (server.shutdown(), server.server_close()))
    url = f"http://127.0.0.1:{server.server_address[1]}/project/"
    build_site(content, root / "project", with_base_url(Config(site=SiteConfig(title="Test papers")), url), quiet=True)
    return url


@pytest.fixture
def watched_page(browser):
    def open_page(color_scheme: str = "light", width: int = 1280):
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
        context.add_init_script(CSP_WATCH)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("response", lambda r: page.problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)
        contexts.append(context)
        return page

    contexts = []
    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_without_errors_or_csp_violations(site_url: str, watched_page, path: str) -> None:
    page = watched_page()
    missing = path.startswith("no/")
    response = page.goto(site_url + path)
    assert response.status == (404 if missing else 200)
    page.wait_for_load_state("load")
    # Chromium logs the 404 status of the page itself; anything else is a problem.
    own_status = "console error: Failed to load resource: the server responded with a status of 404 (Not Found)"
    assert page.problems == ([own_status] if missing else [])
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned") is None
    # The stylesheet loaded (the CSP allowed it): the layout's font and header are styled.
    assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")
    assert page.locator("h1").count() == 1 and page.locator("h1").inner_text().strip()
    assert page.locator("input[type=search]").count() == 1


def test_the_hostile_paper_shows_its_text_and_runs_nothing(site_url: str, watched_page) -> None:
    page = watched_page()
    page.goto(site_url + "days/2026-03-11/")
    title = page.locator("article h3", has_text="onerror").first
    assert title.inner_text() == HOSTILE
    page.locator("details.abstract summary").first.click()
    assert page.locator("details.abstract .prose").first.is_visible()
    page.goto(site_url + "papers/" + "nothing-here/")  # the 404 page answers
    assert page.evaluate("window.__pwned") is None and len(page.problems) == 1


def test_abstracts_open_and_close_without_javascript(site_url: str, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site_url + "days/2026-03-10/")
    body = page.locator("details.abstract .prose").first
    assert not body.is_visible()
    page.locator("details.abstract summary").first.click()
    assert body.is_visible() and "predict" in body.inner_text()
    context.close()


def test_dark_mode_and_phone_width(site_url: str, watched_page) -> None:
    light = watched_page("light")
    light.goto(site_url)
    dark = watched_page("dark", width=390)
    dark.goto(site_url)
    background = "getComputedStyle(document.body).backgroundColor"
    assert light.evaluate(background) != dark.evaluate(background)
    for path in PAGES:
        dark.goto(site_url + path)
        assert dark.evaluate("document.documentElement.scrollWidth") <= 390, path
        assert dark.evaluate("window.__csp") == [], path
    assert [problem for problem in dark.problems if "404" not in problem] == []


def test_keyboard_focus_is_visible(site_url: str, watched_page) -> None:
    page = watched_page()
    page.goto(site_url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_search_form_sends_the_query_to_the_search_page(site_url: str, watched_page) -> None:
    page = watched_page()
    page.goto(site_url + "topics/training/")
    page.fill("input[type=search]", "scaling laws")
    page.keyboard.press("Enter")
    page.wait_for_url("**/project/search/?q=scaling+laws")
    assert page.problems == []
