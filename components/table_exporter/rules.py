"""The one rule set for the exporter's arguments.

Two layers, both pure:

* value checks (``check_*``): one value each; they return it unchanged or raise
  ``ValueError`` stating the rule in plain words, so they can serve as pydantic
  validators as well as here;
* ``argument_problems``: every rule over a whole set of component arguments, returned
  as ``Problem`` records (an argument path and a rule) instead of raised.

Nothing here knows how an argument is spelled to the user. Rules that mention another
argument spell it through a ``ref`` function: the component passes its argument names
through, the program turns them into ``exporter:<camelCase>`` config keys.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache, partial
from typing import Any

import pulumi

from table_exporter.catalog.schema import columns_from, glue_table_name
from table_exporter.kernel import time_zones
from table_exporter.kernel.limits import MAX_CONCURRENT_EXPORTS
from table_exporter.kernel.policies import INLINE_POLICY_LIMIT, exact_policy_estimate
from table_exporter.kernel.targets import EXPORT_FORMATS, REPORT_PREFIX, SSE_ALGORITHMS

Path = tuple[str | int, ...]
Ref = Callable[[str], str]


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (an argument path such as ``("tables", 1, "table")``) and
    what, in words. A warning is something a user could mean; it does not stop a run."""

    path: Path
    rule: str
    warning: bool = False

    def argument(self, name: Ref = _same) -> str:
        """The path as text, ``tables[1].table``; ``name`` spells each argument name."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += f"{'.' if text else ''}{name(part)}"
        return text

    def line(self, name: Ref = _same) -> str:
        return f"{self.argument(name)}: {self.rule}"


def _folded(name: str) -> str:
    """A key without case and separators: ``export_type`` and ``exportType`` fold alike."""
    return name.replace("_", "").replace("-", "").lower()


def _likeness(key: str, known: str) -> float:
    """How alike two keys are, 0-1: the better of the whole keys and, for a typo early in
    a longer key (``scheduel`` for ``scheduleExpression``), its start."""
    typed, candidate = _folded(key), _folded(known)
    whole = difflib.SequenceMatcher(None, typed, candidate).ratio()
    start = (
        difflib.SequenceMatcher(None, typed, candidate[: len(typed)]).ratio()
        if len(typed) >= 4 and len(candidate) > len(typed)
        else 0.0
    )
    return max(whole, 0.9 * start)  # a whole key that is alike ranks first


SUGGESTION_CUTOFF = 0.75
"""How alike (``_likeness``) a known key must be to be suggested."""


def close_keys(
    key: str, known: Iterable[str], fits: Callable[[str], bool] | None = None
) -> list[str]:
    """The known keys ``key`` may be a misspelling of, best first, at most three: the same
    key in another case style first, then keys whose rule accepts the value given
    (``fits``), then the most alike."""
    scored = [(name, _likeness(key, name)) for name in known]
    close = [(name, score) for name, score in scored if score >= SUGGESTION_CUTOFF]
    close.sort(
        key=lambda item: (
            _folded(item[0]) != _folded(key),
            not (fits and fits(item[0])),
            -item[1],
        )
    )
    return [name for name, _ in close[:3]]


def unknown_key(
    key: str, known: Iterable[str], what: str = "key", fits: Callable[[str], bool] | None = None
) -> str:
    """The rule for a key nobody declared, with the closest known keys as a hint
    (``close_keys``; ``fits`` tells whether a known key would take the value given)."""
    known = sorted(known)
    close = close_keys(key, known, fits)
    if close and _folded(close[0]) == _folded(key):
        style = "snake_case" if "_" in close[0] else "camelCase"
        hint = f"did you mean {close[0]}? ({what}s are {style}) "
    else:
        listed = f"{', '.join(close[:-1])} or {close[-1]}" if len(close) > 1 else "".join(close)
        hint = f"did you mean {listed}? " if close else ""
    return f"unknown {what}; {hint}known {what}s: {', '.join(known)}"


def fits_argument(name: str, value: Any) -> bool:
    """Whether a component argument's own rules accept ``value`` (to rank suggestions)."""
    if name in BOOLS:
        return isinstance(value, bool)
    if name in INTS:
        return not isinstance(value, bool) and isinstance(value, int)
    if name in CHOICES:
        return value in CHOICES[name]
    if name in TEXTS:
        return isinstance(value, str) and not _apply(TEXTS[name], value, (name,))
    return True


# --- numbers -------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    low: int
    high: int
    unit: str = ""
    why: str = ""


RANGES: dict[str, Range] = {
    "max_concurrency": Range(
        1,
        MAX_CONCURRENT_EXPORTS,
        why=f"{MAX_CONCURRENT_EXPORTS} is DynamoDB's quota of concurrent exports per account "
        "and region",
    ),
    "staleness_hours": Range(1, 168, "hours", "at most one week"),
    "export_timeout_hours": Range(1, 168, "hours"),
    "run_timeout_hours": Range(1, 8760, "hours", "at most one year"),
    "poll_min_seconds": Range(1, 86_400, "seconds"),
    "poll_max_seconds": Range(1, 86_400, "seconds"),
    "noncurrent_version_expiration_days": Range(1, 3650, "days"),
    "expiration_days": Range(1, 3650, "days"),
    "watermark_lag_alarm_hours": Range(1, 720, "hours"),
    "restore_drill_window_hours": Range(1, 168, "hours", "CloudWatch evaluates at most 7 days"),
}
MAX_TABLES = 1000


