"""AWS's limits on what the component registers: names, policy sizes, definitions,
dashboards. Pure data and functions, so the component can check a configuration before
it registers anything, and tests can check every registered resource against them.

The component depends on pulumi and pulumi-aws only, so the numbers live here with
their source; ``tests/test_limits.py`` checks each name limit against botocore's
service models (the shape's ``max`` and ``pattern``), so they cannot drift from the
machine-readable contract. Where botocore models no limit, the source is AWS's
documentation, and the test checks that botocore still models none.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_CONCURRENT_EXPORTS = 300
"""DynamoDB's quota of concurrent export tasks per account and region ("Service,
account, and table quotas in Amazon DynamoDB")."""

AUTONAME_RANDOM = 7
"""Pulumi names a resource without an explicit name ``<logical name>-<7 random characters>``."""
AUTONAME_LENGTH = 1 + AUTONAME_RANDOM
PREFIX_UNIQUE_LENGTH = 26
"""A ``name_prefix`` gets 26 characters appended (a timestamp and a counter)."""

INLINE_POLICIES_LIMIT = 10_240
"""A role's inline policies together, whitespace not counted (IAM user guide, "IAM and
AWS STS quotas")."""
MANAGED_POLICY_LIMIT = 6_144
"""One customer managed policy, whitespace not counted (same page)."""
TRUST_POLICY_LIMIT = 2_048
"""A role trust policy, whitespace not counted; the default quota (raisable to 4,096)."""
DEFINITION_LIMIT = 1_048_576
"""A state machine definition (botocore ``stepfunctions`` ``Definition`` max)."""
DASHBOARD_WIDGETS_LIMIT = 500
"""Widgets per dashboard (CloudWatch "Dashboard body structure and syntax"; quotas page)."""
WIDGET_METRICS_LIMIT = 500
"""Metrics per dashboard widget (CloudWatch service quotas, "Dashboards")."""
DASHBOARD_METRICS_LIMIT = 2_500
"""Metrics per dashboard across its widgets (CloudWatch service quotas, "Dashboards")."""
ALARM_WIDGET_LIMIT = 100
"""Alarms per alarm status widget (CloudWatch console; unverified in the API reference,
so the dashboard keeps to it)."""
ALARM_DESCRIPTION_LIMIT = 1_024
"""``AlarmDescription`` (botocore ``cloudwatch`` ``PutMetricAlarm``)."""
SCHEDULE_DESCRIPTION_LIMIT = 512
"""``Description`` of a schedule (botocore ``scheduler`` ``CreateSchedule``)."""


@dataclass(frozen=True)
class NameLimit:
    """How long, and of which characters, a resource's name may be."""

    max_length: int
    pattern: str | None
    """A regular expression every character run must match in full, or None."""
    source: str
    """Where the limit is stated: the service model when it states it, else the
    documentation page."""
    botocore: tuple[str, ...] = ()
    """Where botocore models the name: ``(service, operation, member, ...)``, or
    ``(service, "shape", shape name)``; empty when botocore models no limit."""
    narrower: str = ""
    """Why ``pattern`` is narrower than botocore's, when it is."""
    field: str = "name"
    """The resource's input that holds an explicit name."""
    lowercase_autoname: bool = False
    """pulumi-aws lowercases the auto-name (S3 buckets)."""

    def problem(self, name: str) -> str | None:
        """Why AWS would refuse ``name``, or None."""
        if not 1 <= len(name) <= self.max_length:
            return f"{len(name)} characters, over the limit of {self.max_length}"
        if self.pattern and not re.fullmatch(self.pattern, name):
            return f"does not match {self.pattern}"
        return None


_BUCKET = r"(?!xn--|sthree-|amzn-s3-demo-)[a-z0-9][a-z0-9.-]*[a-z0-9](?<!-s3alias)(?<!--ol-s3)"

