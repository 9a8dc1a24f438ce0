"""``BGBYE_DATABASE_URL`` checked at start-up, so a typo fails in one sentence there, never at
the first request. Messages never repeat the password."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bgbye.errors import BgbyeError

EXPECTED = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


class InvalidSettingError(BgbyeError):
    code = "invalid_setting"
    http_status = 500


def hide_password(text: str, url: str) -> str:
    match = re.match(r"^[a-z]+://[^:/@]*:([^@/]*)@", url)
    return text.replace(match.group(1), "***") if match and match.group(1) else text


def check_database_url(url: str) -> None:
    def bad(reason: str) -> InvalidSettingError:
        return InvalidSettingError(f"BGBYE_DATABASE_URL is not a valid PostgreSQL URL "
                                   f"({hide_password(reason, url)}; expected {EXPECTED}).")

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise bad(str(exc)) from exc
    if parts.scheme not in ("postgresql", "postgres"):
        scheme = f"the scheme is {parts.scheme!r}" if parts.scheme else "it has no scheme"
        raise bad(scheme)
    try:
        port = parts.port
    except ValueError as exc:
        raise bad("the port is not a number") from exc
    if port == 0:
        raise bad("the port is 0")
    if not parts.hostname and "host=" not in parts.query:
        raise bad("it names no host")
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as exc:
        raise InvalidSettingError("BGBYE_DATABASE_URL needs psycopg (the server "
                                  "extra): pip install 'bgbye[server]'.") from exc
    import psycopg

    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = re.sub(r'\s+in URI: ".*"', "", str(exc).strip().splitlines()[0])
        raise bad(reason) from exc
