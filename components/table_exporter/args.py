"""The component's inputs, as a TypedDict of ``pulumi.Input`` values, and their checks.

Flags that decide whether a resource exists (``schedule_enabled``, ``alarms_enabled``,
``tracing_enabled``, whether ``bucket_name``/``alarm_topic_arn``/``kms_key_arn`` are
given) must be plain values, never Outputs: preview has to know the resource graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

import pulumi

from .policies import INLINE_POLICY_LIMIT, exact_policy_estimate
from .run_machine import MAX_CONCURRENT_EXPORTS
from .schema import columns_from
from .table_export_machine import EXPORT_FORMATS, SSE_ALGORITHMS

LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class TableArgs(TypedDict, total=False):
    table: pulumi.Input[str]
    """A table name (in the exporter's account and region) or a table ARN. Required."""
    prefix: pulumi.Input[str]
    """S3 prefix for this table's exports. Default: the component's ``prefix``."""
    export_type: Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"]
    """This table's export type. Default: the component's ``export_type``. A plain value."""
    columns: Mapping[str, str]
    """Attributes to type in Athena and local queries, besides the key attributes:
    name -> ``string``, ``number``, ``boolean``, ``list``, ``map``, ``string_set``,
    ``number_set`` or ``binary`` (see ``schema.py``). Default none."""


class TableExporterArgs(TypedDict, total=False):
    tables: Sequence[TableArgs]
    """The tables to export (at least one). Required."""
    bucket_name: pulumi.Input[str]
    """Existing destination bucket. Default: a bucket is created (private, encrypted,
    versioned, TLS-only, with lifecycle rules)."""
    bucket_owner: pulumi.Input[str]
    """Account that owns ``bucket_name``, when it is another account. Default: none."""
    prefix: str
    """S3 key prefix for all tables. Default ``dynamodb-exports``."""
    export_format: Literal["DYNAMODB_JSON", "ION"]
    """Default ``DYNAMODB_JSON``."""
    export_type: Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"]
    """``FULL_EXPORT`` every run (default), or ``INCREMENTAL_EXPORT``: a baseline, then
    the changes since the last completed export, tracked by a watermark per table."""
    export_view_type: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]
    """What incremental exports carry per changed item. Default ``NEW_AND_OLD_IMAGES``."""
    watermark_lag_alarm_hours: int
    """Alarm when an incremental table's watermark is this far behind. Default 30."""
    sse_algorithm: Literal["AES256", "KMS"]
    """Encryption of exported objects. Default ``AES256``."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key; required with ``sse_algorithm="KMS"``, only then."""
    schedule_expression: pulumi.Input[str]
    """EventBridge Scheduler ``cron(...)`` or ``rate(...)``. Default ``cron(0 4 * * ? *)``."""
    schedule_timezone: pulumi.Input[str]
    """IANA time zone of the schedule. Default ``UTC``."""
    schedule_enabled: bool
    """Whether the schedule fires. Default True."""
    flexible_window_minutes: int
    """0 for an exact time (default), else 1-1440 minutes of allowed delay."""
    max_concurrency: int
    """Tables exported at once, 1-300 (DynamoDB's per-account export quota). Default 10."""
    alarms_enabled: bool
    """Default True."""
    alarm_topic_arn: pulumi.Input[str]
    """SNS topic for alarm actions. Default: a topic is created."""
    alarm_emails: Sequence[str]
    """Emails subscribed to the created topic. Default none."""
    staleness_hours: int
    """Alarm when no run has succeeded for this many hours (1-168). Default 26."""
    log_level: Literal["ALL", "ERROR", "FATAL", "OFF"]
    """Step Functions execution log level. Default ``ERROR``."""
    log_retention_days: int
    """CloudWatch Logs retention. Default 30."""
    include_execution_data: bool
    """Log states' input and output. Default False."""
    tracing_enabled: bool
    """X-Ray tracing. Default False."""
    export_timeout_hours: int
    """Per-table export execution timeout. Default 24."""
    run_timeout_hours: int
    """Whole-run timeout, at least ``export_timeout_hours``. Default 48."""
    poll_min_seconds: int
    """Shortest wait between export status polls. Default 60."""
    poll_max_seconds: int
    """Longest wait between export status polls. Default 3600."""
    noncurrent_version_expiration_days: int
    """Created bucket: delete overwritten versions after this many days. Default 30."""
    expiration_days: int
    """Created bucket: delete exports after this many days. Default: never."""
    tags: Mapping[str, str]
    """Tags for every taggable resource. Default none."""
    catalog_enabled: bool
    """Create a Glue database and Athena workgroup, and keep ``<table>_latest`` tables
    pointed at each table's newest completed export. Default True."""
    catalog_database_name: str
    """Glue database name. Default ``<name>_dynamodb_exports``."""
    table_access: Literal["exact", "prefix", "all"]
    """How the table export role names tables: ``exact`` ARNs (default; fails clearly
    when too many tables to list within IAM's policy size limit), ``prefix`` patterns,
    or ``all`` tables of the account and region. See ``policies.TableAccess``."""


