"""`serve`: a real server on a free port, real HTTP requests, a real file change, a real browser."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from conftest import ROOT, free_port, make_paper, write_store
from paperroute.commands.serve import RELOAD_SCRIPT_PATH, WAIT_PATH, inject_reload_script

STARTUP_SECONDS = 60


def _interruptible() -> None:
    """Give the server SIGINT's default action, as a terminal's Ctrl-C finds it. A test run
    started in the background (`make test &`) ignores SIGINT, every child inherits that, and
    Python then never raises KeyboardInterrupt: `stop()` would wait for a server that cannot hear it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Server:
    """`python build.py serve` in a child process, and its output line by line."""

    def __init__(self, content: Path, out: Path | None, port: int, temp: Path | None = None):
        """Serves into `out`, or without one into a folder of its own under `temp`."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **({"TMPDIR": str(temp)} if temp else {})}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "build.py"), "serve", "--content", str(content),
             *(["--out", str(out)] if out else []), "--port", str(port)],
            cwd=content.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=_interruptible,
        )
        self.url = f"http://127.0.0.1:{port}/"
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = STARTUP_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"serve never printed {prefix!r}; it printed {seen!r}")

    def stop(self, how: signal.Signals = signal.SIGINT) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(how)
        code = self.process.wait(timeout=30)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, "\n".join(rest)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    content_dir = tmp_path / "content"
    write_store(content_dir, [
        make_paper("First Paper", "2026-03-10", topics=["training"]),
        make_paper("Second Paper", "2026-03-11", topics=["reasoning"]),
    ])
    return content_dir


@pytest.fixture
def server(content: Path, tmp_path: Path) -> Iterator[Server]:
    running = Server(content, tmp_path / "out", free_port())
    running.wait_for("serving ")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_inject_reload_script_goes_before_the_body_end() -> None:
    assert inject_reload_script(b"<html><body><p>x</p></body></html>", 3) == (
        b'<html><body><p>x</p><script src="/__paperroute/reload.js?generation=3"></script></body></html>')
    assert inject_reload_script(b"<p>x</p>", 1).endswith(b"</script>")


def test_serve_serves_the_site_with_the_reload_script_only_over_http(server: Server, tmp_path: Path) -> None:
    home = httpx.get(server.url, timeout=10)
    assert home.status_code == 200 and "Second Paper" in home.text
    assert f'<script src="{RELOAD_SCRIPT_PATH}?generation=1"></script></body>' in home.text
    assert RELOAD_SCRIPT_PATH.encode() not in (tmp_path / "out" / "index.html").read_bytes()
    assert 'href="http://127.0.0.1:' in home.text  # canonical link uses the server's own address
    assert httpx.get(server.url + "assets/style.css", timeout=10).headers["content-type"].startswith("text/css")
    script = httpx.get(server.url + RELOAD_SCRIPT_PATH.lstrip("/"), timeout=10)
    assert script.status_code == 200 and WAIT_PATH in script.text
    redirect = httpx.get(server.url + "archive", timeout=10)
    assert redirect.status_code == 301 and redirect.headers["location"] == "/archive/"
    missing = httpx.get(server.url + "no/such/page/", timeout=10)
    assert missing.status_code == 404 and "There is no page here" in missing.text
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1].strip("/"))), timeout=10) as raw:
        raw.sendall(b"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n")  # urlsplit raises on it
        assert raw.recv(64).startswith(b"HTTP/1.0 400 ")
    assert httpx.get(server.url, timeout=10).status_code == 200
    code, output = server.stop()
    assert code == 0 and output.startswith("served http://127.0.0.1:") and "Traceback" not in output


def test_a_content_change_rebuilds_and_wakes_the_waiting_page(server: Server, content: Path) -> None:
    answers: queue.Queue[httpx.Response] = queue.Queue()
    waiter = threading.Thread(
        target=lambda: answers.put(httpx.get(server.url + WAIT_PATH.lstrip("/") + "?since=1", timeout=60)), daemon=True)
    waiter.start()
    time.sleep(0.5)
    assert answers.empty()  # nothing changed yet: the request waits

    write_store(content, [make_paper("Third Paper Arrives", "2026-03-12", topics=["training"])])
    server.wait_for("rebuilt: ")
    assert answers.get(timeout=30).json() == {"generation": 2}
    home = httpx.get(server.url, timeout=10)
    assert "Third Paper Arrives" in home.text and "generation=2" in home.text
    assert httpx.get(server.url + "papers/third-paper-arrives/", timeout=10).status_code == 200


def test_a_broken_file_keeps_the_last_good_site(server: Server, content: Path) -> None:
    (content / "papers" / "2026-03-11" / "broken.md").write_text("---\ntitle: [oops\n---\n")
    line = server.wait_for("paperroute: rebuild failed")
    assert "broken.md:" in line
    assert "Second Paper" in httpx.get(server.url, timeout=10).text
    code, _ = server.stop()
    assert code == 0


def test_the_open_page_reloads_in_a_browser(server: Server, content: Path, page) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(server.url)
    assert page.locator("h1").inner_text() == "Wednesday 11 March 2026"
    write_store(content, [make_paper("Live Reloaded Paper", "2026-03-12", topics=["training"])])
    page.wait_for_selector("text=Live Reloaded Paper", timeout=30_000)
    assert page.locator("h1").inner_text() == "Thursday 12 March 2026"
    assert errors == []


def test_a_busy_port_is_a_one_line_error(content: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "build.py"), "serve", "--content", str(content), "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("paperroute: error: cannot listen on 127.0.0.1:") and result.stderr.count("\n") == 1


def test_a_port_out_of_range_is_a_usage_error(content: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "serve", "--content", str(content), "--port", "65536"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --port: '65536': expected a whole number from 0 to 65535" in result.stderr


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP], ids=["kill", "terminal closed"])
def test_kill_stops_the_server_and_removes_its_temporary_folder(content: Path, tmp_path: Path, how: signal.Signals) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    running = Server(content, None, free_port(), temp=temp)
    try:
        running.wait_for("serving ")
        (made,) = temp.glob("paperroute-serve-*")
        assert (made / "site" / "index.html").is_file()
        assert (made / ".site.buildstate").is_file()  # the state beside the site, inside the folder
        code, output = running.stop(how)
        assert code == 0 and output.startswith("served http://127.0.0.1:")
        assert list(temp.iterdir()) == []  # the site, its build state and caches all gone
    finally:
        if running.process.poll() is None:
            running.process.kill()
