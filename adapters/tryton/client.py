"""A small synchronous JSON-RPC client for a Tryton server (login, session renewal, errors)."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx

log = logging.getLogger(__name__)

__all__ = [
    "TrytonAuthError",
    "TrytonClient",
    "TrytonError",
    "TrytonFault",
    "TrytonSessionError",
    "TrytonUnavailable",
    "decode_value",
    "encode_value",
]


class TrytonError(Exception):
    """Anything that went wrong talking to Tryton."""


class TrytonUnavailable(TrytonError):
    """Tryton could not be reached or did not answer in time (a transient outage)."""


class TrytonSessionError(TrytonUnavailable):
    """Tryton lost this client's session mid-call (another login of the same user, expiry).

    Transient: the session is dropped, the next call logs in again. The call may or may not
    have been carried out, so the caller repeats it only if it is safe to repeat.
    """


# Tryton's words when the session record vanished under a call (ir.session read/write).
_SESSION_LOST = re.compile(r"\"(Session|ir\.session)\"[^.]*(don't|do not|does not) exist", re.I)


class TrytonAuthError(TrytonError):
    """Tryton refused the login (wrong user or password, rate limit, unknown database)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TrytonFault(TrytonError):
    """Tryton executed the call and refused it; carries the fault as Tryton stated it."""

    def __init__(
        self,
        method: str,
        kind: str,
        message: str,
        description: str = "",
        detail: Any = None,
    ) -> None:
        self.method = method
        self.kind = kind
        self.message = message
        self.description = description
        self.detail = detail
        text = f"{method}: {kind}: {message}"
        if description:
            text += f" ({description})"
        super().__init__(text)

    @property
    def is_user_error(self) -> bool:
        """True when Tryton refused the call for a business reason (UserError)."""
        return self.kind == "UserError"

    @property
    def is_user_warning(self) -> bool:
        """True when Tryton asks for a confirmation (UserWarning) before it proceeds."""
        return self.kind == "UserWarning"

    @property
    def is_concurrency(self) -> bool:
        """True when the record changed under us (ConcurrencyException)."""
        return self.kind == "ConcurrencyException"

    @property
    def warning_name(self) -> str | None:
        """The name Tryton gives a UserWarning, needed to accept it (res.user.warning)."""
        if self.is_user_warning and isinstance(self.detail, list | tuple) and self.detail:
            return str(self.detail[0])
        return None


def encode_value(obj: Any) -> Any:
    """Tryton's JSON spelling of dates, times, durations, decimals and bytes."""
    if isinstance(obj, dt.datetime):
        return {
            "__class__": "datetime",
            "year": obj.year,
            "month": obj.month,
            "day": obj.day,
            "hour": obj.hour,
            "minute": obj.minute,
            "second": obj.second,
            "microsecond": obj.microsecond,
        }
    if isinstance(obj, dt.date):
        return {"__class__": "date", "year": obj.year, "month": obj.month, "day": obj.day}
    if isinstance(obj, dt.time):
        return {
            "__class__": "time",
            "hour": obj.hour,
            "minute": obj.minute,
            "second": obj.second,
            "microsecond": obj.microsecond,
        }
    if isinstance(obj, dt.timedelta):
        return {"__class__": "timedelta", "seconds": obj.total_seconds()}
    if isinstance(obj, Decimal):
        return {"__class__": "Decimal", "decimal": str(obj)}
    if isinstance(obj, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.encodebytes(bytes(obj)).decode("ascii")}
    if isinstance(obj, set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} cannot be sent to Tryton")


def decode_value(dct: dict[str, Any]) -> Any:
    """Turn Tryton's tagged JSON objects back into Python values."""
    cls = dct.get("__class__")
    if cls is None:
        return dct
    if cls == "datetime":
        return dt.datetime(
            dct["year"],
            dct["month"],
            dct["day"],
            dct["hour"],
            dct["minute"],
            dct["second"],
            dct["microsecond"],
        )
    if cls == "date":
        return dt.date(dct["year"], dct["month"], dct["day"])
    if cls == "time":
        return dt.time(dct["hour"], dct["minute"], dct["second"], dct["microsecond"])
    if cls == "timedelta":
        return dt.timedelta(seconds=dct["seconds"])
    if cls == "Decimal":
        return Decimal(dct["decimal"])
    if cls == "bytes":
        return base64.decodebytes(dct["base64"].encode("ascii"))
    return dct