def check_range(value: int, low: int, high: int, unit: str = "", why: str = "") -> int:
    """Check ``low <= value <= high``; ``why`` explains where the limit comes from."""
    if not low <= value <= high:
        unit_text = f" {unit}" if unit else ""
        why_text = f" ({why})" if why else ""
        raise ValueError(f"must be {low}-{high}{unit_text}{why_text}, got {value}")
    return value


def check_named_range(argument: str, value: int) -> int:
    """The range of one numeric argument, as ``RANGES`` declares it."""
    limits = RANGES[argument]
    return check_range(value, limits.low, limits.high, limits.unit, limits.why)


def check_flexible_window(value: int) -> int:
    """EventBridge Scheduler takes 0 for OFF, else a window of 1-1440 minutes."""
    if value != 0 and not 1 <= value <= 1440:
        raise ValueError(f"must be 0 (off) or 1-1440 minutes, got {value}")
    return value


LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


def check_log_retention_days(value: int) -> int:
    """CloudWatch Logs accepts only a fixed list of retention periods."""
    if value not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(days) for days in LOG_RETENTION_DAYS)
        raise ValueError(
            f"must be one of CloudWatch Logs' retention periods in days ({allowed}), got {value}"
        )
    return value


# --- schedule --------------------------------------------------------------------

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    extra_chars: str = ""  # allowed on top of digits and the common "* , - /"
    names: Mapping[str, int] = field(default_factory=dict)

    @property
    def allowed(self) -> str:
        if self.names:
            return f"{self.low}-{self.high} or {next(iter(self.names))}-{list(self.names)[-1]}"
        return f"{self.low}-{self.high}"


_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31, "?LW"),
    _CronField("month", 1, 12, "", {m: i for i, m in enumerate(_MONTHS, start=1)}),
    _CronField("day-of-week", 1, 7, "?L#", {d: i for i, d in enumerate(_DAYS, start=1)}),
    _CronField("year", 1970, 2199),
)
_CRON_FIELD_NAMES = " ".join(f.name for f in _CRON_FIELDS)


def _cron_value(spec: _CronField, text: str, whole: str) -> None:
    if text.isdigit():
        if not spec.low <= int(text) <= spec.high:
            raise ValueError(
                f"cron() {spec.name} field {whole!r}: {text} is out of range {spec.allowed}"
            )
    elif text.upper() not in spec.names:
        raise ValueError(f"cron() {spec.name} field {whole!r}: {text!r} is not {spec.allowed}")


def _cron_part(spec: _CronField, part: str, whole: str) -> None:
    """One comma-separated item: ``*``, ``v``, ``a-b``, any of those ``/step``, or L/W/#."""
    if part == "?":
        raise ValueError(f"cron() {spec.name} field {whole!r}: '?' must stand alone")
    if spec.name == "day-of-month" and part.upper().endswith("W"):
        if part.upper() != "LW":
            _cron_value(spec, part[:-1], whole)
        return
    if spec.name in ("day-of-month", "day-of-week") and part.upper().endswith("L"):
        if part.upper() != "L":
            _cron_value(spec, part[:-1], whole)
        return
    if spec.name == "day-of-week" and "#" in part:
        day, _, nth = part.partition("#")
        _cron_value(spec, day, whole)
        if nth not in ("1", "2", "3", "4", "5"):
            raise ValueError(
                f"cron() day-of-week field {whole!r}: the number after '#' must be 1-5 "
                "(which week of the month)"
            )
        return
    base, slash, step = part.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        raise ValueError(
            f"cron() {spec.name} field {whole!r}: the step after '/' must be a positive number"
        )
    if base == "*":
        return
    first, dash, last = base.partition("-")
    _cron_value(spec, first, whole)
    if dash:
        _cron_value(spec, last, whole)


def _cron_field(spec: _CronField, value: str) -> None:
    symbols = "*,-/" + spec.extra_chars
    allowed = set("0123456789" + symbols)
    if any(c not in allowed and not (spec.names and c.isalpha()) for c in value.upper()):
        raise ValueError(
            f"cron() {spec.name} field {value!r}: allowed are {spec.allowed} "
            f"and the symbols {' '.join(symbols)}"
        )
    if value == "?" and spec.name in ("day-of-month", "day-of-week"):
        return
    for part in value.split(","):
        _cron_part(spec, part, value)


def _last_year(year_field: str) -> int:
    """The latest year a (valid) cron year field can fire in."""
    last = 0
    for part in year_field.split(","):
        base, slash, _ = part.partition("/")
        if base == "*" or slash:  # a step runs on to the end of the range
            return _CRON_FIELDS[-1].high
        last = max(last, int(base.partition("-")[2] or base))
    return last


