"""Build the site, serve it on 127.0.0.1, and rebuild and reload the open page on every change.

The reload script is added by this server to the HTML it sends, never written into the built
files, so `site/` stays exactly what `build` makes. It is a file served from this origin, not an
inline script, so the pages' Content-Security-Policy (script-src 'self') allows it unchanged.
It long-polls `/__paperroute/wait`, which answers when a rebuild has finished.
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import watchfiles
from jinja2 import TemplateError

from paperroute.commands import whole_number
from paperroute.config import Config, DEFAULT_CONFIG_FILE, load_config, with_base_url
from paperroute.errors import InputError
from paperroute.render import TEMPLATES_DIR
from paperroute.site import build_site

HELP = "build the site, serve it on 127.0.0.1 and rebuild on change"

HOST = "127.0.0.1"
CONTROL_PREFIX = "/__paperroute/"
RELOAD_SCRIPT_PATH = CONTROL_PREFIX + "reload.js"
WAIT_PATH = CONTROL_PREFIX + "wait"
# A waiting request is answered at least this often, so proxies and browsers never time it out.
WAIT_SECONDS = 25.0
# Editors save in bursts (temp file, rename, backup): one rebuild per burst.
DEBOUNCE_MS = 300
# How often the watcher answers when nothing changed; its first answer says it is watching.
READY_POLL_MS = 200
# How long the first build waits for the watcher to start (it builds anyway after that).
WATCH_START_SECONDS = 10

RELOAD_SCRIPT = """\
// Added by `paperroute serve` only: reload this page when the site has been rebuilt.
(function () {
  "use strict";
  var generation = new URL(document.currentScript.src).searchParams.get("generation");
  function poll() {
    fetch("%(wait)s?since=" + encodeURIComponent(generation), { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (String(state.generation) !== generation) { window.location.reload(); } else { poll(); }
      })
      .catch(function () { window.setTimeout(poll, 1000); });
  }
  poll();
})();
""" % {"wait": WAIT_PATH}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=whole_number(0, 65535), default=8000, metavar="N", help="port on 127.0.0.1 (default: 8000; 0 picks a free one)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="build into DIR (default: a temporary folder, removed on exit, so site/ is left alone)")


class Generation:
    """The number of finished builds; waiting requests wake when it moves on."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = threading.Condition()

    def advance(self) -> None:
        with self._changed:
            self.value += 1
            self._changed.notify_all()

    def wait_past(self, seen: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.value != seen, timeout=timeout)
            return self.value


def inject_reload_script(html: bytes, generation: int) -> bytes:
    """The page with the reload script just before </body> (or at the end if it has none)."""
    tag = f'<script src="{RELOAD_SCRIPT_PATH}?generation={generation}"></script>'.encode()
    marker = html.rfind(b"</body>")
    return html[:marker] + tag + html[marker:] if marker >= 0 else html + tag


