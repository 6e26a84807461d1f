"""Every argument of the exporter, once: its name, kind, default, rule, whether it may be
an Output, and the name of the program's setting for it.

What else describes an argument is derived from these records or checked against them:

* ``args.DEFAULTS``, the arguments that must be plain values and those checked when an
  Output resolves;
* the type and value rules ``rules`` applies to a set of arguments (one record, one
  rule; the rules over several arguments stay in ``rules``);
* the program's pydantic settings (``program/settings.py`` builds its fields from the
  records; only the dev and prd defaults are its own);
* ``TableExporterArgs``/``TableArgs`` (``args.py``): they stay written out, because
  Pulumi's schema analyzer reads their source for the schema every other language
  sees; ``tests/test_config.py`` checks that their keys, order, annotations and
  descriptions agree with the records, and that the docs' tables list exactly these
  records with these defaults and ranges.

No record reads another: rules over several arguments (``run_timeout_hours`` at least
``export_timeout_hours``, ``kms_key_arn`` with ``KMS``) are ``rules.cross_field_problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from table_exporter import checks
from table_exporter.catalog.schema import COLUMN_TYPES
from table_exporter.checks import Range, shown
from table_exporter.kernel.limits import MAX_CONCURRENT_EXPORTS
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.targets import EXPORT_FORMATS, SSE_ALGORITHMS


@dataclass(frozen=True, eq=False)
class Kind:
    """What type of value an argument takes, and how a wrong one is reported."""

    name: str
    accepts: Callable[[Any, Arg], bool]
    expected: Callable[[Arg], str]  # "must be ..." without the value given
    fallback: Any = None  # what the other rules see instead of an ill-typed value

    def problem(self, arg: Arg, value: Any) -> str | None:
        """The type rule ``value`` breaks, or None."""
        if self.accepts(value, arg):
            return None
        return f"{self.expected(arg)}, got {shown(value)}"


def _is_int(value: Any, _: Arg) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any, _: Arg) -> bool:
    return isinstance(value, str | pulumi.Output)


def _is_list(value: Any, _: Arg) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


FLAG = Kind("flag", lambda v, _: isinstance(v, bool), lambda _: "must be True or False")
WHOLE = Kind("whole", _is_int, lambda _: "must be a whole number")
CHOICE = Kind("choice", lambda v, a: v in a.choices, lambda a: f"must be one of {a.choices}")
TEXT = Kind("text", _is_text, lambda _: "must be text")
EMAILS = Kind("emails", _is_list, lambda _: "must be a list of emails", ())
TAGS = Kind(
    "tags", lambda v, _: isinstance(v, Mapping), lambda _: "must be a mapping of text to text", {}
)
TABLES = Kind("tables", _is_list, lambda _: "must be a list of table entries")
COLUMNS = Kind("columns", lambda v, _: isinstance(v, Mapping), lambda _: "must be a mapping")
KEY_ATTRIBUTES = Kind("key_attributes", lambda v, _: True, lambda _: "")  # its check says it all
KIND_ORDER = (FLAG, WHOLE, CHOICE, TEXT, EMAILS, TAGS)
"""The order type problems of top-level arguments are reported in."""


@dataclass(frozen=True, eq=False)
class Arg:
    """One argument of ``TableExporter`` (or key of a table entry).

    ``check``: the rule over one value (a ``checks.check_*`` or a ``Range``), or, for a
    list, over each item. ``output``: the value may be an Output, checked when it
    resolves; otherwise it must be plain (but for ``tables`` and ``tags``, whose type
    rule refuses an Output). ``setting``: the program's setting, ``""`` when it is
    spelled like the argument, None when the program leaves the argument at its default.
    """

    name: str
    kind: Kind
    default: Any = None
    check: Callable[[Any], Any] | None = None
    choices: tuple[str, ...] = ()
    output: bool = False
    required: bool = False
    setting: str | None = ""

    @property
    def plain(self) -> bool:
        """Refused as an Output: preview needs the value (it shapes the resources)."""
        return not self.output and self.kind not in (TABLES, TAGS)

    @property
    def setting_name(self) -> str | None:
        return self.name if self.setting == "" else self.setting

    @property
    def range(self) -> Range | None:
        return self.check if isinstance(self.check, Range) else None


def _hours(high: int, why: str = "") -> Range:
    return Range(1, high, "hours", why)


EXPORT_TYPES = ("FULL_EXPORT", "INCREMENTAL_EXPORT")
EXPORT_VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
TABLE_ACCESS = ("exact", "prefix", "all")

TABLE_ENTRY: tuple[Arg, ...] = (
    Arg("table", TEXT, check=checks.check_table_ref, output=True, required=True),
    Arg("prefix", TEXT, check=checks.check_prefix, output=True),
    Arg("export_type", CHOICE, choices=EXPORT_TYPES),
    Arg("change_history", FLAG),
    Arg("current_table", FLAG),
    Arg("columns", COLUMNS, {}, checks.check_columns, choices=COLUMN_TYPES),
    Arg("stream_arn", TEXT, check=checks.check_stream_arn, output=True, setting=None),
    Arg("key_attributes", KEY_ATTRIBUTES, check=checks.check_key_attributes, setting=None),
)
"""The keys of one entry of ``tables``, in ``TableArgs``' order. An entry without a key
takes the exporter's argument of that name (without ``columns``, it declares none)."""