def check_cron(expression: str, *, year: int | None = None) -> str:
    """An EventBridge Scheduler ``cron(minutes hours day-of-month month day-of-week year)``
    that can still fire (``year``: the current year, by default today's in UTC)."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not match:
        raise ValueError(f"expected cron({_CRON_FIELD_NAMES}), got {expression!r}")
    fields = match.group(1).split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(f"cron() needs six fields ({_CRON_FIELD_NAMES}), got {len(fields)}")
    for spec, value in zip(_CRON_FIELDS, fields, strict=True):
        _cron_field(spec, value)
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        got = "both" if day_of_month == "?" else "neither"
        raise ValueError(
            "cron() needs '?' in exactly one of day-of-month and day-of-week "
            f"(the other one says which days), got {got} "
            f"(day-of-month {day_of_month!r}, day-of-week {day_of_week!r})"
        )
    this_year = year if year is not None else datetime.now(timezone.utc).year
    if _last_year(fields[5]) < this_year:
        raise ValueError(
            f"cron() year field {fields[5]!r}: every year it names has passed "
            f"(it is {this_year}), so the schedule would never fire"
        )
    return expression


_RATE_UNITS = {"minute": "minutes", "hour": "hours", "day": "days"}


def check_rate(expression: str) -> str:
    """An EventBridge Scheduler ``rate(<value> <unit>)``, e.g. ``rate(12 hours)``."""
    match = re.fullmatch(r"rate\((.*)\)", expression.strip())
    parts = match.group(1).split() if match else []
    if len(parts) != 2:
        raise ValueError(f"expected rate(<value> <unit>), e.g. rate(12 hours), got {expression!r}")
    number, unit = parts
    if not (number.isascii() and number.isdigit()) or int(number) == 0:
        raise ValueError(f"rate() value must be a positive whole number, got {number!r}")
    count = int(number)
    singular = unit in _RATE_UNITS
    if not singular and unit not in _RATE_UNITS.values():
        raise ValueError(f"rate() unit must be minute(s), hour(s) or day(s), got {unit!r}")
    if count == 1 and not singular:
        raise ValueError(f"rate() needs the singular unit for 1: rate(1 {unit[:-1]}), not {unit!r}")
    if count != 1 and singular:
        raise ValueError(
            f"rate() needs the plural unit for {count}: rate({count} {_RATE_UNITS[unit]}), "
            f"not {unit!r}"
        )
    return expression


def check_schedule_expression(expression: str) -> str:
    """A recurring schedule: ``cron(...)`` or ``rate(...)``; one-time ``at(...)`` is refused."""
    text = expression.strip()
    if text != expression and text:
        raise ValueError(
            f"{expression!r} has spaces around it; EventBridge Scheduler takes the expression "
            f"as it is: write {text!r}"
        )
    if text.startswith("cron("):
        return check_cron(expression)
    if text.startswith("rate("):
        return check_rate(expression)
    if text.startswith("at("):
        raise ValueError(
            "at() one-time schedules are not supported: the exporter runs on a recurring "
            "schedule; use cron(...) or rate(...)"
        )
    raise ValueError(
        f"expected cron({_CRON_FIELD_NAMES}) or rate(<value> <unit>), got {expression!r}"
    )


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    """The time zone names Python knows (system zoneinfo or ``tzdata``), or, where it
    knows none, the list bundled with the component (``time_zones.py``): an unknown
    name is never accepted unchecked, and the component needs no ``tzdata``."""
    return frozenset(zoneinfo.available_timezones()) or time_zones.NAMES


def check_time_zone(name: str) -> str:
    """An IANA time zone name, as EventBridge Scheduler expects."""
    if name not in _time_zones():
        raise ValueError(
            f"{name!r} is not an IANA time zone name (e.g. UTC, Asia/Tokyo, Europe/Berlin)"
        )
    return name


# --- regions, names and ARNs -------------------------------------------------------

_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_PARTITIONS = (
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isob-", "aws-iso-b"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
)


def check_region(region: str) -> str:
    """An AWS region code such as ``ap-northeast-1``."""
    if not _REGION.fullmatch(region):
        raise ValueError(f"must be an AWS region code like ap-northeast-1, got {region!r}")
    return region


def partition_of(region: str) -> str:
    """The partition a region belongs to (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    return next((p for start, p in _PARTITIONS if region.startswith(start)), "aws")


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(arn: str) -> Arn | None:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(*parts[1:])


TABLE_NAME_PATTERN = r"[A-Za-z0-9_.-]{3,255}"
_TABLE_ARN = re.compile(
    rf"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{{12}}:table/(?P<name>{TABLE_NAME_PATTERN})"
)


def check_table_name(name: str) -> str:
    """A DynamoDB table name: 3-255 of ``A-Z a-z 0-9 _ . -``."""
    if not 3 <= len(name) <= 255:
        raise ValueError(f"table name {name!r} must be 3-255 characters long, got {len(name)}")
    if not re.fullmatch(TABLE_NAME_PATTERN, name):
        raise ValueError(f"table name {name!r} may contain only letters, digits, '_', '.' and '-'")
    return name


def table_name_of(table: str) -> str:
    """The name part of a table reference that is a name or an ARN."""
    match = _TABLE_ARN.fullmatch(table)
    return match.group("name") if match else table


def check_table_ref(table: str) -> str:
    """A table name, or a table ARN (to name the table's account and region explicitly)."""
    if table.startswith("arn:"):
        if not _TABLE_ARN.fullmatch(table):
            raise ValueError(
                f"malformed table ARN {table!r}: expected "
                "arn:aws:dynamodb:<region>:<12-digit account>:table/<table name>"
            )
        return table
    return check_table_name(table)


def check_account_id(value: str) -> str:
    """An AWS account id: exactly 12 digits."""
    if not re.fullmatch(r"\d{12}", value):
        raise ValueError(f"must be a 12-digit AWS account id, got {value!r}")
    return value


_KMS_KEY_ARN = re.compile(
    r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(?:[0-9a-f-]{36}|mrk-[0-9a-f]{32})"
)
_SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")


def check_kms_key_arn(arn: str) -> str:
    """A KMS key ARN (key id or multi-region ``mrk-`` id; an alias ARN is not enough)."""
    if not _KMS_KEY_ARN.fullmatch(arn):
        raise ValueError(
            f"must be a KMS key ARN, arn:aws:kms:<region>:<12-digit account>:key/<key id>, "
            f"got {arn!r}"
        )
    return arn


def check_sns_topic_arn(arn: str) -> str:
    """A standard SNS topic ARN (CloudWatch alarms cannot notify FIFO topics)."""
    if arn.endswith(".fifo") and _SNS_TOPIC_ARN.fullmatch(arn.removesuffix(".fifo")):
        raise ValueError(
            f"{arn!r} is a FIFO topic, and CloudWatch alarm actions cannot use a FIFO topic; "
            "give a standard SNS topic"
        )
    if not _SNS_TOPIC_ARN.fullmatch(arn):
        raise ValueError(
            "must be an SNS topic ARN, arn:aws:sns:<region>:<12-digit account>:<topic name>, "
            f"got {arn!r}"
        )
    return arn


_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def check_email(address: str) -> str:
    """An email address of the plain ``local@domain.tld`` form."""
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        raise ValueError(f"must be an email address like ops@example.com, got {address!r}")
    return address


# --- S3 ----------------------------------------------------------------------------

_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")


def check_bucket_name(name: str) -> str:
    """An S3 general purpose bucket name."""
    if not 3 <= len(name) <= 63:
        raise ValueError(f"bucket name must be 3-63 characters long, got {len(name)}")
    if not re.fullmatch(r"[a-z0-9.-]+", name):
        raise ValueError(
            f"bucket name {name!r} may contain only lowercase letters, digits, dots and hyphens"
        )
    if not (name[0].isalnum() and name[-1].isalnum()):
        raise ValueError(f"bucket name {name!r} must begin and end with a letter or digit")
    if ".." in name:
        raise ValueError(f"bucket name {name!r} must not contain two adjacent dots")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        raise ValueError(f"bucket name {name!r} must not be formatted like an IP address")
    for reserved in _BUCKET_PREFIXES:
        if name.startswith(reserved):
            raise ValueError(f"bucket name {name!r} must not start with {reserved!r} (reserved)")
    for reserved in _BUCKET_SUFFIXES:
        if name.endswith(reserved):
            raise ValueError(f"bucket name {name!r} must not end with {reserved!r} (reserved)")
    return name


_PREFIX_FORBIDDEN = set('\\{}^%`[]"<>~#|')
ATHENA_RESULTS_PREFIX = "athena-results"
RESERVED_PREFIXES = (REPORT_PREFIX, ATHENA_RESULTS_PREFIX)


def check_prefix(prefix: str) -> str:
    """An S3 key prefix the exports are written under (no leading or trailing '/'), away
    from the folders the exporter writes run reports and Athena results to."""
    if not 1 <= len(prefix) <= 512:
        raise ValueError(f"prefix must be 1-512 characters long, got {len(prefix)}")
    if prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must not start or end with '/'")
    if "//" in prefix:
        raise ValueError(f"prefix {prefix!r} must not contain '//' (an empty path segment)")
    if ".." in prefix.split("/"):
        raise ValueError(f"prefix {prefix!r} must not contain a '..' path segment")
    bad = sorted({c for c in prefix if c in _PREFIX_FORBIDDEN or not c.isprintable()})
    if bad:
        raise ValueError(
            f"prefix {prefix!r} contains characters S3 keys should avoid: {''.join(bad)!r}"
        )
    for reserved in RESERVED_PREFIXES:
        if f"{prefix}/".startswith(f"{reserved}/"):
            raise ValueError(
                f"prefix {prefix!r} must not be under {reserved}/, where the exporter writes "
                "its run reports and Athena results"
            )
    return prefix


# --- tags and Glue -------------------------------------------------------------------


def check_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    """AWS resource tags: keys 1-128 characters, values up to 256, no ``aws:`` keys."""
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"tag {key!r}: keys and values must be text")
        if not 1 <= len(key) <= 128:
            raise ValueError(f"tag key {key!r} must be 1-128 characters long, got {len(key)}")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r} must not start with 'aws:' (reserved by AWS)")
        if len(value) > 256:
            raise ValueError(f"tag {key!r}: value must be at most 256 characters, got {len(value)}")
    return tags