class TrytonClient:
    """A session with one Tryton database as one user; logs in lazily and again on expiry."""

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: str,
        *,
        timeout: float = 10.0,
        language: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.user = user
        self._password = password
        self.language = language
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._ids = itertools.count(1)
        self._user_id: int | None = None
        self._session: str | None = None
        self._context: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"TrytonClient(url={self.url!r}, database={self.database!r}, user={self.user!r})"

    @property
    def rpc_url(self) -> str:
        """The database's JSON-RPC endpoint."""
        return f"{self.url}/{self.database}/rpc/"

    @property
    def user_id(self) -> int | None:
        """The Tryton user id of the current session, once logged in."""
        return self._user_id

    # -- session ---------------------------------------------------------------------------

    def login(self) -> None:
        """Open a new session (common.db.login with the password)."""
        self._session = None
        self._context = None
        params: list[Any] = [self.user, {"password": self._password}]
        if self.language:
            params.append(self.language)
        response = self._post("common.db.login", params, authorised=False)
        if response.status_code in (401, 403, 404, 429):
            reason = {
                401: "user or password refused",
                403: "login forbidden",
                404: f"database {self.database!r} not found",
                429: "too many login attempts",
            }[response.status_code]
            raise TrytonAuthError(
                f"Tryton login as {self.user!r} on {self.database!r} failed: {reason}",
                response.status_code,
            )
        result = self._result("common.db.login", response)
        try:
            self._user_id, self._session = int(result[0]), str(result[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise TrytonAuthError(f"Tryton login returned an unexpected answer: {exc}") from None
        log.info("logged in to Tryton %s/%s as %s", self.url, self.database, self.user)

    def logout(self) -> None:
        """Close the session at the server (best effort)."""
        if self._session is None:
            return
        try:
            self._post("common.db.logout", [], authorised=True)
        except TrytonError:
            pass
        finally:
            self._session = None
            self._user_id = None

    def close(self) -> None:
        """Log out and release the HTTP connection pool."""
        try:
            self.logout()
        finally:
            self._http.close()

    def __enter__(self) -> TrytonClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """Call a Tryton RPC method; logs in first and once more if the session expired."""
        if self._session is None:
            self.login()
        response = self._post(method, list(params), authorised=True)
        if response.status_code == 401:
            log.info("Tryton session expired; logging in again")
            self.login()
            response = self._post(method, list(params), authorised=True)
            if response.status_code == 401:
                raise TrytonAuthError(f"{method}: Tryton refused the new session", 401)
        if response.status_code == 403:
            raise TrytonFault(method, "Forbidden", "the method is not callable over RPC")
        try:
            return self._result(method, response)
        except TrytonFault as fault:
            if not _SESSION_LOST.search(f"{fault.message} {fault.description}"):
                raise
            log.info("Tryton lost the session during %s; logging in again next call", method)
            self._session = None
            self._context = None
            raise TrytonSessionError(f"{method}: Tryton lost the session ({fault})") from fault

    @property
    def context(self) -> dict[str, Any]:
        """The user's context (company, language, …) as Tryton's clients send it."""
        if self._context is None:
            prefs = self.call("model.res.user.get_preferences", [True, {}])
            self._context = dict(prefs) if isinstance(prefs, Mapping) else {}
        return dict(self._context)

    def refresh_context(self) -> None:
        """Forget the cached user context (e.g. after the user's company changed)."""
        self._context = None

    def model(
        self,
        name: str,
        method: str,
        *args: Any,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call ``model.<name>.<method>`` with the user context (plus ``context``) appended."""
        ctx = self.context
        if context:
            ctx.update(context)
        return self.call(f"model.{name}.{method}", [*args, ctx])

    def search_read(
        self,
        name: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        order: Sequence[tuple[str, str]] | None = None,
        limit: int | None = None,
        offset: int = 0,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Records of a model matching a Tryton domain, with the named fields."""
        order_arg = [list(o) for o in order] if order else None
        result = self.model(
            name,
            "search_read",
            list(domain),
            offset,
            limit,
            order_arg,
            list(fields),
            context=context,
        )
        return list(result)

    def read(
        self,
        name: str,
        ids: Sequence[int],
        fields: Sequence[str],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Records of a model by id, with the named fields, in the order of ``ids``."""
        if not ids:
            return []
        rows = list(self.model(name, "read", list(ids), list(fields), context=context))
        by_id = {r["id"]: r for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def create(self, name: str, values: Sequence[Mapping[str, Any]], **kw: Any) -> list[int]:
        """Create records and return their ids."""
        return [int(i) for i in self.model(name, "create", [dict(v) for v in values], **kw)]

    def write(self, name: str, ids: Sequence[int], values: Mapping[str, Any], **kw: Any) -> None:
        """Write the same values to records."""
        self.model(name, "write", list(ids), dict(values), **kw)

    def button(self, name: str, button: str, ids: Sequence[int], **kw: Any) -> Any:
        """Press a workflow button (e.g. production ``wait``) on records."""
        return self.model(name, button, list(ids), **kw)

    # -- transport -------------------------------------------------------------------------

    def _post(self, method: str, params: list[Any], *, authorised: bool) -> httpx.Response:
        payload = {"id": next(self._ids), "method": method, "params": params}
        headers = {"Content-Type": "application/json"}
        if authorised and self._session is not None:
            token = f"{self.user}:{self._user_id}:{self._session}".encode()
            headers["Authorization"] = "Session " + base64.b64encode(token).decode("ascii")
        try:
            body = json.dumps(payload, default=encode_value)
        except TypeError as exc:
            raise TrytonError(f"{method}: {exc}") from None
        try:
            return self._http.post(self.rpc_url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TrytonUnavailable(f"{method}: Tryton at {self.url} timed out ({exc})") from exc
        except httpx.TransportError as exc:
            raise TrytonUnavailable(f"{method}: Tryton at {self.url} unreachable ({exc})") from exc

    def _result(self, method: str, response: httpx.Response) -> Any:
        if response.status_code >= 500:
            raise TrytonUnavailable(f"{method}: Tryton answered HTTP {response.status_code}")
        if response.status_code == 429:
            raise TrytonUnavailable(f"{method}: Tryton rate limit (HTTP 429)")
        if response.status_code != 200:
            raise TrytonFault(method, f"HTTP {response.status_code}", response.text[:200].strip())
        try:
            data = json.loads(response.content, object_hook=decode_value)
        except ValueError:
            raise TrytonFault(method, "BadResponse", "Tryton's answer is not JSON") from None
        if not isinstance(data, dict):
            raise TrytonFault(method, "BadResponse", "Tryton's answer is not a JSON-RPC object")
        if data.get("error") is not None:
            raise _fault(method, data["error"])
        return data.get("result")


_TRYTON_KINDS = ("UserError", "UserWarning", "ConcurrencyException", "LoginException")


def _fault(method: str, error: Any) -> TrytonFault:
    """The TrytonFault for a JSON-RPC ``error`` member (["UserError", [msg, desc, …]] etc.)."""
    if not (isinstance(error, list | tuple) and len(error) == 2):
        return TrytonFault(method, "ServerError", str(error))
    kind, args = error
    if kind not in _TRYTON_KINDS:
        # An unexpected server exception: [str(exc), traceback]; the traceback stays out.
        return TrytonFault(method, "ServerError", str(kind).strip())
    if isinstance(args, str):
        return TrytonFault(method, kind, args, "", args)
    args = list(args) if isinstance(args, list | tuple) else [args]
    if kind == "UserWarning":
        # (name, message, description)
        message = str(args[1]) if len(args) > 1 else ""
        desc = str(args[2]) if len(args) > 2 and args[2] else ""
        return TrytonFault(method, kind, message, desc, args)
    message = str(args[0]) if args else ""
    desc = str(args[1]) if len(args) > 1 and isinstance(args[1], str) and args[1] else ""
    return TrytonFault(method, kind, message, desc, args)
