"""The integration configuration: one TOML file naming every ERP integration and its mappings.

The file's path comes from ``FLOORLEDGER_CONFIG``. Secrets are never written in it: a
credential is referenced by a ``*_env`` key (an environment variable) or a ``*_file`` key
(a file holding it) and resolved by :func:`secret` only when it is used.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from adapters.redact import is_secret_name, redact_text, secret_parts

CONFIG_ENV = "FLOORLEDGER_CONFIG"

NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
URL_PATTERN = r"^https?://\S+$"


class ConfigError(Exception):
    """The integration configuration is unusable; each problem names its key path and value."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        if len(problems) == 1:
            super().__init__(head + problems[0])
        else:
            super().__init__(head + f"{len(problems)} problems:\n  " + "\n  ".join(problems))


class _Model(BaseModel):
    """Strict configuration model: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _SecretRefs(_Model):
    """A model holding credentials by reference; a literal secret key is refused."""

    _secrets: ClassVar[tuple[str, ...]] = ()
    _required: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in cls._secrets:
            if name in data:
                raise ValueError(
                    f"{name}: a literal secret is not allowed in the configuration; "
                    f"use {name}_env (an environment variable) or {name}_file (a file)"
                )
        return data

    @model_validator(mode="after")
    def _one_reference_each(self) -> _SecretRefs:
        for name in self._secrets:
            env, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file")
            if env and file:
                raise ValueError(f"{name}: give {name}_env or {name}_file, not both")
            if self._required and not env and not file:
                raise ValueError(f"{name}: {name}_env or {name}_file is required")
        return self


def _no_credentials_in_url(url: str) -> str:
    found = secret_parts(url)
    if found:
        raise ValueError(
            f"credentials in the URL ({', '.join(found)}) are not allowed in the configuration; "
            'use auth = { type = "basic", username = "…", password_env = "…" } or '
            '{ type = "api_key", header = "…", key_env = "…" } (or *_file)'
        )
    return url


# A web service URL: http(s), holding no password and no credential query parameter.
ServiceUrl = Annotated[str, Field(pattern=URL_PATTERN), AfterValidator(_no_credentials_in_url)]


def no_secret_headers(headers: dict[str, str]) -> dict[str, str]:
    """Refuse literal headers that carry a credential (Authorization, Cookie, X-Api-Key…)."""
    for name in headers:
        if is_secret_name(name):
            raise ValueError(
                f"{name}: a literal secret is not allowed in the configuration; use "
                'auth = { type = "bearer", token_env = "…" } or '
                f'{{ type = "api_key", header = "{name}", key_env = "…" }} (or *_file)'
            )
    return headers


def secret(model: BaseModel, name: str) -> SecretStr:
    """Resolve a credential referenced by ``<name>_env`` or ``<name>_file`` at the moment of use."""
    env = getattr(model, f"{name}_env", None)
    file = getattr(model, f"{name}_file", None)
    if env:
        value = os.environ.get(env)
        if value is None or not value.strip():
            raise ConfigError([f"{name}_env: environment variable {env!r} is not set"])
        return SecretStr(value.strip())
    if file:
        try:
            value = Path(file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [f"{name}_file: {str(file)!r} cannot be read ({exc.strerror})"]
            ) from None
        if not value.strip():
            raise ConfigError([f"{name}_file: {str(file)!r} is empty"])
        return SecretStr(value.strip())
    raise ConfigError([f"{name}: no {name}_env or {name}_file is configured"])


# ---------------------------------------------------------------------------- REST auth


class NoAuth(_Model):
    """The web service needs no credentials."""

    type: Literal["none"] = "none"


class BearerAuth(_SecretRefs):
    """An OAuth-style bearer token sent in the Authorization header."""

    _secrets = ("token",)
    type: Literal["bearer"]
    token_env: str | None = None
    token_file: Path | None = None


class BasicAuth(_SecretRefs):
    """HTTP basic authentication: a user name and a referenced password."""

    _secrets = ("password",)
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password_env: str | None = None
    password_file: Path | None = None


class ApiKeyAuth(_SecretRefs):
    """An API key sent in a request header."""

    _secrets = ("key", "api_key")
    type: Literal["api_key"]
    header: str = Field(default="X-API-Key", min_length=1)
    key_env: str | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _one_reference_each(self) -> ApiKeyAuth:
        if self.key_env and self.key_file:
            raise ValueError("key: give key_env or key_file, not both")
        if not self.key_env and not self.key_file:
            raise ValueError("key: key_env or key_file is required")
        return self


Auth = Annotated[NoAuth | BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


class Paging(_Model):
    """How a web service splits the plan into pages: a page number, or a next link in the body."""

    mode: Literal["page", "next_link"]
    page_param: str = "page"
    first_page: int = Field(default=1, ge=0)
    size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)
    next_path: str | None = None
    max_pages: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _next_link_needs_path(self) -> Paging:
        if self.mode == "next_link" and not self.next_path:
            raise ValueError("next_path (the JSON path of the next link) is required for next_link")
        return self


# ---------------------------------------------------------------------------- transports


class _Inbound(_Model):
    poll_seconds: int = Field(default=60, ge=1, le=86_400)


class RestInbound(_Inbound):
    """Plan pulled from a REST/JSON web service."""

    transport: Literal["rest"]
    url: ServiceUrl
    auth: Auth = NoAuth()
    verify_tls: bool = True
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    items_path: str = ""
    paging: Paging | None = None


class SqlInbound(_Inbound, _SecretRefs):
    """Plan read from an ERP staging table or query (SQLAlchemy URL held as a secret)."""

    _secrets = ("url",)
    transport: Literal["sql"]
    url_env: str | None = None
    url_file: Path | None = None
    table: str | None = None
    db_schema: str | None = Field(default=None, alias="schema")
    query: str | None = None
    release_state_value: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlInbound:
        if bool(self.table) == bool(self.query):
            raise ValueError("give exactly one of table or query")
        return self


class FixedWidthColumn(_Model):
    """One field of a fixed-width record: 1-based first and last character, inclusive."""

    name: str = Field(min_length=1)
    start: int = Field(ge=1)
    end: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> FixedWidthColumn:
        if self.end < self.start:
            raise ValueError(f"end {self.end} must be ≥ start {self.start}")
        return self


# Names a writer uses while a file is incomplete (editors, browsers, Office, rsync, scp).
DEFAULT_TEMP_PATTERNS = (
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.swp",
    "*.filepart",
    ".~*",
    "~$*",
    ".*",
)

FileFormat = Literal["csv", "xlsx", "b2mml", "delimited", "fixed_width"]


class FilesInbound(_Inbound):
    """Plan dropped as files into a watched inbox (CSV, Excel, B2MML XML, delimited, fixed)."""

    transport: Literal["files"]
    inbox: Path
    archive: Path
    error: Path
    processing: Path | None = None
    pattern: str = "*"
    format: FileFormat
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str | None = Field(default='"', max_length=1)
    encoding: str = "utf-8"
    header: bool = True
    column_names: list[str] = Field(default_factory=list)
    columns: list[FixedWidthColumn] = Field(default_factory=list)
    skip_lines: int = Field(default=0, ge=0)
    sheet: str | None = None
    settle_seconds: float = Field(default=5, ge=0, le=3600)
    # A file is complete when its marker <name><done_suffix> exists (then settle is not waited).
    done_suffix: str | None = Field(default=None, min_length=1, max_length=40)
    # Names a writer uses while a file is incomplete; such files are never read.
    temp_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_TEMP_PATTERNS))
    # Limits, checked before the file is read (docs/inbound.md, "Limits"); 0 turns one off.
    max_file_bytes: int | None = Field(default=50 * 1024 * 1024, ge=0)
    max_rows: int | None = Field(default=200_000, ge=0)
    max_unpacked_bytes: int | None = Field(default=100 * 1024 * 1024, ge=0)

    @field_validator("max_file_bytes", "max_rows", "max_unpacked_bytes")
    @classmethod
    def _zero_is_no_limit(cls, v: int | None) -> int | None:
        return v or None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError("is not a known text encoding") from None
        return v

    @model_validator(mode="after")
    def _layout(self) -> FilesInbound:
        if self.format == "fixed_width":
            if not self.columns:
                raise ValueError("columns (name, start, end) are required for fixed_width")
            spans = sorted(self.columns, key=lambda c: c.start)
            for a, b in pairwise(spans):
                if b.start <= a.end:
                    raise ValueError(f"columns {a.name!r} and {b.name!r} overlap")
            names = [c.name for c in self.columns]
            if len(set(names)) != len(names):
                raise ValueError("column names must be unique")
        if self.format in ("csv", "delimited") and not self.header and not self.column_names:
            raise ValueError("column_names are required when the file has no header")
        return self

    @property
    def processing_dir(self) -> Path:
        """Where claimed files are worked on (inside the inbox unless configured)."""
        return self.processing or self.inbox / ".processing"


class AmqpInbound(_Inbound, _SecretRefs):
    """Orders pushed as messages on an AMQP 0-9-1 queue (RabbitMQ)."""

    _secrets = ("url",)
    transport: Literal["amqp"]
    url_env: str | None = None
    url_file: Path | None = None
    queue: str = Field(min_length=1)
    dead_letter_queue: str | None = None
    format: Literal["json", "b2mml"] = "json"
    items_path: str = ""
    prefetch: int = Field(default=50, ge=1, le=10_000)


class TrytonStandardTime(_Model):
    """The standard time of one Tryton routing operation (minutes)."""

    setup_minutes: Decimal = Field(default=Decimal(0), ge=0)
    run_minutes_per_unit: Decimal = Field(default=Decimal(0), ge=0)


class TrytonInbound(_Inbound, _SecretRefs):
    """Works orders read from a Tryton server (production, routing and work modules)."""

    _secrets = ("password",)
    transport: Literal["tryton"]
    url: ServiceUrl
    database: str = Field(min_length=1)
    user: str = Field(min_length=1)
    password_env: str | None = None
    password_file: Path | None = None
    # Tryton routings hold no standard times: per Tryton operation name, the setup minutes
    # and run minutes per unit the floor compares actual times with
    standard_times: dict[str, TrytonStandardTime] = Field(default_factory=dict)


Inbound = Annotated[
    RestInbound | SqlInbound | FilesInbound | AmqpInbound | TrytonInbound,
    Field(discriminator="transport"),
]


# ---------------------------------------------------------------------------- mappings


class FieldMap(_Model):
    """Where the ERP keeps each order field: column names (tabular) or dotted JSON paths.

    For tabular sources the routing comes as one row per operation, grouped by order
    number; for nested sources ``operations`` is the path of the list of operations and
    the ``op_*`` paths are relative to one operation.
    """

    order_no: str = "order_no"
    part_no: str = "part_no"
    description: str | None = "description"
    quantity: str = "quantity"
    unit: str | None = "unit"
    default_unit: str = "pcs"
    due_date: str | None = "due_date"
    date_format: str | None = None
    priority: str | None = "priority"
    release_state: str | None = "state"
    released_values: list[str] = Field(default_factory=lambda: ["released"], min_length=1)
    cancelled_values: list[str] = Field(default_factory=lambda: ["cancelled", "canceled"])
    work_centre: str | None = "work_centre"
    operations: str | None = None
    op_id: str | None = "op_id"
    op_name: str | None = "op_name"
    op_work_centre: str | None = "op_work_centre"
    setup_time: str | None = "setup_time"
    run_time: str | None = "run_time"
    time_unit: Literal["min", "h", "s"] = "min"
    decimal_comma: bool = False
    # Mode A (order sniffing): the field naming the measuring point an order is running on.
    measuring_point: str = "measuring_point"

    @model_validator(mode="after")
    def _states_disjoint(self) -> FieldMap:
        released = {v.strip().casefold() for v in self.released_values}
        cancelled = {v.strip().casefold() for v in self.cancelled_values}
        both = released & cancelled
        if both:
            raise ValueError(f"{sorted(both)} cannot mean both released and cancelled")
        return self


# The record shape the B2MML parser produces (see adapters.inbound.parsers.parse_b2mml).
B2MML_FIELDS = FieldMap(operations="operations")


class UnitMapping(_Model):
    """An ERP unit of measure as the floor knows it: 1 ERP unit = factor floor units."""

    unit: str = Field(min_length=1, max_length=20)
    factor: Decimal = Field(default=Decimal(1), gt=0)


class ValueMaps(_Model):
    """Master-data alignment: ERP values translated to floor values. An empty map passes
    values through unchanged; a non-empty map warns about every value it does not cover."""

    work_centres: dict[str, str] = Field(default_factory=dict)
    operations: dict[str, str] = Field(default_factory=dict)
    reason_codes: dict[str, str] = Field(default_factory=dict)
    units: dict[str, UnitMapping] = Field(default_factory=dict)


class ReasonCodes(_Model):
    """Stop (pause) and scrap reasons the terminal offers, code -> label; ``csv`` names a file
    of ``kind,code,label`` rows (kind ``stop`` or ``scrap``) read in addition."""

    stop: dict[str, str] = Field(default_factory=dict)
    scrap: dict[str, str] = Field(default_factory=dict)
    csv: Path | None = None


# ---------------------------------------------------------------------------- integrations


class Integration(_Model):
    """One ERP integration: its mode, where its plan comes from, and how its data maps."""

    name: str = Field(min_length=1, max_length=60, pattern=NAME_PATTERN)
    mode: Literal["A", "B", "C", "D", "E"]
    full_plan: bool = False
    inbound: Inbound
    outbound: dict[str, Any] | None = None
    fields: FieldMap | None = None
    maps: ValueMaps = ValueMaps()
    reasons: ReasonCodes = ReasonCodes()

    @property
    def poll_seconds(self) -> int:
        """How often the inbound transport is polled."""
        return self.inbound.poll_seconds

    @property
    def field_map(self) -> FieldMap:
        """The configured field map, or the default for the inbound format."""
        if self.fields is not None:
            return self.fields
        fmt = getattr(self.inbound, "format", None)
        return B2MML_FIELDS if fmt == "b2mml" else FieldMap()

    @property
    def source(self) -> str:
        """The event source recorded for this integration's ERP events."""
        return f"erp:{self.name}"