def make_handler(site_dir: Path, generation: Generation) -> type[http.server.SimpleHTTPRequestHandler]:
    class LiveHandler(http.server.SimpleHTTPRequestHandler):
        """Static files from the build, HTML with the reload script, 404.html for what is missing."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site_dir), **kwargs)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            try:
                self._get()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser left (a reload aborts its waiting request)

        def _get(self) -> None:
            try:
                url = urlsplit(self.path)
            except ValueError:  # "GET http://[::1 ...": the request's own mistake, not the server's
                self._send(400, "text/plain; charset=utf-8", b"bad request\n")
                return
            if url.path == RELOAD_SCRIPT_PATH:
                self._send(200, "text/javascript; charset=utf-8", RELOAD_SCRIPT.encode())
                return
            if url.path == WAIT_PATH:
                try:
                    seen = int(parse_qs(url.query).get("since", ["-1"])[0])
                except ValueError:
                    seen = -1
                value = generation.wait_past(seen, WAIT_SECONDS)
                self._send(200, "application/json", json.dumps({"generation": value}).encode())
                return
            target = Path(self.translate_path(url.path))
            if target.is_dir():
                if not url.path.endswith("/"):
                    self.send_response(301)
                    self.send_header("Location", url.path + "/" + (f"?{url.query}" if url.query else ""))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                target = target / "index.html"
            if target.is_file() and target.suffix == ".html":
                self._send(200, "text/html; charset=utf-8", inject_reload_script(target.read_bytes(), generation.value))
            elif target.is_file():
                super().do_GET()
            else:
                not_found = site_dir / "404.html"
                body = not_found.read_bytes() if not_found.is_file() else b"<!doctype html><title>Not found</title><body></body>"
                self._send(404, "text/html; charset=utf-8", inject_reload_script(body, generation.value))

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return LiveHandler


def watch_and_rebuild(paths: list[Path], rebuild: Callable[[], None], stop: threading.Event,
                      ready: threading.Event) -> None:
    """Run `rebuild` after every burst of changes under `paths`, until `stop` is set.

    `ready` is set once the watch is in place (its first answer, changes or a timeout), so the
    first build can wait for it: a file saved between that build and a watcher still starting
    up would otherwise never be seen.
    """
    for changes in watchfiles.watch(*paths, stop_event=stop, debounce=DEBOUNCE_MS, raise_interrupt=False,
                                    yield_on_timeout=True, rust_timeout=READY_POLL_MS):
        ready.set()
        if changes:
            rebuild()


def run(args: argparse.Namespace) -> int:
    if not args.content.is_dir():
        raise InputError("no content store here (ingest a source first, or pass --content DIR)", args.content)
    # `kill` (a process manager's stop) and a closed terminal (SIGHUP) end it the way Ctrl-C
    # does, the temporary folder with it; set first, as one may come the moment it says it is serving.
    for stop_signal in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if stop_signal is not None:
            signal.signal(stop_signal, signal.default_int_handler)
    base_config = load_config(args.config)
    generation = Generation()
    # The site goes one level down in the temporary folder: the build state and caches beside
    # it (`buildstate.state_path`) then go when the folder goes, not stay behind in /tmp.
    scratch = Path(tempfile.mkdtemp(prefix="paperroute-serve-")) if args.out is None else None
    out_dir = scratch / "site" if scratch is not None else args.out
    try:
        handler = make_handler(out_dir, generation)
        try:
            server = http.server.ThreadingHTTPServer((HOST, args.port), handler)
        except OSError as err:
            raise InputError(f"cannot listen on {HOST}:{args.port}: {err.strerror or err}") from None
        server.daemon_threads = True
        url = f"http://{HOST}:{server.server_address[1]}/"
        config: Config = with_base_url(base_config, url)
        rebuilds = 0
        building = threading.Lock()  # one build at a time: the first one and the watcher's

        def rebuild() -> None:
            nonlocal rebuilds
            try:
                with building:
                    report = build_site(args.content, out_dir, config, quiet=True)
            except (InputError, TemplateError) as err:
                print(f"paperroute: rebuild failed, still serving the last good build: {err}", file=sys.stderr, flush=True)
                return
            rebuilds += 1
            generation.advance()
            print(f"rebuilt: {report.written:,} files written, {report.removed:,} removed", flush=True)

        watched = [path for path in (args.content, TEMPLATES_DIR, args.config or DEFAULT_CONFIG_FILE) if path.exists()]
        stop, ready = threading.Event(), threading.Event()
        watcher = threading.Thread(target=watch_and_rebuild, args=(watched, rebuild, stop, ready), daemon=True)
        watcher.start()
        ready.wait(WATCH_START_SECONDS)
        with building:
            report = build_site(args.content, out_dir, config, quiet=args.quiet)
        generation.advance()
        try:  # from the line that says it is serving: a kill may come the moment it is printed
            print(f"serving {url} ({report.pages:,} pages from {report.papers:,} papers); "
                  f"watching {', '.join(str(path) for path in watched)}; Ctrl-C to stop", flush=True)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.server_close()
            watcher.join(timeout=5)
        print(f"served {url}: {rebuilds} rebuild(s)")
        return 0
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