DEFAULTS: dict[str, Any] = {
    "prefix": "dynamodb-exports",
    "export_format": "DYNAMODB_JSON",
    "export_type": "FULL_EXPORT",
    "export_view_type": "NEW_AND_OLD_IMAGES",
    "watermark_lag_alarm_hours": 30,
    "sse_algorithm": "AES256",
    "schedule_expression": "cron(0 4 * * ? *)",
    "schedule_timezone": "UTC",
    "schedule_enabled": True,
    "flexible_window_minutes": 0,
    "max_concurrency": 10,
    "alarms_enabled": True,
    "alarm_emails": (),
    "staleness_hours": 26,
    "log_level": "ERROR",
    "log_retention_days": 30,
    "include_execution_data": False,
    "tracing_enabled": False,
    "export_timeout_hours": 24,
    "run_timeout_hours": 48,
    "poll_min_seconds": 60,
    "poll_max_seconds": 3600,
    "noncurrent_version_expiration_days": 30,
    "tags": {},
    "table_access": "exact",
    "catalog_enabled": True,
}

_PLAIN = (
    "prefix",
    "export_format",
    "sse_algorithm",
    "schedule_enabled",
    "flexible_window_minutes",
    "max_concurrency",
    "alarms_enabled",
    "alarm_emails",
    "staleness_hours",
    "log_level",
    "log_retention_days",
    "include_execution_data",
    "tracing_enabled",
    "export_timeout_hours",
    "run_timeout_hours",
    "poll_min_seconds",
    "poll_max_seconds",
    "noncurrent_version_expiration_days",
    "expiration_days",
    "table_access",
    "export_type",
    "export_view_type",
    "watermark_lag_alarm_hours",
    "catalog_enabled",
    "catalog_database_name",
)


class TableExporterArgsError(ValueError):
    """Raised at construction, so contradictory arguments fail at preview."""


def _check(condition: bool, field: str, rule: str) -> None:
    if not condition:
        raise TableExporterArgsError(f"TableExporter {field}: {rule}")