_GLUE_DATABASE = re.compile(r"^[a-z0-9_]{1,255}$")


def check_glue_database(name: str) -> str:
    """Athena reads Glue names in lowercase; underscores avoid quoting in every query."""
    if not _GLUE_DATABASE.match(name):
        raise ValueError(
            "must be 1-255 lowercase letters, digits or underscores (a Glue database name)"
        )
    return name


def check_columns(columns: Mapping[str, str]) -> Mapping[str, str]:
    """Declared attribute types, with the rules Glue and the JSON SerDe put on names."""
    columns_from(columns)
    return columns


# --- the arguments as a whole ----------------------------------------------------------

BOOLS = (
    "schedule_enabled",
    "alarms_enabled",
    "dashboard_enabled",
    "change_history",
    "restore_drill_enabled",
    "include_execution_data",
    "tracing_enabled",
    "catalog_enabled",
)
EXPORT_TYPES = ("FULL_EXPORT", "INCREMENTAL_EXPORT")
CHOICES: dict[str, tuple[str, ...]] = {
    "export_format": EXPORT_FORMATS,
    "export_type": EXPORT_TYPES,
    "export_view_type": ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"),
    "sse_algorithm": SSE_ALGORITHMS,
    "log_level": LOG_LEVELS,
    "table_access": ("exact", "prefix", "all"),
}
INTS: dict[str, Callable[[int], int]] = {
    **{name: partial(check_named_range, name) for name in RANGES},
    "flexible_window_minutes": check_flexible_window,
    "log_retention_days": check_log_retention_days,
}
TEXTS: dict[str, Callable[[str], str]] = {
    "bucket_name": check_bucket_name,
    "bucket_owner": check_account_id,
    "prefix": check_prefix,
    "kms_key_arn": check_kms_key_arn,
    "schedule_expression": check_schedule_expression,
    "restore_drill_schedule": check_schedule_expression,
    "schedule_timezone": check_time_zone,
    "alarm_topic_arn": check_sns_topic_arn,
    "catalog_database_name": check_glue_database,
    "region": check_region,
}
TABLE_KEYS = (
    "table",
    "prefix",
    "export_type",
    "change_history",
    "columns",
    "stream_arn",
    "key_attributes",
)


