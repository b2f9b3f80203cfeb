"""Credentials kept out of what operators see: URLs and error texts redacted before display.

One rule, used everywhere a URL or an error that may hold one is shown or stored for display
(writeback status and parked reasons, sync errors, the store URL): a password in the URL's
user part and the value of every query parameter whose name reads as a credential become
``***``. The same name rule refuses literal secrets in the integration configuration.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
# Words that make a query parameter or a header a credential (api_key, X-Auth-Token, sig…).
SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "accesstoken", "secret", "password", "passwd", "pwd", "auth",
     "authorization", "sig", "signature", "session", "sessionid", "credential", "credentials",
     "jwt", "bearer", "cookie"}
)  # fmt: skip
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter or header named ``name`` carries a credential."""
    if name.strip().lower() in SECRET_HEADERS:
        return True
    words = [w.lower() for w in _WORD.findall(name)]
    return any(w in SECRET_WORDS for w in words) or "".join(words) in SECRET_WORDS


def secret_parts(url: str) -> list[str]:
    """What in ``url`` is a credential: ``password`` (user part) and secret query names."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = ["password"] if password is not None else []
    for pair in parts.query.split("&"):
        name = pair.split("=", 1)[0]
        if name and is_secret_name(name):
            found.append(name)
    return found


def redact_url(url: str) -> str:
    """``url`` with its password and credential query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = []
        for pair in query.split("&"):
            name, sep, _ = pair.partition("=")
            pairs.append(f"{name}={MASK}" if sep and is_secret_name(name) else pair)
        query = "&".join(pairs)
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide: shown exactly as given
    return parts._replace(netloc=netloc, query=query).geturl()


def redact_text(text: str) -> str:
    """``text`` (an error message, a log line) with every URL in it redacted."""

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = len(url) - len(url.rstrip(".,;:)]}"))
        return redact_url(url[: len(url) - tail]) + url[len(url) - tail :]

    return _URL.sub(one, text)


__all__ = ["MASK", "is_secret_name", "redact_text", "redact_url", "secret_parts"]