NAME_LIMITS: dict[str, NameLimit] = {
    "aws:iam/role:Role": NameLimit(
        64, r"[\w+=,.@-]+", "IAM API reference, CreateRole",
        botocore=("iam", "CreateRole", "RoleName"),
    ),
    "aws:iam/rolePolicy:RolePolicy": NameLimit(
        128, r"[\w+=,.@-]+", "IAM API reference, PutRolePolicy",
        botocore=("iam", "PutRolePolicy", "PolicyName"),
    ),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": NameLimit(
        64, r"[a-zA-Z0-9_.-]+", "Firehose API reference, CreateDeliveryStream",
        botocore=("firehose", "CreateDeliveryStream", "DeliveryStreamName"),
    ),
    "aws:pipes/pipe:Pipe": NameLimit(
        64, r"[\.\-_A-Za-z0-9]+", "EventBridge Pipes API reference, CreatePipe",
        botocore=("pipes", "CreatePipe", "Name"),
    ),
    "aws:sfn/stateMachine:StateMachine": NameLimit(
        80, r"[A-Za-z0-9_-]+", "Step Functions API reference, CreateStateMachine (name: "
        "no whitespace, brackets, wildcards or punctuation; ASCII for CloudWatch Logs)",
        botocore=("stepfunctions", "CreateStateMachine", "name"),
    ),
    "aws:scheduler/schedule:Schedule": NameLimit(
        64, r"[0-9a-zA-Z-_.]+", "EventBridge Scheduler API reference, CreateSchedule",
        botocore=("scheduler", "CreateSchedule", "Name"),
    ),
    "aws:scheduler/scheduleGroup:ScheduleGroup": NameLimit(
        64, r"[0-9a-zA-Z-_.]+", "EventBridge Scheduler API reference, CreateScheduleGroup",
        botocore=("scheduler", "CreateScheduleGroup", "Name"),
    ),
    "aws:sqs/queue:Queue": NameLimit(
        80, r"[A-Za-z0-9_-]+", "SQS API reference, CreateQueue (QueueName)"
    ),
    "aws:sns/topic:Topic": NameLimit(256, r"[A-Za-z0-9_-]+", "SNS API reference, CreateTopic"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameLimit(
        255, None, "CloudWatch API reference, PutMetricAlarm",
        botocore=("cloudwatch", "PutMetricAlarm", "AlarmName"),
    ),
    "aws:cloudwatch/dashboard:Dashboard": NameLimit(
        255, r"[A-Za-z0-9_-]+", "CloudWatch API reference, PutDashboard (DashboardName)",
        field="dashboardName",
    ),
    "aws:cloudwatch/logGroup:LogGroup": NameLimit(
        512, r"[\.\-_/#A-Za-z0-9]+", "CloudWatch Logs API reference, CreateLogGroup",
        botocore=("logs", "CreateLogGroup", "logGroupName"),
    ),
    "aws:cloudwatch/logStream:LogStream": NameLimit(
        512, r"[^:*]*", "CloudWatch Logs API reference, CreateLogStream",
        botocore=("logs", "CreateLogStream", "logStreamName"),
    ),
    "aws:glue/catalogDatabase:CatalogDatabase": NameLimit(
        255, r"[a-z0-9_]+", "Glue API reference, CreateDatabase",
        botocore=("glue", "CreateDatabase", "DatabaseInput", "Name"),
        narrower="Athena reads lowercase names, and unquoted SQL needs [a-z0-9_]",
    ),
    "aws:glue/catalogTable:CatalogTable": NameLimit(
        255, r"[a-z0-9_]+", "Glue API reference, CreateTable",
        botocore=("glue", "CreateTable", "TableInput", "Name"),
        narrower="Athena reads lowercase names, and unquoted SQL needs [a-z0-9_]",
    ),
    "aws:athena/namedQuery:NamedQuery": NameLimit(
        128, None, "Athena API reference, CreateNamedQuery",
        botocore=("athena", "CreateNamedQuery", "Name"),
    ),
    "aws:athena/workgroup:Workgroup": NameLimit(
        128, r"[a-zA-Z0-9._-]{1,128}", "Athena API reference, CreateWorkGroup",
        botocore=("athena", "CreateWorkGroup", "Name"),
    ),
    "aws:dynamodb/table:Table": NameLimit(
        255, r"[a-zA-Z0-9_.-]+", "DynamoDB API reference, CreateTable",
        botocore=("dynamodb", "shape", "TableName"),
    ),
    "aws:ssm/parameter:Parameter": NameLimit(
        2048, None, "Systems Manager API reference, PutParameter",
        botocore=("ssm", "PutParameter", "Name"),
    ),
    "aws:s3/bucket:Bucket": NameLimit(
        63, _BUCKET, "S3 user guide, general purpose bucket naming rules",
        field="bucket", lowercase_autoname=True,
    ),
}  # fmt: skip
"""Name limits per Pulumi resource type. Types without a physical name (policies
attached to a bucket, subscriptions, ...) are not listed."""


