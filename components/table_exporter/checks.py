"""Value checks: one value each, pure. Each returns its value unchanged or raises
``ValueError`` stating the rule in plain words, so it serves as a pydantic validator
(the program's settings) as well as a rule of the component's arguments
(``rules``). ``config`` names which check each argument gets.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from table_exporter.catalog.schema import columns_from
from table_exporter.kernel import time_zones
from table_exporter.kernel.targets import ATHENA_RESULTS_PREFIX, REPORT_PREFIX


def shown(value: Any) -> str:
    """A value as a problem quotes it: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- numbers -------------------------------------------------------------------


def check_range(value: int, low: int, high: int, unit: str = "", why: str = "") -> int:
    """Check ``low <= value <= high``; ``why`` explains where the limit comes from."""
    if not low <= value <= high:
        unit_text = f" {unit}" if unit else ""
        why_text = f" ({why})" if why else ""
        raise ValueError(f"must be {low}-{high}{unit_text}{why_text}, got {value}")
    return value


@dataclass(frozen=True)
class Range:
    """A whole number's range, itself a check: ``Range(1, 168, "hours")(200)`` raises."""

    low: int
    high: int
    unit: str = ""
    why: str = ""

    def __call__(self, value: int) -> int:
        return check_range(value, self.low, self.high, self.unit, self.why)


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
