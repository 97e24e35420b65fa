"""A real HTTP server on 127.0.0.1 that replays scripted responses, for the fetch and update tests.

Each path has a queue of replies (status, headers, body, delay before answering); the last
reply repeats once the queue is down to it. Every request is recorded, so a test can check
what the fetch code really sent.
"""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class ReplayServer:
    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    def script(self, path: str, *replies: Reply) -> str:
        """Queue replies for `path`; returns the full URL of that path."""
        with self._lock:
            self.replies[path] = list(replies)
        return self.url(path)

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self.replies.get(path)
            if not queue:
                return Reply(404, b"not scripted")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def start(self) -> ReplayServer:
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                parts = urlsplit(self.path)
                with replay._lock:
                    replay.requests.append(Request(parts.path, parse_qs(parts.query), dict(self.headers)))
                reply = replay._next_reply(parts.path)
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