ARGUMENTS: tuple[Arg, ...] = (
    Arg("tables", TABLES, required=True),
    Arg("bucket_name", TEXT, check=checks.check_bucket_name, output=True),
    Arg("bucket_owner", TEXT, check=checks.check_account_id, output=True),
    Arg("prefix", TEXT, "dynamodb-exports", checks.check_prefix),
    Arg("export_format", CHOICE, "DYNAMODB_JSON", choices=EXPORT_FORMATS),
    Arg("export_type", CHOICE, "FULL_EXPORT", choices=EXPORT_TYPES),
    Arg("export_view_type", CHOICE, "NEW_AND_OLD_IMAGES", choices=EXPORT_VIEW_TYPES),
    Arg("watermark_lag_alarm_hours", WHOLE, 30, _hours(720)),
    Arg("sse_algorithm", CHOICE, "AES256", choices=SSE_ALGORITHMS),
    Arg("kms_key_arn", TEXT, check=checks.check_kms_key_arn, output=True),
    Arg(
        "schedule_expression",
        TEXT,
        "cron(0 4 * * ? *)",
        checks.check_schedule_expression,
        output=True,
    ),
    Arg("schedule_timezone", TEXT, "UTC", checks.check_time_zone, output=True),
    Arg("schedule_enabled", FLAG, True),
    Arg("flexible_window_minutes", WHOLE, 0, checks.check_flexible_window),
    Arg(
        "max_concurrency",
        WHOLE,
        10,
        Range(
            1,
            MAX_CONCURRENT_EXPORTS,
            why=f"{MAX_CONCURRENT_EXPORTS} is DynamoDB's quota of concurrent exports per "
            "account and region",
        ),
    ),
    Arg("alarms_enabled", FLAG, True),
    Arg("change_history", FLAG, False),
    Arg("current_table", FLAG, False),
    Arg("restore_drill_enabled", FLAG, False),
    Arg("restore_drill_schedule", TEXT, "cron(0 5 ? * SUN *)", checks.check_schedule_expression),
    Arg(
        "restore_drill_window_hours", WHOLE, 168, _hours(168, "CloudWatch evaluates at most 7 days")
    ),
    Arg("dashboard_enabled", FLAG, True),
    Arg("alarm_topic_arn", TEXT, check=checks.check_sns_topic_arn, output=True),
    Arg("alarm_emails", EMAILS, (), checks.check_email),
    Arg("staleness_hours", WHOLE, 26, _hours(168, "at most one week")),
    Arg("log_level", CHOICE, "ERROR", choices=checks.LOG_LEVELS),
    Arg("log_retention_days", WHOLE, 30, checks.check_log_retention_days),
    Arg("include_execution_data", FLAG, False, setting=None),
    Arg("tracing_enabled", FLAG, False),
    Arg("export_timeout_hours", WHOLE, 24, _hours(168)),
    Arg("run_timeout_hours", WHOLE, 48, _hours(8760, "at most one year")),
    Arg(
        "poll_min_seconds", WHOLE, PollPolicy.min_seconds, Range(1, 86_400, "seconds"), setting=None
    ),
    Arg(
        "poll_max_seconds", WHOLE, PollPolicy.max_seconds, Range(1, 86_400, "seconds"), setting=None
    ),
    Arg("noncurrent_version_expiration_days", WHOLE, 30, Range(1, 3650, "days")),
    Arg("expiration_days", WHOLE, None, Range(1, 3650, "days")),
    Arg("tags", TAGS, {}, checks.check_tags),
    Arg("catalog_enabled", FLAG, True),
    Arg(
        "catalog_database_name", TEXT, check=checks.check_glue_database, setting="catalog_database"
    ),
    Arg("region", TEXT, check=checks.check_region, setting=None),
    Arg("table_access", CHOICE, "exact", choices=TABLE_ACCESS),
)
"""The exporter's arguments, in ``TableExporterArgs``' order."""

ARGUMENT: dict[str, Arg] = {arg.name: arg for arg in ARGUMENTS}
ENTRY_KEY: dict[str, Arg] = {arg.name: arg for arg in TABLE_ENTRY}

DEFAULTS: dict[str, Any] = {a.name: a.default for a in ARGUMENTS if a.default is not None}
PLAIN: tuple[str, ...] = tuple(a.name for a in ARGUMENTS if a.plain)
RESOLVED: tuple[str, ...] = tuple(a.name for a in ARGUMENTS if a.output)
"""The arguments that may be Outputs: checked by ``rules.resolved_problems`` on resolve."""
CHOICES: dict[str, tuple[str, ...]] = {a.name: a.choices for a in ARGUMENTS if a.kind is CHOICE}
RANGES: dict[str, Range] = {a.name: a.range for a in ARGUMENTS if a.range is not None}
SETTING_OF_ARGUMENT: dict[str, str] = {
    a.name: a.setting for a in (*ARGUMENTS, *TABLE_ENTRY) if a.setting
}
"""Arguments whose program setting is spelled otherwise (``catalog_database``)."""


def by_kind(kinds: Sequence[Kind] = KIND_ORDER) -> list[Arg]:
    """The top-level arguments of ``kinds``, kind by kind, each kind in record order."""
    return [arg for kind in kinds for arg in ARGUMENTS if arg.kind is kind]