def _is_output(value: Any) -> bool:
    return isinstance(value, pulumi.Output)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _apply(check: Callable[[Any], Any], value: Any, path: Path) -> list[Problem]:
    try:
        check(value)
    except ValueError as err:
        return [Problem(path, str(err))]
    return []


def check_flag(value: Any, *, from_config: bool = False) -> bool:
    """A boolean. In stack config (``from_config``), also the text ``true`` or ``false``,
    which is how the Pulumi CLI passes a boolean, and nothing else: ``yes``, ``on`` or
    ``1`` would read as true to some and as a typo to others."""
    if isinstance(value, bool):
        return value
    if from_config and value in ("true", "false"):
        return value == "true"
    spelled = "true or false" if from_config else "True or False"
    raise ValueError(f"must be {spelled}, got {shown(value)}")


KEY_ATTRIBUTE_TYPES = ("S", "N", "B")


def check_key_attributes(attributes: Sequence[Mapping[str, str]]) -> Sequence[Mapping[str, str]]:
    """A table's key attributes, partition key first: ``[{"name": "pk", "type": "S"}]``
    and, with a sort key, a second entry (the shape of ``aws.dynamodb.Table``'s
    ``attributes``)."""
    if isinstance(attributes, str) or not isinstance(attributes, Sequence):
        raise ValueError(
            'must be a list like [{"name": "pk", "type": "S"}] (the partition key, then the '
            f"sort key if there is one), got {shown(attributes)}"
        )
    if not 1 <= len(attributes) <= 2:
        raise ValueError(
            "must list the partition key and, if the table has one, the sort key (1-2 "
            f"entries), got {len(attributes)}"
        )
    for attribute in attributes:
        if (
            not isinstance(attribute, Mapping)
            or set(attribute) != {"name", "type"}
            or not isinstance(attribute["name"], str)
            or not attribute["name"]
            or attribute["type"] not in KEY_ATTRIBUTE_TYPES
        ):
            raise ValueError(
                'each entry must be {"name": <attribute>, "type": "S", "N" or "B"}, '
                f"got {shown(attribute)}"
            )
    return attributes


_STREAM_ARN = re.compile(
    rf"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{{12}}:table/(?P<name>{TABLE_NAME_PATTERN})"
    r"/stream/[0-9A-Za-z:.-]+"
)


def check_stream_arn(arn: str, table: str | None = None) -> str:
    """A DynamoDB stream ARN, of ``table`` when its name is known."""
    match = _STREAM_ARN.fullmatch(arn)
    if not match:
        raise ValueError(
            "must be a DynamoDB stream ARN, arn:aws:dynamodb:<region>:<12-digit account>:"
            f"table/<table name>/stream/<label> (the table's stream_arn), got {shown(arn)}"
        )
    if table is not None and match["name"] != table_name_of(table):
        raise ValueError(
            f"is the stream of table {match['name']!r}, not of {table_name_of(table)!r}"
        )
    return arn


_ENTRY_TEXTS = ("table", "prefix", "stream_arn")


