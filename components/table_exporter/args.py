"""The component's inputs, as a TypedDict of ``pulumi.Input`` values, and ``resolve``,
which applies the defaults and every rule of ``rules`` before anything is registered.

Flags that decide whether a resource exists (``schedule_enabled``, ``alarms_enabled``,
``tracing_enabled``, whether ``bucket_name``/``alarm_topic_arn``/``kms_key_arn`` are
given) must be plain values, never Outputs: preview has to know the resource graph.
"""

import sys
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import pulumi

from table_exporter import checks, config, rules
from table_exporter.checks import LOG_LEVELS, LOG_RETENTION_DAYS
from table_exporter.kernel import limits

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pulumi itself depends on typing_extensions
    from typing_extensions import Required

__all__ = [
    "DEFAULTS",
    "LOG_LEVELS",
    "LOG_RETENTION_DAYS",
    "TableArgs",
    "TableExporterArgs",
    "TableExporterArgsError",
    "resolve",
]

# The annotations below are read twice: by type checkers, and at run time by Pulumi's
# schema analyzer (``provider.py``), which makes them the schema that every other Pulumi
# language sees. The analyzer reads no ``Literal``, so the choices are ``Literal`` for
# type checkers and text at run time, where ``rules`` checks them; each description
# names them. No ``from __future__ import annotations`` here: the analyzer needs the
# annotations as objects, not strings.
if TYPE_CHECKING:
    ExportFormat = Literal["DYNAMODB_JSON", "ION"]
    ExportType = Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"]
    ExportViewType = Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"]
    SseAlgorithm = Literal["AES256", "KMS"]
    LogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]
    TableAccess = Literal["exact", "prefix", "all"]
else:
    ExportFormat = ExportType = ExportViewType = SseAlgorithm = LogLevel = TableAccess = str


class TableArgs(TypedDict, total=False):
    """One table to export, and what of the component's settings it overrides."""

    table: Required[pulumi.Input[str]]
    """A table name (in the exporter's account and region) or a table ARN. Required."""
    prefix: pulumi.Input[str]
    """S3 prefix for this table's exports. Default: the component's ``prefix``."""
    export_type: ExportType
    """This table's export type, ``FULL_EXPORT`` or ``INCREMENTAL_EXPORT``. Default: the
    component's ``export_type``. A plain value."""
    change_history: bool
    """Every write to this table reaches S3 within minutes (``ChangeHistory``). Default:
    the component's ``change_history``. A plain value; the table must then be given as
    plain text, and its stream must be on with view type NEW_AND_OLD_IMAGES."""
    current_table: bool
    """Keep ``<table>_current``, an Iceberg table of this table's items as of its last
    completed export (``docs/current-state.md``). Default: the component's
    ``current_table``. A plain value."""
    columns: Mapping[str, str]
    """Attributes to type in Athena and local queries, besides the key attributes:
    name -> ``string``, ``number``, ``boolean``, ``list``, ``map``, ``string_set``,
    ``number_set`` or ``binary`` (see ``schema.py``). Default none."""
    stream_arn: pulumi.Input[str]
    """With change history: the table's stream ARN (``aws.dynamodb.Table``'s
    ``stream_arn``), so the table is not looked up at preview and a table created in the
    same program has its history from the first deployment. Needs ``key_attributes``."""
    key_attributes: Sequence[Mapping[str, str]]
    """With ``stream_arn``: the table's key attributes, partition key first, as
    ``[{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}]``. A plain value."""


