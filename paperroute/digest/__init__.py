"""The emailed daily digest: the third way paperroute publishes a day's papers.

    subscribers.py  the subscribers file → `Subscriber`s, and each one's papers of the day
    compose.py      a day + a subscriber → an `EmailMessage` (Jinja2 templates, inlined CSS)
    ledger.py       SQLite record of what was sent per (day, subscriber): resume, never repeat
    send.py         SMTP delivery through one reused connection, paced, recorded in the ledger

`paperroute.commands.digest` wires them together for `paperroute digest`.
"""