def aws_name(typ: str, logical_name: str, inputs: Mapping[str, Any]) -> str | None:
    """The name AWS is asked for: an explicit name, a ``name_prefix`` plus its unique
    part, or the logical name plus Pulumi's suffix; None for types without a name."""
    limit = NAME_LIMITS.get(typ)
    if limit is None:
        return None
    key = "".join(w.title() if i else w for i, w in enumerate(limit.field.split("_")))
    explicit = inputs.get(limit.field, inputs.get(key))
    if isinstance(explicit, str) and explicit:
        return explicit
    prefix = inputs.get("namePrefix", inputs.get("name_prefix"))
    if isinstance(prefix, str) and prefix:
        return prefix + "0" * PREFIX_UNIQUE_LENGTH
    name = f"{logical_name}-{'a' * AUTONAME_RANDOM}"
    return name.lower() if limit.lowercase_autoname else name


def name_problem(typ: str, logical_name: str, inputs: Mapping[str, Any]) -> str | None:
    """Why AWS would refuse the name of a resource as registered, or None."""
    name = aws_name(typ, logical_name, inputs)
    if name is None:
        return None
    why = NAME_LIMITS[typ].problem(name)
    return f"{typ} {name!r}: {why}" if why else None


def short_hash(text: str, length: int = 8) -> str:
    """A stable hash of ``text`` that keeps two long names apart after truncation."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit_stem(stem: str, room: int) -> str:
    """``stem`` if it is at most ``room`` characters, else a readable start of it plus
    ``-`` and a hash of the whole, ``room`` characters in all: names that already fit
    stay as they are (no replacement), long ones stay distinct."""
    if len(stem) <= room:
        return stem
    digest = short_hash(stem)
    keep = room - len(digest) - 1
    if keep < 1:
        raise ValueError(f"no room for a name of {room} characters")
    return f"{stem[:keep].rstrip('-_.')}-{digest}"


def autoname_room(typ: str, tail: str = "") -> int:
    """The longest logical stem for a resource of ``typ`` named ``<stem><tail>`` and
    auto-named by Pulumi."""
    return NAME_LIMITS[typ].max_length - AUTONAME_LENGTH - len(tail)


def policy_characters(text: str) -> int:
    """A policy's size as IAM counts it: whitespace is not counted."""
    return sum(1 for c in text if not c.isspace())


EXPORTER_CHILD_NAMES: tuple[tuple[str, str], ...] = (
    ("aws:iam/role:Role", "-table-export-role"),
    ("aws:scheduler/schedule:Schedule", "-drill-schedule-999"),
    ("aws:sfn/stateMachine:StateMachine", "-table-export"),
    ("aws:iam/rolePolicy:RolePolicy", "-table-export-policy"),
    ("aws:scheduler/scheduleGroup:ScheduleGroup", "-schedules"),
    ("aws:sqs/queue:Queue", "-dlq"),
)
"""The exporter's auto-named children with the longest tails per name limit: they bound
the component's own name (``max_exporter_name``)."""

BUCKET_TAIL = "-bucket"


def max_exporter_name(*, creates_bucket: bool) -> int:
    """The longest component name whose children's names all fit."""
    rooms = [autoname_room(typ, tail) for typ, tail in EXPORTER_CHILD_NAMES]
    if creates_bucket:
        rooms.append(autoname_room("aws:s3/bucket:Bucket", BUCKET_TAIL))
    return min(rooms)