class TableExporterArgs(TypedDict, total=False):
    """The exporter's arguments: the tables, and settings shared by all of them."""

    tables: Required[Sequence[TableArgs]]
    """The tables to export (at least one). Required."""
    bucket_name: pulumi.Input[str]
    """Existing destination bucket. Default: a bucket is created (private, encrypted,
    versioned, TLS-only, with lifecycle rules)."""
    bucket_owner: pulumi.Input[str]
    """Account that owns ``bucket_name``, when it is another account. Default: none."""
    prefix: str
    """S3 key prefix for all tables. Default ``dynamodb-exports``."""
    export_format: ExportFormat
    """``DYNAMODB_JSON`` or ``ION``. Default ``DYNAMODB_JSON``."""
    export_type: ExportType
    """``FULL_EXPORT`` every run, or ``INCREMENTAL_EXPORT``: a baseline, then the changes
    since the last completed export, tracked by a watermark per table. Default
    ``FULL_EXPORT``."""
    export_view_type: ExportViewType
    """What incremental exports carry per changed item, ``NEW_IMAGE`` or
    ``NEW_AND_OLD_IMAGES``. Default ``NEW_AND_OLD_IMAGES``."""
    watermark_lag_alarm_hours: int
    """Alarm when an incremental table's watermark is this far behind. Default 30."""
    sse_algorithm: SseAlgorithm
    """Encryption of exported objects, ``AES256`` or ``KMS``. Default ``AES256``."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key; required with ``sse_algorithm="KMS"``, only then."""
    schedule_expression: pulumi.Input[str]
    """EventBridge Scheduler ``cron(...)`` or ``rate(...)``. Default ``cron(0 4 * * ? *)``."""
    schedule_timezone: pulumi.Input[str]
    """IANA time zone of the schedule. Default ``UTC``."""
    schedule_enabled: bool
    """Whether the schedule fires. Default True."""
    flexible_window_minutes: int
    """0 for an exact time, else 1-1440 minutes of allowed delay. Default 0."""
    max_concurrency: int
    """Tables exported at once, 1-300 (DynamoDB's per-account export quota). Default 10."""
    alarms_enabled: bool
    """Default True."""
    change_history: bool
    """Change history for every table without its own ``change_history``: its writes, in
    order, as GZIP JSON lines under ``<prefix>/<table>/history/`` through its DynamoDB
    stream, EventBridge Pipes and Firehose (no Lambda). Default False."""
    current_table: bool
    """For every table without its own ``current_table``: keep ``<table>_current``, an
    Iceberg table in the Glue database equal to the table as of its last completed
    export, replaced after each full export and merged after each incremental window
    through Athena (no Lambda), maintained by Glue's table optimizers. Needs
    ``catalog_enabled``. Default False."""
    restore_drill_enabled: bool
    """Prove the exports restore: on ``restore_drill_schedule``, each table's newest
    completed full export (or baseline) is imported into a scratch table, its counts
    compared with the export's, a report written under ``drill-reports/``, and the
    scratch table deleted (``drill_machine.py``). Default False."""
    restore_drill_schedule: str
    """When drills run (cron/rate, in ``schedule_timezone``). Default
    ``cron(0 5 ? * SUN *)``, weekly on Sunday 05:00."""
    restore_drill_window_hours: int
    """Alarm when no drill succeeded for this long, 1-168. Default 168."""
    dashboard_enabled: bool
    """A CloudWatch dashboard of the exporter's runs, exports and alarms. Default True."""
    alarm_topic_arn: pulumi.Input[str]
    """SNS topic for alarm actions. Default: a topic is created."""
    alarm_emails: Sequence[str]
    """Emails subscribed to the created topic. Default none."""
    staleness_hours: int
    """Alarm when no run has succeeded for this many hours (1-168). Default 26."""
    log_level: LogLevel
    """Step Functions execution log level: ``ALL``, ``ERROR``, ``FATAL`` or ``OFF``.
    Default ``ERROR``."""
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
    region: str
    """The exporter's region (its provider's), to check table, KMS key and topic ARNs
    against at construction. Default: the stack's ``aws:region`` config, when set; pass
    it when the component is given a provider of another region. ARNs that are Outputs
    are not known at construction: a table ARN of another region or partition is then
    refused only when the region is resolved, during the deployment's planning."""
    table_access: TableAccess
    """How the table export role names tables: ``exact`` ARNs (fails clearly when too
    many tables to list within IAM's policy size limit), ``prefix`` patterns, or ``all``
    tables of the account and region. See ``policies.TableAccess``. Default ``exact``."""


DEFAULTS: dict[str, Any] = config.DEFAULTS
"""Each argument's default (``config``, where each argument is declared once)."""
_PLAIN = config.PLAIN


class TableExporterArgsError(pulumi.RunError):
    """Raised at construction, before anything is registered, so bad arguments fail at
    preview: one line ``<argument>: <rule>`` per problem, e.g.
    ``tables[1].table: table name 'my orders' may contain only ...``. Arguments that are
    Outputs raise it when they resolve, during the deployment's planning.

    A ``pulumi.RunError``: uncaught, Pulumi prints its lines as they are, without a
    traceback (and, raised inside an ``apply``, without wrapping it in ``While
    processing`` lines, which Pulumi adds to ``ValueError`` only)."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


NO_ARGS: TableExporterArgs = {}  # type: ignore[typeddict-item]  # a sentinel, never resolved
"""The default of ``TableExporter``'s ``args``: the arguments are then keywords."""