def resolve(args: TableExporterArgs) -> dict[str, Any]:
    """Defaults applied and every plain rule checked; Inputs are left as they are."""
    values: dict[str, Any] = {**DEFAULTS, **{k: v for k, v in args.items() if v is not None}}
    for field in _PLAIN:
        _check(
            not isinstance(values.get(field), pulumi.Output),
            field,
            "must be a plain value, not an Output",
        )
    tables = values.get("tables")
    _check(bool(tables), "tables", "at least one table is required")
    for index, table in enumerate(tables or ()):
        _check(
            isinstance(table, Mapping) and "table" in table, f"tables[{index}]", "needs a 'table'"
        )
    _check(
        values["export_format"] in EXPORT_FORMATS,
        "export_format",
        f"must be one of {EXPORT_FORMATS}",
    )
    _check(
        values["sse_algorithm"] in SSE_ALGORITHMS,
        "sse_algorithm",
        f"must be one of {SSE_ALGORITHMS}",
    )
    has_key = values.get("kms_key_arn") is not None
    _check(
        has_key == (values["sse_algorithm"] == "KMS"),
        "kms_key_arn",
        "is required with sse_algorithm KMS and not allowed with AES256",
    )
    _check(
        values.get("bucket_owner") is None or values.get("bucket_name") is not None,
        "bucket_owner",
        "only applies to an existing bucket (set bucket_name)",
    )
    _check(
        values.get("expiration_days") is None or values.get("bucket_name") is None,
        "expiration_days",
        "lifecycle rules only apply to a bucket the component creates",
    )
    _check(
        1 <= values["max_concurrency"] <= MAX_CONCURRENT_EXPORTS,
        "max_concurrency",
        f"must be 1..{MAX_CONCURRENT_EXPORTS} (DynamoDB runs at most 300 exports at once per account and region)",
    )
    window = values["flexible_window_minutes"]
    _check(
        window == 0 or 1 <= window <= 1440, "flexible_window_minutes", "must be 0 (off) or 1..1440"
    )
    _check(
        not (values.get("alarm_topic_arn") is not None and values["alarm_emails"]),
        "alarm_emails",
        "emails subscribe to the topic the component creates; do not combine with alarm_topic_arn",
    )
    _check(1 <= values["staleness_hours"] <= 168, "staleness_hours", "must be 1..168")
    for index, table in enumerate(tables or ()):
        kind = table.get("export_type") or values["export_type"]
        _check(
            kind in ("FULL_EXPORT", "INCREMENTAL_EXPORT"),
            f"tables[{index}].export_type",
            "must be FULL_EXPORT or INCREMENTAL_EXPORT (a plain value)",
        )
    _check(
        not (values["catalog_enabled"] and values["export_format"] == "ION"),
        "export_format",
        "ION exports cannot be catalogued (Athena's tables read DYNAMODB_JSON); "
        "set catalog_enabled to False or use DYNAMODB_JSON",
    )
    for index, table in enumerate(tables or ()):
        try:
            columns_from(table.get("columns") or {})
        except ValueError as err:
            raise TableExporterArgsError(f"TableExporter tables[{index}].columns: {err}") from err
    _check(
        values["export_view_type"] in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"),
        "export_view_type",
        "must be NEW_IMAGE or NEW_AND_OLD_IMAGES",
    )
    _check(
        1 <= values["watermark_lag_alarm_hours"] <= 720,
        "watermark_lag_alarm_hours",
        "must be 1..720",
    )
    _check(
        values["table_access"] in ("exact", "prefix", "all"),
        "table_access",
        "must be one of ('exact', 'prefix', 'all')",
    )
    plain_tables = [t["table"] for t in tables or () if isinstance(t.get("table"), str)]
    if values["table_access"] == "exact" and len(plain_tables) == len(tables or ()):
        prefixes = [str(t.get("prefix") or values["prefix"]) for t in tables or ()]
        estimate = exact_policy_estimate(plain_tables, prefixes)
        _check(
            estimate <= INLINE_POLICY_LIMIT,
            "tables",
            f"{len(plain_tables)} tables need about {estimate} characters of IAM policy when each "
            f"is named exactly, over IAM's {INLINE_POLICY_LIMIT}-character limit for a role's inline "
            "policies; set table_access to 'prefix' (grants tables sharing a name prefix) or 'all' "
            "(every table in the account and region)",
        )
    _check(values["log_level"] in LOG_LEVELS, "log_level", f"must be one of {LOG_LEVELS}")
    _check(
        values["log_retention_days"] in LOG_RETENTION_DAYS,
        "log_retention_days",
        f"must be one of CloudWatch Logs' values {LOG_RETENTION_DAYS}",
    )
    _check(1 <= values["export_timeout_hours"] <= 168, "export_timeout_hours", "must be 1..168")
    _check(
        values["export_timeout_hours"] <= values["run_timeout_hours"] <= 8760,
        "run_timeout_hours",
        "must be at least export_timeout_hours and at most 8760 (one year)",
    )
    _check(
        1 <= values["poll_min_seconds"] <= values["poll_max_seconds"] <= 86_400,
        "poll_min_seconds",
        "need 1 <= poll_min_seconds <= poll_max_seconds <= 86400",
    )
    return values