def _table_type_problems(
    index: int, table: Any, history_default: Any
) -> tuple[list[Problem], dict[str, Any] | None]:
    """One table entry's type problems, and the entry without its ill-typed keys (None
    when it is not an entry at all)."""
    problems = [
        Problem(("tables", index, key), unknown_key(str(key), TABLE_KEYS))
        for key in (table if isinstance(table, Mapping) else ())
        if key not in TABLE_KEYS
    ]
    if not isinstance(table, Mapping) or table.get("table") is None:
        problems.append(
            Problem(("tables", index), f"must be a mapping with a 'table', got {shown(table)}")
        )
        return problems, None
    entry = {key: value for key, value in table.items() if key in TABLE_KEYS}

    def bad(key: str, rule: str) -> None:
        problems.append(Problem(("tables", index, key), rule))
        entry.pop(key, None)

    for key in _ENTRY_TEXTS:
        value = entry.get(key)
        if value is not None and not isinstance(value, str) and not _is_output(value):
            bad(key, f"must be text, got {shown(value)}")
    kind = entry.get("export_type")
    if kind is not None and kind not in EXPORT_TYPES:
        bad("export_type", f"must be one of {EXPORT_TYPES} (a plain value), got {shown(kind)}")
    history = entry.get("change_history")
    if history is not None and not isinstance(history, bool):
        bad("change_history", f"must be true or false (a plain value), got {shown(history)}")
    columns = entry.get("columns")
    if columns is not None and not isinstance(columns, Mapping):
        bad("columns", f"must be a mapping, got {shown(columns)}")
    if "table" not in entry:
        return problems, None
    on = entry.get("change_history", history_default) is True
    if on and not isinstance(entry["table"], str):
        problems.append(
            Problem(("tables", index, "table"), "must be plain text when change history is "
                    "on: it names the history's S3 folder and Glue table at preview")
        )  # fmt: skip
    has_stream, has_keys = "stream_arn" in entry, "key_attributes" in entry
    if (has_stream or has_keys) and not on:
        problems.append(
            Problem(("tables", index, "stream_arn" if has_stream else "key_attributes"),
                    "is for change history, which is off for this table")
        )  # fmt: skip
    elif has_stream != has_keys:
        given, missing = ("stream_arn", "key_attributes")[:: 1 if has_stream else -1]
        problems.append(
            Problem(("tables", index, missing), f"is required with {given}: together they "
                    "replace the look-up of the table at preview")
        )  # fmt: skip
    return problems, entry


def _type_problems(values: Mapping[str, Any]) -> tuple[list[Problem], dict[str, Any]]:
    """Every type problem, and the values without the ill-typed ones (None instead), so
    the other rules can still judge everything else."""
    problems: list[Problem] = []
    typed = dict(values)

    def bad(name: str, rule: str, fallback: Any = None) -> None:
        problems.append(Problem((name,), rule))
        typed[name] = fallback

    for name in BOOLS:
        if name in values and not isinstance(values[name], bool):
            bad(name, f"must be True or False, got {shown(values[name])}")
    for name in INTS:
        value = values.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            bad(name, f"must be a whole number, got {shown(value)}")
    for name, choices in CHOICES.items():
        if name in values and values[name] not in choices:
            bad(name, f"must be one of {choices}, got {shown(values[name])}")
    for name in TEXTS:
        value = values.get(name)
        if value is not None and not isinstance(value, str) and not _is_output(value):
            bad(name, f"must be text, got {shown(value)}")
    emails = values.get("alarm_emails", ())
    if isinstance(emails, str) or not isinstance(emails, Sequence):
        bad("alarm_emails", f"must be a list of emails, got {shown(emails)}", ())
    tags = values.get("tags", {})
    if not isinstance(tags, Mapping):
        bad("tags", f"must be a mapping of text to text, got {shown(tags)}", {})
    tables = values.get("tables")
    if tables is None:
        return problems, typed
    if isinstance(tables, str | Mapping) or not isinstance(tables, Sequence):
        bad("tables", f"must be a list of table entries, got {shown(tables)}")
        return problems, typed
    entries = []
    for index, table in enumerate(tables):
        table_problems, entry = _table_type_problems(index, table, typed.get("change_history"))
        problems.extend(table_problems)
        entries.append(entry)
    typed["tables"] = entries
    return problems, typed