def call_arguments(
    args: TableExporterArgs | Any, keywords: Mapping[str, Any]
) -> TableExporterArgs | Any:
    """The arguments of ``TableExporter(name, args)`` or ``TableExporter(name, **args)``;
    never both at once (which one would win is not obvious)."""
    if not keywords:
        return args
    if args is not NO_ARGS:
        raise TableExporterArgsError(
            "args: give the arguments either as a mapping, TableExporter(name, "
            '{"tables": [...]}), or as keywords, TableExporter(name, tables=[...]), not both; '
            f"got a mapping and the keywords {', '.join(sorted(keywords))}"
        )
    return dict(keywords)


KNOWN_ARGUMENTS = frozenset(
    TableExporterArgs.__required_keys__ | TableExporterArgs.__optional_keys__
)


def _stack_region() -> str | None:
    """The stack's ``aws:region``, the default provider's region, when there is one."""
    try:
        return pulumi.Config("aws").get("region")
    except Exception:  # no Pulumi settings at all: nothing to compare with
        return None


def resolve(args: TableExporterArgs, name: str | None = None) -> dict[str, Any]:
    """Defaults applied and every rule of ``rules`` checked.

    ``name``, the component's, must leave room for its children's names (``limits``).
    Raises ``TableExporterArgsError`` listing every problem; logs the warnings (things a
    user could mean) through ``pulumi.log.warn``. Inputs that are Outputs are returned
    wrapped in a check of the same rules, which raises ``TableExporterArgsError`` when
    they resolve.
    """
    if not isinstance(args, Mapping):
        raise TableExporterArgsError(
            "args: must be a TableExporterArgs mapping, TableExporter(name, "
            '{"tables": [{"table": "orders"}]}) or TableExporter(name, tables=[{"table": '
            f'"orders"}}]), got {checks.shown(args)}'
        )
    given = {key: value for key, value in args.items() if value is not None}
    problems = [
        rules.Problem(
            (str(key),),
            rules.unknown_key(
                str(key), KNOWN_ARGUMENTS, "argument", partial(rules.fits_argument, value=value)
            ),
        )
        for key, value in given.items()
        if key not in KNOWN_ARGUMENTS
    ]
    values: dict[str, Any] = {**DEFAULTS, **given}
    judged = {key: value for key, value in values.items() if key in KNOWN_ARGUMENTS}
    for plain in _PLAIN:
        if isinstance(values.get(plain), pulumi.Output):
            problems.append(rules.Problem((plain,), "must be a plain value, not an Output"))
            del judged[plain]  # the other rules judge the rest without it
    if "tables" not in values:
        problems.append(
            rules.Problem(
                ("tables",), 'is required: the tables to export, e.g. [{"table": "orders"}]'
            )
        )
    region = values.get("region") if isinstance(values.get("region"), str) else _stack_region()
    problems.extend(rules.argument_problems(judged, given=given, region=region))
    if name is not None:
        creates_bucket = args.get("bucket_name") is None or args.get("bucket_owner") is not None
        rule = limits.exporter_name_problem(name, creates_bucket=creates_bucket)
        if rule:
            problems.append(rules.Problem(("name",), rule))
    errors = [p.line() for p in problems if not p.warning]
    if errors:
        raise TableExporterArgsError(errors)
    for warning in problems:
        pulumi.log.warn(f"TableExporter {warning.line()}")
    return _checked_when_resolved(values, region if rules.is_region(region) else None)


def _check_on_resolve(
    output: pulumi.Output[Any], path: rules.Path, region: str | None
) -> pulumi.Output[Any]:
    """The Output, checked by the rules of ``path`` once its value is known."""

    def check(value: Any) -> Any:
        problems = rules.resolved_problems(path, value, region)
        if problems:
            raise TableExporterArgsError([p.line() for p in problems])
        return value

    return output.apply(check)


def _checked_when_resolved(values: dict[str, Any], region: str | None) -> dict[str, Any]:
    """The values with every Output wrapped in the check its plain value gets here."""
    checked = dict(values)
    for argument in config.RESOLVED:
        value = values.get(argument)
        if isinstance(value, pulumi.Output):
            checked[argument] = _check_on_resolve(value, (argument,), region)
    tables = []
    for index, table in enumerate(values["tables"]):
        entry = dict(table)
        for key, value in table.items():
            if isinstance(value, pulumi.Output):
                entry[key] = _check_on_resolve(value, ("tables", index, key), region)
        tables.append(entry)
    checked["tables"] = tables
    return checked