class IntegrationsConfig(_Model):
    """Every integration of the plant, as read from the TOML file."""

    integrations: list[Integration] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> IntegrationsConfig:
        seen: dict[str, int] = {}
        for i, integ in enumerate(self.integrations):
            if integ.name in seen:
                raise ValueError(
                    f"integrations[{i}].name: {integ.name!r} is already used by "
                    f"integrations[{seen[integ.name]}]"
                )
            seen[integ.name] = i
        return self

    def get(self, name: str) -> Integration:
        """The integration with this name."""
        for integ in self.integrations:
            if integ.name == name:
                return integ
        known = ", ".join(i.name for i in self.integrations) or "none"
        raise ConfigError([f"no integration named {name!r} (configured: {known})"])


# ---------------------------------------------------------------------------- loading

_UNION_KEYS = {"inbound", "auth"}
_TAGS = {"rest", "sql", "files", "amqp", "tryton", "none", "bearer", "basic", "api_key"}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    skip_next = False
    for i, part in enumerate(loc):
        if skip_next:
            skip_next = False
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if part.startswith("function-") or part.endswith("]"):
            continue
        out += ("." if out else "") + part
        if part in _UNION_KEYS and i + 1 < len(loc) and loc[i + 1] in _TAGS:
            skip_next = True
    return out


