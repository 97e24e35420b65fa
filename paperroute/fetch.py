"""Live sources over HTTP: Hugging Face's daily_papers API and arXiv's query API.

A daily cron meets every way a network fails, so each failure has one answer here: a
rate limit (429) or a server error (5xx) is retried with exponential backoff, honouring the
server's Retry-After; a timeout or a dropped connection is retried the same way; a refused
connection or an unknown host ("offline") fails at once with one clear line, because waiting
seconds does not bring a network back and the next run will try again.

The raw response is written to `content/sources/<kind>/` atomically before anything parses it,
so a response the parser rejects is still on disk to look at (the error names that file), and
re-ingesting it later needs no second download.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlencode

import httpx

from paperroute import __version__
from paperroute.errors import InputError
from paperroute.output import write_atomic
from paperroute.urls import web_address

HF_URL = "https://huggingface.co/api/daily_papers"
ARXIV_URL = "https://export.arxiv.org/api/query"
# Tests and mirrors point the fetchers elsewhere with these.
HF_URL_ENV = "PAPERROUTE_HF_URL"
ARXIV_URL_ENV = "PAPERROUTE_ARXIV_URL"
# arXiv asks API clients to identify themselves.
USER_AGENT = f"paperroute/{__version__} (research digest; python-httpx)"
# A daily listing is kilobytes; anything this large is not one, and is not kept.
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
# One arXiv API call returns at most this many entries.
ARXIV_MAX_RESULTS = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """How patiently to ask: attempts in all, the first backoff (doubling), the longest wait."""

    attempts: int = 4
    first_wait: float = 2.0
    longest_wait: float = 120.0


@dataclass(frozen=True)
class Fetched:
    """A response on disk: where it was saved, its size, how many attempts it took, whether it is new."""

    path: Path
    size: int
    attempts: int
    changed: bool


def endpoint(env_name: str, default: str) -> str:
    """The API address, from the environment when set (a test server, a mirror)."""
    url = os.environ.get(env_name) or default
    if web_address(url) is None:
        raise InputError(f"{env_name}: {url!r} is not an http(s) address")
    return url


def retry_wait(retry_after: str | None, attempt: int, policy: RetryPolicy, now: dt.datetime | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After, else exponential backoff.

    Retry-After is either seconds or an HTTP date; an unreadable one falls back to backoff.
    """
    backoff = policy.first_wait * (2 ** (attempt - 1))
    if retry_after is None or not retry_after.strip():
        return backoff
    value = retry_after.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return backoff
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _read_body(response: httpx.Response, url: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise InputError(f"response larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB: not a listing", url)
        chunks.append(chunk)
    return b"".join(chunks)


def http_get(url: str, params: Mapping[str, str], *, timeout: float, policy: RetryPolicy) -> tuple[bytes, int]:
    """GET `url` with retries; returns the body and how many attempts it took."""
    full_url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
    last_problem = ""
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}) as client:
        for attempt in range(1, policy.attempts + 1):
            retry_after = None
            try:
                with client.stream("GET", full_url) as response:
                    if response.is_success:
                        return _read_body(response, full_url), attempt
                    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                    if response.status_code != 429 and response.status_code < 500:
                        raise InputError(status, full_url)
                    last_problem, retry_after = status, response.headers.get("Retry-After")
            except httpx.ConnectError as err:
                raise InputError(f"cannot connect (offline?): {err}", full_url) from None
            except httpx.TimeoutException:
                last_problem = f"no answer within {timeout:g}s"
            except httpx.TransportError as err:
                last_problem = f"connection failed: {err or type(err).__name__}"
            if attempt == policy.attempts:
                break
            wait = retry_wait(retry_after, attempt, policy)
            if wait > policy.longest_wait:
                raise InputError(f"{last_problem}; the server asks to wait {wait:.0f}s, try again later", full_url)
            time.sleep(wait)
    tries = f"{policy.attempts} attempts" if policy.attempts > 1 else "1 attempt, no retries"
    raise InputError(f"{last_problem} (gave up after {tries})", full_url)


def save_response(body: bytes, folder: Path, stem: str, suffix: str) -> tuple[Path, bool]:
    """Write `body` to `folder/stem.suffix` atomically; returns the path and whether it was new.

    The same bytes again leave the file alone (a second run changes nothing). Different bytes
    under a name already taken (the day's list grew since the last run) go beside it with a
    short content hash, so no response that was fetched is overwritten.
    """
    target = folder / f"{stem}{suffix}"
    if target.exists() and target.read_bytes() != body:
        target = folder / f"{stem}-{hashlib.sha256(body).hexdigest()[:8]}{suffix}"
    if target.exists() and target.read_bytes() == body:
        return target, False
    write_atomic(target, body)
    return target, True


def fetch_to_file(url: str, params: Mapping[str, str], folder: Path, stem: str, suffix: str, *,
                  timeout: float, policy: RetryPolicy) -> Fetched:
    body, attempts = http_get(url, params, timeout=timeout, policy=policy)
    path, changed = save_response(body, folder, stem, suffix)
    return Fetched(path, len(body), attempts, changed)


def fetch_hf(content_dir: Path, listing_date: dt.date, *, timeout: float, policy: RetryPolicy) -> Fetched:
    """One day of Hugging Face Daily Papers, saved as content/sources/hf/<date>-daily-papers.json."""
    return fetch_to_file(endpoint(HF_URL_ENV, HF_URL), {"date": listing_date.isoformat()},
                         content_dir / "sources" / "hf", f"{listing_date.isoformat()}-daily-papers", ".json",
                         timeout=timeout, policy=policy)


def fetch_arxiv(content_dir: Path, category: str, max_results: int, fetch_date: dt.date, *,
                timeout: float, policy: RetryPolicy) -> Fetched:
    """The newest submissions in one arXiv category, saved as content/sources/arxiv/<date>-<category>.xml."""
    params = {"search_query": f"cat:{category}", "sortBy": "submittedDate", "sortOrder": "descending",
              "start": "0", "max_results": str(max_results)}
    return fetch_to_file(endpoint(ARXIV_URL_ENV, ARXIV_URL), params, content_dir / "sources" / "arxiv",
                         f"{fetch_date.isoformat()}-{category}", ".xml", timeout=timeout, policy=policy)
