"""paperroute.yaml → typed, validated settings, with environment overrides for SMTP.

Settings are checked once, here, so every other module can trust them. The SMTP password is
read only from the environment: a secret never lives in a file that may be committed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from paperroute.errors import InputError
from paperroute.urls import web_address

# libyaml's parser, where PyYAML was built with it (its wheels are): the same documents and
# marks, ten times as fast (content/topics.yaml, read by every build: 15 → 1.6 ms).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose_yaml(text: str) -> yaml.Node | None:
    """A YAML document's node tree (`_parsed`)."""
    return _parsed(yaml.compose, text)


def load_yaml(text: str) -> Any:
    """A YAML document's plain values (`_parsed`)."""
    return _parsed(yaml.load, text)


def _parsed(parse: Callable[..., Any], text: str) -> Any:
    """`parse` by libyaml (`SAFE_LOADER`); a document it rejects is read again by PyYAML's own
    parser, whose errors are the ones raised: on the same line, they say more ("found character
    '\\t' that cannot start any token", where libyaml leaves out the tab). Nesting deeper than
    PyYAML's recursion can follow is libyaml's error ("exceeded maximum nesting depth"), or
    without libyaml one of ours, never a RecursionError's traceback."""
    try:
        return parse(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as err:
        rejected = err
    except RecursionError:
        rejected = yaml.MarkedYAMLError(problem="nested too deeply")
    try:
        return parse(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise rejected from None


DEFAULT_CONFIG_FILE = Path("paperroute.yaml")


@dataclass(frozen=True)
class SiteConfig:
    title: str = "paperroute"
    description: str = "New machine-learning papers, every day, grouped by topic."
    base_url: str = "http://127.0.0.1:8000/"
    language: str = "en"
    feed_size: int = 100
    topic_page_size: int = 50


@dataclass(frozen=True)
class DigestConfig:
    sender: str = "paperroute <digest@localhost>"
    unsubscribe_mailto: str = "unsubscribe@localhost"
    # The unsubscribe endpoint; `{email}` is replaced by the subscriber's address (URL-quoted).
    # Empty: `<site.base_url>unsubscribe?email={email}`, so a site on https:// gets RFC 8058
    # one-click unsubscribe without another setting. The endpoint must exist (see README).
    unsubscribe_url: str = ""
    send_empty: bool = False
    # Messages per second at most when sending; 0 means as fast as the server takes them.
    rate_limit: float = 0.0
    # The SQLite file recording what was sent, so a rerun resumes instead of repeating.
    ledger: str = "digest-ledger.sqlite3"
    # Tries per message (temporary refusals, cut-off runs) before it is given up as refused.
    max_attempts: int = 3
    # Papers listed in one message at most (the day's first, most upvoted first); the rest are a
    # link to the day's page. Keeps a message under Gmail's 102 KB clipping; 0: no limit.
    max_papers: int = 50


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    # "none", "starttls" or "tls" (implicit TLS, usually port 465).
    security: str = "none"
    timeout: float = 30.0
    # CA bundle to verify the server's certificate with (a private CA); default: the system's.
    ca_file: str | None = None
    # SMTP sessions open at once. SMTP waits for the server's answer after every message, so a
    # second session keeps both ends busy; a few are plenty, and many look like abuse to a server.
    connections: int = 2


@dataclass(frozen=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)


_SECTIONS = {"site": SiteConfig, "digest": DigestConfig, "smtp": SmtpConfig}


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf"^\s*{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


# More SMTP sessions at once than any mail server should be asked for by one sender.
MAX_CONNECTIONS = 16
PORTS = (1, 65535)

# The numbers only some of whose values make sense, and which: a `topic_page_size` of 0 was a
# ZeroDivisionError's traceback in the middle of a build. (least, most); None: no bound.
_LIMITS: dict[tuple[str, str], tuple[float, float | None]] = {
    ("site", "feed_size"): (1, None),
    ("site", "topic_page_size"): (1, None),
    ("digest", "rate_limit"): (0, None),
    ("digest", "max_attempts"): (1, None),
    ("digest", "max_papers"): (0, None),
    ("smtp", "port"): PORTS,
    ("smtp", "timeout"): (0.1, None),
    ("smtp", "connections"): (1, MAX_CONNECTIONS),
}


def _coerce(section: str, key: str, value: Any, expected: Any, path: Path, text: str) -> Any:
    line = _line_of(text, key)
    kinds = {"str": str, "int": int, "float": (int, float), "bool": bool, "str | None": (str, type(None))}
    want = kinds[expected]
    if isinstance(value, bool) and expected in ("int", "float"):
        raise InputError(f"{section}.{key}: expected a number", path, line)
    if not isinstance(value, want):
        raise InputError(f"{section}.{key}: expected {expected}, got {value!r}", path, line)
    if (limits := _LIMITS.get((section, key))) is not None and not _within(value, *limits):
        raise InputError(f"{section}.{key}: must be {_span(*limits)}, got {value!r}", path, line)
    return float(value) if expected == "float" else value


def _within(value: float, least: float, most: float | None) -> bool:
    return least <= value and (most is None or value <= most)


def whole_number_within(text: str, least: int, most: int | None = None) -> int | None:
    """`text` as a whole number from `least` to `most` (None: no bound), or None: what the
    environment's port and the command line's numbers (`commands.whole_number`) are read with."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if _within(value, least, most) else None


def _span(least: float, most: float | None) -> str:
    return f"{least} to {most}" if most is not None else f"at least {least}"


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read settings from `path` (default paperroute.yaml, optional), then apply the environment."""
    env = os.environ if env is None else env
    path = path or DEFAULT_CONFIG_FILE
    raw: dict[str, Any] = {}
    text = ""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            raw = load_yaml(text) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise InputError(f"invalid YAML: {getattr(err, 'problem', err)}", path, mark.line + 1 if mark else None) from None
        if not isinstance(raw, dict):
            raise InputError("settings must be a mapping of sections", path, 1)
    sections: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in _SECTIONS:
            raise InputError(f"unknown section {name!r} (known: {', '.join(_SECTIONS)})", path, _line_of(text, name))
        if not isinstance(values, dict):
            raise InputError(f"{name}: expected a mapping", path, _line_of(text, name))
        known = {f.name: f.type for f in fields(_SECTIONS[name])}
        checked = {}
        for key, value in values.items():
            if key not in known or key == "password":
                why = "the password is read from PAPERROUTE_SMTP_PASSWORD only" if key == "password" else "unknown setting"
                raise InputError(f"{name}.{key}: {why}", path, _line_of(text, key))
            checked[key] = _coerce(name, key, value, known[key], path, text)
        sections[name] = _SECTIONS[name](**checked)
    config = Config(**sections)
    return _with_env(config, env)


def _with_env(config: Config, env: Mapping[str, str]) -> Config:
    smtp = config.smtp
    overrides: dict[str, Any] = {}
    if env.get("PAPERROUTE_SMTP_HOST"):
        overrides["host"] = env["PAPERROUTE_SMTP_HOST"]
    if env.get("PAPERROUTE_SMTP_PORT"):
        port = whole_number_within(env["PAPERROUTE_SMTP_PORT"], *PORTS)
        if port is None:
            raise InputError(f"PAPERROUTE_SMTP_PORT: {env['PAPERROUTE_SMTP_PORT']!r} is not a port number "
                             f"({_span(*PORTS)})")
        overrides["port"] = port
    if env.get("PAPERROUTE_SMTP_USER"):
        overrides["user"] = env["PAPERROUTE_SMTP_USER"]
    if env.get("PAPERROUTE_SMTP_PASSWORD"):
        overrides["password"] = env["PAPERROUTE_SMTP_PASSWORD"]
    if smtp.security not in ("none", "starttls", "tls"):
        raise InputError(f"smtp.security: {smtp.security!r} is not one of none, starttls, tls")
    if not overrides:
        return config
    return Config(site=config.site, digest=config.digest, smtp=SmtpConfig(**{**smtp.__dict__, **overrides}))


def with_base_url(config: Config, base_url: str | None) -> Config:
    """A `--base-url` flag wins over the file; a base URL always ends in `/`."""
    url = base_url or config.site.base_url
    # Every absolute link is this address and a path: a query or a fragment would break them all.
    if web_address(url) is None or "?" in url or "#" in url:
        raise InputError(f"base URL {url!r} must be an http:// or https:// address a page's path can follow "
                         "(a host, then an optional path; no query, fragment or space)")
    url = url if url.endswith("/") else url + "/"
    return Config(site=SiteConfig(**{**config.site.__dict__, "base_url": url}), digest=config.digest, smtp=config.smtp)