# What each pattern asks for, in words: users are never shown a regular expression.
_PATTERN_MEANINGS = {
    NAME_PATTERN: "may hold only letters, digits, '_', '.' and '-'",
    URL_PATTERN: "must be an http:// or https:// URL without spaces",
}


def _message(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "union_tag_invalid":
        return f"{ctx['tag']!r} must be one of {ctx['expected_tags']}"
    if kind == "union_tag_not_found":
        return f"needs a {ctx['discriminator']} key"
    if kind == "string_pattern_mismatch":
        return _PATTERN_MEANINGS.get(ctx["pattern"], "is not in the form this key needs")
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else err["msg"].lower()
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    msg: str = err["msg"]
    return msg[:1].lower() + msg[1:]


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        path = _path(tuple(err["loc"]))
        msg = _message(err)
        if err["type"] == "value_error" and msg.split(":", 1)[0].startswith("integrations["):
            problems.append(msg)  # already names its own path
            continue
        if err["type"] == "value_error" and ": " in msg and not msg.startswith(("[", "give")):
            head, rest = msg.split(": ", 1)
            if head.isidentifier():
                path, msg = (f"{path}.{head}" if path else head), rest
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path += "." + str(err["ctx"]["discriminator"]).strip("'")
        show_value = err["type"] not in (
            "missing",
            "value_error",
            "union_tag_not_found",
            "union_tag_invalid",
        )
        if show_value and not isinstance(err.get("input"), dict | list):
            shown = redact_text(repr(err["input"]))
            problems.append(f"{path}: {shown} {msg}" if path else msg)
        else:
            problems.append(f"{path}: {msg}" if path else msg)
    return problems


def parse_config(data: dict[str, Any], source: str = "") -> IntegrationsConfig:
    """Validate an already-parsed configuration; errors name the key path and value."""
    try:
        return IntegrationsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc), source) from None


def load_config(path: str | os.PathLike[str] | None = None) -> IntegrationsConfig:
    """Read and validate the TOML file at ``path`` or ``$FLOORLEDGER_CONFIG``."""
    if path is None:
        env = os.environ.get(CONFIG_ENV)
        if not env:
            raise ConfigError([f"{CONFIG_ENV} is not set: name the integration TOML file"])
        path = env
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"cannot be read ({exc.strerror})"], str(p)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(["is not UTF-8 text"], str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"is not valid TOML: {exc}"], str(p)) from None
    return parse_config(data, str(p))


__all__ = [
    "B2MML_FIELDS",
    "CONFIG_ENV",
    "AmqpInbound",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "ConfigError",
    "FieldMap",
    "FilesInbound",
    "FixedWidthColumn",
    "Integration",
    "IntegrationsConfig",
    "NoAuth",
    "Paging",
    "ReasonCodes",
    "RestInbound",
    "ServiceUrl",
    "SqlInbound",
    "TrytonInbound",
    "UnitMapping",
    "ValueMaps",
    "load_config",
    "no_secret_headers",
    "parse_config",
    "secret",
]