IMPORTER_CHILD_NAMES: tuple[tuple[str, str], ...] = (
    ("aws:iam/role:Role", "-import-role"),
    ("aws:iam/role:Role", "-import-scheduler"),
    ("aws:scheduler/schedule:Schedule", "-import"),
    ("aws:sfn/stateMachine:StateMachine", "-import"),
)
"""``TableImporter``'s auto-named children (its state machine is named explicitly, as
``<name>-import``, which must fit too)."""


def importer_name_problem(name: str) -> str | None:
    """Why a ``TableImporter`` name cannot name its children, or None."""
    longest = min(autoname_room(typ, tail) for typ, tail in IMPORTER_CHILD_NAMES)
    if len(name) > longest:
        return (
            f"name: {name!r} is {len(name)} characters; at most {longest}, since children are "
            f"named after it (e.g. <name>-import-scheduler plus Pulumi's {AUTONAME_LENGTH}"
            "-character suffix, within IAM's 64-character role names)"
        )
    return None


def exporter_name_problem(name: str, *, creates_bucket: bool) -> str | None:
    """Why the component's name cannot name its children, or None."""
    longest = max_exporter_name(creates_bucket=creates_bucket)
    if len(name) > longest:
        return (
            f"{name!r} is {len(name)} characters; at most {longest}, since children are "
            f"named after it (e.g. <name>-table-export-role plus Pulumi's {AUTONAME_LENGTH}"
            "-character suffix, within IAM's 64-character role names)"
        )
    allowed = r"[A-Za-z0-9][A-Za-z0-9-]*" if creates_bucket else r"[A-Za-z0-9][A-Za-z0-9_-]*"
    if not re.fullmatch(allowed, name):
        extra = "" if creates_bucket else ", '_'"
        why = " ('_' is not allowed in the S3 bucket it names)" if creates_bucket else ""
        return (
            f"{name!r} must start with a letter or digit and hold only letters, digits{extra} "
            f"and '-'{why}: it starts the names of roles, queues, schedules and state machines"
        )
    bucket = aws_name("aws:s3/bucket:Bucket", name + BUCKET_TAIL, {})
    if creates_bucket and bucket and NAME_LIMITS["aws:s3/bucket:Bucket"].problem(bucket):
        return f"{name!r} cannot start an S3 bucket name (reserved prefix)"
    return None


HISTORY_CHILD_NAMES: tuple[tuple[str, str], ...] = (
    ("aws:iam/role:Role", "-firehose-role"),
    ("aws:iam/role:Role", "-pipe-role"),
    ("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "-delivery"),
    ("aws:pipes/pipe:Pipe", "-pipe"),
    ("aws:sqs/queue:Queue", "-dlq"),
    ("aws:iam/rolePolicy:RolePolicy", "-firehose-policy"),
    ("aws:cloudwatch/logGroup:LogGroup", "-delivery-errors"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "-alarm-history-delivery-failing"),
)
"""A change history's auto-named children (``change_history.py``), each named
``<history name><tail>``."""


def max_history_name() -> int:
    """The longest change-history name whose children's names all fit."""
    return min(autoname_room(typ, tail) for typ, tail in HISTORY_CHILD_NAMES)


def history_names(exporter: str, tables: list[str]) -> dict[str, str]:
    """Each table's change-history name, ``<exporter>-history-<table>``, with
    characters other than letters, digits, ``-`` and ``_`` as ``-`` (SQS queue names
    allow no others). A name too long for its children keeps a readable start and
    gains a hash of the whole (``fit_stem``); a table whose name had characters
    replaced also gains a hash when another table would get the same name. Names that
    fit and are unique stay as they always were, so existing stacks keep their
    resources."""
    stems = {t: f"{exporter}-history-{re.sub(r'[^A-Za-z0-9_-]', '-', t)}" for t in tables}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    room = max_history_name()
    names = {}
    for table, stem in stems.items():
        if counts[stem] > 1 and not stem.endswith(f"-history-{table}"):
            keep = min(len(stem), room - 9)
            names[table] = f"{stem[:keep]}-{short_hash(f'{exporter}-history-{table}')}"
        else:
            names[table] = fit_stem(stem, room)
    return names