def _value_problems(values: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for name, int_check in INTS.items():
        if values.get(name) is not None:
            problems.extend(_apply(int_check, values[name], (name,)))
    for name, text_check in TEXTS.items():
        value = values.get(name)
        if isinstance(value, str):
            problems.extend(_apply(text_check, value, (name,)))
    for index, email in enumerate(values.get("alarm_emails") or ()):
        if not isinstance(email, str):
            problems.append(Problem(("alarm_emails", index), f"must be text, got {shown(email)}"))
        else:
            problems.extend(_apply(check_email, email, ("alarm_emails", index)))
    problems.extend(_apply(check_tags, values.get("tags") or {}, ("tags",)))
    for index, table in enumerate(values.get("tables") or ()):
        if table is None:
            continue
        path: Path = ("tables", index)
        if isinstance(table["table"], str):
            problems.extend(_apply(check_table_ref, table["table"], (*path, "table")))
        if isinstance(table.get("prefix"), str):
            problems.extend(_apply(check_prefix, table["prefix"], (*path, "prefix")))
        problems.extend(_apply(check_columns, table.get("columns") or {}, (*path, "columns")))
        if isinstance(table.get("stream_arn"), str):
            of = table["table"] if isinstance(table["table"], str) else None
            problems.extend(
                _apply(partial(check_stream_arn, table=of), table["stream_arn"],
                       (*path, "stream_arn"))
            )  # fmt: skip
        if "key_attributes" in table:
            problems.extend(
                _apply(check_key_attributes, table["key_attributes"], (*path, "key_attributes"))
            )
    return problems


def _in_region(arn: str, region: str, what: str, why: str) -> str | None:
    parsed = parse_arn(arn)
    if parsed is None:
        return None
    partition = partition_of(region)
    if parsed.region == region and parsed.partition == partition:
        return None
    return (
        f"{what} {arn!r} is in {parsed.region} ({parsed.partition}), not in the exporter's "
        f"region {region} ({partition}): {why}"
    )


def _same_name_reason(name: str, prefixes: Sequence[str], catalog: bool) -> str:
    """Why two tables of one name (in two accounts) cannot share an exporter."""
    shared = []
    if len(set(prefixes)) == 1:
        shared.append(f"both would be exported to the S3 folder {prefixes[0]}/{name}/")
    if catalog:
        glue = glue_table_name(name)
        shared.append(
            f"both would be catalogued as the Glue tables {glue}_latest and {glue}_latest_raw"
        )
    if not shared:
        shared.append(
            "the exporter names a table's S3 folder (<prefix>/<table>/) and Glue tables after "
            "the table's name alone and does not support two tables of one name"
        )
    return "; ".join(shared) + "; export them with one exporter per account"


def table_list_problems(
    tables: Sequence[Mapping[str, Any]], default_prefix: str, *, catalog: bool, ref: Ref = _same
) -> list[Problem]:
    """Rules over the list of tables: how many, none twice, names kept apart."""
    problems: list[Problem] = []
    if not 1 <= len(tables) <= MAX_TABLES:
        problems.append(Problem(("tables",), f"must list 1-{MAX_TABLES} tables, got {len(tables)}"))
    plain = [
        (index, t["table"], t.get("prefix") or default_prefix)
        for index, t in enumerate(tables)
        if t is not None and isinstance(t["table"], str)
    ]
    first: dict[str, tuple[int, str, str]] = {}
    for index, table, prefix in plain:
        name = table_name_of(table)
        if name not in first:
            first[name] = (index, table, prefix)
            continue
        earlier, other, other_prefix = first[name]
        arns = [parse_arn(t) for t in (other, table)]
        if table == other or None in arns:
            problems.append(
                Problem(
                    ("tables",),
                    f"table {name!r} is listed twice (tables[{earlier}] and tables[{index}]); "
                    "a name and an ARN of the same table count as the same",
                )
            )
        else:
            where = " and ".join(f"{a.account} {a.region}" for a in arns if a)
            problems.append(
                Problem(
                    ("tables",),
                    f"tables[{earlier}] and tables[{index}] are two tables named {name!r} "
                    f"({where}); " + _same_name_reason(name, [other_prefix, prefix], catalog),
                )
            )
    if catalog:
        glue: dict[str, tuple[int, str]] = {}
        for index, table, _ in plain:
            name = table_name_of(table)
            key = glue_table_name(name, "_latest_raw")
            earlier, other = glue.setdefault(key, (index, name))
            if other != name:
                problems.append(
                    Problem(
                        ("tables",),
                        f"tables[{earlier}] {other!r} and tables[{index}] {name!r} would share "
                        f"the Glue tables {glue_table_name(name)}_latest and _latest_raw (Glue "
                        "names are lowercase, with '_' for every other character); set "
                        f"{ref('catalog_enabled')} to false or export one of them with "
                        "another exporter",
                    )
                )
    return problems


def cross_field_problems(
    values: Mapping[str, Any],
    *,
    given: Iterable[str] = (),
    region: str | None = None,
    ref: Ref = _same,
) -> list[Problem]:
    """Rules that involve several arguments, or the exporter's region (when known).

    ``values``: the arguments with defaults applied; ``given``: the arguments the caller
    set explicitly; ``ref`` spells another argument's name inside a rule.
    """
    explicit = set(given)
    problems: list[Problem] = []

    def short(name: str) -> str:  # the name alone, without a config namespace
        return ref(name).rpartition(":")[2]

    def problem(name: str | Path, rule: str, warning: bool = False) -> None:
        problems.append(Problem((name,) if isinstance(name, str) else name, rule, warning))

    bucket, key = values.get("bucket_name"), values.get("kms_key_arn")
    if values.get("bucket_owner") is not None and bucket is None:
        problem(
            "bucket_owner",
            f"{short('bucket_owner')} requires {short('bucket_name')}: it names the account "
            "that owns an existing bucket",
        )
    if bucket is not None:
        lifecycle = ["expiration_days"] if values.get("expiration_days") is not None else []
        if "noncurrent_version_expiration_days" in explicit:
            lifecycle.append("noncurrent_version_expiration_days")
        for name in lifecycle:
            problem(
                name,
                f"applies only to a bucket the exporter creates; not with {ref('bucket_name')}",
            )
    if values.get("sse_algorithm") == "KMS" and key is None:
        problem("kms_key_arn", f"is required when {short('sse_algorithm')} is KMS")
    if values.get("sse_algorithm") == "AES256" and key is not None:
        problem(
            "kms_key_arn",
            f"must not be set when {short('sse_algorithm')} is AES256 (S3-managed keys)",
        )
    topic, emails = values.get("alarm_topic_arn"), list(values.get("alarm_emails") or ())
    if emails and topic is not None:
        problem(
            "alarm_emails",
            f"cannot be combined with {ref('alarm_topic_arn')}: emails are subscribed only to "
            "the topic the exporter creates",
        )
    elif emails and values.get("alarms_enabled") is False:
        problem(
            "alarm_emails",
            f"are not subscribed while {ref('alarms_enabled')} is false: there is no alarm "
            "topic then",
            warning=True,
        )
    seen: dict[str, int] = {}
    for index, email in enumerate(emails):
        if not isinstance(email, str):
            continue
        earlier = seen.setdefault(email.lower(), index)
        if earlier != index:
            problem(
                ("alarm_emails", index),
                f"{email!r} is {ref('alarm_emails')}[{earlier}] again (addresses are compared "
                "ignoring case); list each address once",
            )
    if region is not None:
        for name, arn in (("kms_key_arn", key), ("alarm_topic_arn", topic)):
            if isinstance(arn, str):
                rule = _in_region(arn, region, *_IN_REGION[name])
                if rule:
                    problem(name, rule)
        for index, table in enumerate(values.get("tables") or ()):
            if table is None:
                continue
            if isinstance(table["table"], str) and table["table"].startswith("arn:"):
                rule = _in_region(table["table"], region, *_IN_REGION["table"])
                if rule:
                    problem(("tables", index, "table"), rule)
    run, export = values.get("run_timeout_hours"), values.get("export_timeout_hours")
    if run is not None and export is not None and run < export:
        problem(
            "run_timeout_hours",
            f"must be at least {ref('export_timeout_hours')} ({export}), got {run}",
        )
    low, high = values.get("poll_min_seconds"), values.get("poll_max_seconds")
    if low is not None and high is not None and low > high:
        problem(
            "poll_min_seconds",
            f"must be at most {ref('poll_max_seconds')} ({high}), got {low}",
        )
    if values.get("catalog_enabled") and values.get("export_format") == "ION":
        problem(
            "export_format",
            f"ION exports cannot be catalogued for Athena; use DYNAMODB_JSON or set "
            f"{ref('catalog_enabled')} to false",
        )
    if values.get("tables") is None:  # missing or not a list: reported on its own
        return problems
    tables = list(values["tables"])
    default_prefix = str(values.get("prefix") or "")
    problems.extend(
        table_list_problems(
            tables, default_prefix, catalog=bool(values.get("catalog_enabled")), ref=ref
        )
    )
    plain = [t["table"] for t in tables if t is not None and isinstance(t["table"], str)]
    if values.get("table_access") == "exact" and plain and len(plain) == len(tables):
        prefixes = [str(t.get("prefix") or default_prefix) for t in tables]
        estimate = exact_policy_estimate(plain, prefixes)
        if estimate > INLINE_POLICY_LIMIT:
            problem(
                "table_access",
                f"'exact' cannot name {len(plain)} tables one by one: that needs about "
                f"{estimate} characters of IAM policy, over IAM's {INLINE_POLICY_LIMIT}-character "
                "limit; use 'prefix' (also grants tables sharing a name prefix) or 'all' "
                "(every table in the account and region)",
            )
    return problems


def argument_problems(
    values: Mapping[str, Any], *, given: Iterable[str] = (), region: str | None = None
) -> list[Problem]:
    """Every rule over the component's arguments (defaults applied), errors and warnings.

    Values that are Outputs are not known yet and are not checked (the flags that shape
    the resource graph are refused as Outputs by the caller). An ill-typed value is
    reported for its type, and the other rules judge everything else without it.
    """
    problems, values = _type_problems(values)
    region = region if region is not None else _plain(values.get("region"))
    if region is not None and not _REGION.fullmatch(region):
        region = None  # reported as a bad value; nothing to compare with
    return (
        problems
        + _value_problems(values)
        + cross_field_problems(values, given=given, region=region)
    )


def is_region(region: Any) -> bool:
    return isinstance(region, str) and bool(_REGION.fullmatch(region))


RESOLVED_ARGUMENTS = (
    "bucket_name",
    "bucket_owner",
    "kms_key_arn",
    "schedule_expression",
    "schedule_timezone",
    "alarm_topic_arn",
)
"""The arguments that may be Outputs: checked by ``resolved_problems`` when they resolve."""

_IN_REGION = {
    "kms_key_arn": (
        "KMS key",
        "exports are encrypted in the exporter's region and a KMS key serves only its own "
        "region; use a key (or a multi-Region replica) there",
    ),
    "alarm_topic_arn": ("topic", "CloudWatch alarms notify topics of their own region only"),
    "table": (
        "table",
        "DynamoDB exports a table from its own region, where the exporter's state machines "
        "must call it",
    ),
}
_ENTRY_CHECKS: dict[str, Callable[[str], str]] = {
    "table": check_table_ref,
    "prefix": check_prefix,
    "stream_arn": check_stream_arn,
}


def resolved_problems(path: Path, value: Any, region: str | None = None) -> list[Problem]:
    """The rules of one argument (``("bucket_name",)``) or table entry key
    (``("tables", 0, "table")``) over its value once an Output has resolved it, with the
    exporter's ``region`` when it is known by then."""
    name = str(path[-1])
    if value is None and name not in ("table", "stream_arn"):
        return []
    if not isinstance(value, str):
        return [Problem(path, f"must be text, got {shown(value)}")]
    check = _ENTRY_CHECKS[name] if path[0] == "tables" else TEXTS[name]
    problems = _apply(check, value, path)
    if not problems and region is not None and name in _IN_REGION:
        what, why = _IN_REGION[name]
        rule = _in_region(value, region, what, why)
        if rule:
            problems.append(Problem(path, rule))
    return problems


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) else None
