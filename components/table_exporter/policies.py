"""IAM policy documents for the exporter, built from plain data.

Each document grants exactly what the definitions call, on exactly the resources they
touch; trust policies carry confused-deputy conditions. Size is checked here too,
because a role with too many table ARNs fails at deployment, not at preview.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .iam import Document, allow, document
from .metrics import METRIC_NAMESPACE
from .targets import AwsScope, ExportTarget

INLINE_POLICY_LIMIT = 10_240
"""IAM's limit on the aggregate size of a role's inline policies (characters, without whitespace)."""



def policy_size(document: Document) -> int:
    """Size as IAM counts it: the JSON text without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


# Step Functions delivers execution logs through CloudWatch Logs' vended-log API, whose
# actions support no resource-level scoping (AWS documents Resource "*" for them).
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
]
XRAY_ACTIONS = [
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
]


def _observability(logging: bool, tracing: bool) -> list[Document]:
    statements = []
    if logging:
        statements.append(allow("DeliverExecutionLogs", LOG_DELIVERY_ACTIONS, ["*"]))
    if tracing:
        statements.append(allow("SendTraces", XRAY_ACTIONS, ["*"]))
    return statements


AUTONAME_SUFFIX = "-???????"
"""Pulumi names a resource ``<name>-<7 random characters>``; this matches exactly that."""


def state_machine_arn(scope: AwsScope, name: str) -> str:
    return scope.arn("states", f"stateMachine:{name}")


def execution_arn_pattern(scope: AwsScope, machine_name: str) -> str:
    return scope.arn("states", f"execution:{machine_name}:*")


def states_trust_policy(scope: AwsScope, machine_arn_pattern: str) -> Document:
    """Only Step Functions, acting for this account's named state machine, may assume.

    Also admitted: the machine's qualified ARN, ``stateMachine:<name>/<label>``, which
    is how a Distributed Map's child workflow executions name their machine ("Using Map
    state in Distributed mode"). Which of the two forms Step Functions sends as
    ``aws:SourceArn`` when it assumes the role for a child is not documented, so both
    are admitted; nothing else is."""
    return document(
        {
            "Sid": "StepFunctionsForThisStateMachine",
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": scope.account_id},
                "ArnLike": {"aws:SourceArn": [machine_arn_pattern, f"{machine_arn_pattern}/*"]},
            },
        }
    )


def scheduler_trust_policy(scope: AwsScope, schedule_group_arn: str) -> Document:
    """Only EventBridge Scheduler, acting for this account's schedule group, may assume."""
    return document(
        {
            "Sid": "SchedulerForThisScheduleGroup",
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": scope.account_id,
                    "aws:SourceArn": schedule_group_arn,
                },
            },
        }
    )


TableAccess = Literal["exact", "prefix", "all"]
"""How the table export role names the tables it may export.

``exact``
    Every table ARN and its exports: least privilege. IAM's 10,240-character limit
    on a role's inline policies caps this at roughly 60-70 tables (depending on name
    lengths); beyond that the component stops with an error that says so.
``prefix``
    ``table/<name prefix>*`` patterns, as long as the limit allows (shortest list of
    the longest prefixes that fit): also grants tables whose names share a prefix.
``all``
    ``table/*``: every table in the account and region.
"""


@dataclass(frozen=True)
class TableScope:
    """The table resources granted, and how they were chosen."""

    access: TableAccess
    resources: list[str]

    @property
    def patterns(self) -> list[str]:
        return [r for r in self.resources if r.endswith("*") and "/export/" not in r]


def exact_table_resources(targets: Iterable[ExportTarget]) -> list[str]:
    # Each table, and the exports under it (``DescribeExport`` is authorised on those).
    resources: list[str] = []
    for target in targets:
        resources.extend([target.table_arn, f"{target.table_arn}/export/*"])
    return resources


def _prefix_resources(targets: Sequence[ExportTarget], length: int) -> list[str]:
    # ``table/<prefix>*`` covers the tables starting with it and their exports.
    patterns: dict[str, None] = {}
    for target in targets:
        base = target.table_arn[: -len(target.table_name)]
        patterns[f"{base}{target.table_name[:length]}*"] = None
    return list(patterns)


def table_scope(targets: Sequence[ExportTarget], access: TableAccess, budget: int) -> TableScope:
    """The narrowest table grant of the requested kind that fits ``budget`` characters."""

    def size(resources: list[str]) -> int:
        return len(json.dumps(resources, separators=(",", ":")))

    exact = exact_table_resources(targets)
    if access == "exact" or size(exact) <= budget:
        return TableScope("exact", exact)
    if access == "prefix":
        longest = max(len(t.table_name) for t in targets)
        for length in range(longest, 0, -1):
            candidate = _prefix_resources(targets, length)
            if size(candidate) <= budget:
                return TableScope("prefix", candidate)
    base = {t.table_arn[: -len(t.table_name)] for t in targets}
    return TableScope("all", sorted(f"{b}*" for b in base))


_LONGEST_REGION = "ap-southeast-7"  # an upper bound on region name length for estimates


def exact_policy_estimate(tables: Iterable[str], prefixes: Iterable[str] = ()) -> int:
    """Characters the exact table grant needs, for names or ARNs, before the account
    and region are known (a region name of maximal length is assumed), plus one object
    resource per distinct S3 prefix: lets a bad combination fail at preview rather than
    at deployment."""
    resources = [f"arn:aws:s3:::{'b' * 63}/{p}/*" for p in set(prefixes)]
    for table in tables:
        arn = (
            table
            if table.startswith("arn:")
            else f"arn:aws:dynamodb:{_LONGEST_REGION}:000000000000:table/{table}"
        )
        resources.extend([arn, f"{arn}/export/*"])
    # The rest (actions, logging, tracing, KMS, watermarks) stays under 1,500 characters.
    return len(json.dumps(resources, separators=(",", ":"))) + 1_500


def granted_tables(document: Document) -> list[str]:
    """The table resources a table export role policy grants."""
    return list(
        next(s for s in document["Statement"] if s["Sid"] == "ExportConfiguredTables")["Resource"]
    )


def export_object_resources(
    bucket: str, prefixes: Iterable[str], partition: str = "aws"
) -> list[str]:
    return [f"arn:{partition}:s3:::{bucket}/{prefix}/*" for prefix in sorted(set(prefixes))]


Grants = dict[str, tuple[str, ...]]
"""Actions per resource group, as a rendered machine collects them (``asl.Graph.grants``)."""


def _only_known(grants: Grants, known: Iterable[str]) -> None:
    unknown = sorted(set(grants) - set(known))
    if unknown:
        raise ValueError(f"no resources are known for the machine's grants: {', '.join(unknown)}")


def table_export_role_policy(
    scope: AwsScope,
    *,
    grants: Grants,
    targets: Sequence[ExportTarget],
    bucket: str,
    kms_key_arn: str | None = None,
    logging: bool = True,
    tracing: bool = False,
    table_access: TableAccess = "exact",
    state_table_arn: str | None = None,
    catalog_database: str | None = None,
    athena_workgroup: str | None = None,
) -> Document:
    """What the table export machine calls, as its states declare (``grants``), on the
    resources this exporter names: the configured tables and their exports, the writes
    DynamoDB performs on the caller's behalf, and (as the machine has them) the
    watermark items, the Glue database, the workgroup and the lag metric."""
    resources: dict[str, tuple[str, list[str], dict[str, Any]]] = {
        "export_objects": (
            "WriteExportObjects",
            export_object_resources(bucket, (t.prefix for t in targets), scope.partition),
            {},
        ),
    }
    if kms_key_arn:
        # Only for the S3 writes of the export, not direct use of the key.
        # S3 calls KMS from the bucket's region, which is the key's region.
        resources["kms_key"] = (
            "EncryptExportObjects",
            [kms_key_arn],
            {"Condition": {"StringEquals": {"kms:ViaService": _s3_in_region_of(kms_key_arn)}}},
        )
    if catalog_database:
        resources["glue"] = (
            "PointAthenaAtCompletedExports",
            [
                scope.arn("glue", "catalog"),
                scope.arn("glue", f"database/{catalog_database}"),
                scope.arn("glue", f"table/{catalog_database}/*"),
            ],
            {},
        )
    if athena_workgroup:
        resources["workgroup"] = (
            "SaveCurrentStateQueries",
            [scope.arn("athena", f"workgroup/{athena_workgroup}")],
            {},
        )
    if state_table_arn:
        resources["state_table"] = ("KeepWatermarks", [state_table_arn], {})
        # PutMetricData supports no resource; the namespace condition scopes it.
        resources["lag_metric"] = (
            "PublishWatermarkLag",
            ["*"],
            {"Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}},
        )
    _only_known(grants, ["tables", *resources])

    def with_tables(tables: list[str]) -> Document:
        statements = [allow("ExportConfiguredTables", grants["tables"], tables)]
        for group, (sid, group_resources, extra) in resources.items():
            if group in grants:
                statements.append(allow(sid, grants[group], group_resources, **extra))
        statements.extend(_observability(logging, tracing))
        return document(*statements)

    overhead = policy_size(with_tables([]))
    if overhead > INLINE_POLICY_LIMIT:
        prefixes = len({t.prefix for t in targets})
        raise ValueError(
            f"tables: {prefixes} distinct S3 prefixes need an IAM policy of {overhead} characters "
            f"before any table is named, over IAM's {INLINE_POLICY_LIMIT}-character limit; "
            "let tables share a prefix (each table's exports already go under its own name)"
        )
    chosen = table_scope(targets, table_access, INLINE_POLICY_LIMIT - overhead)
    result = with_tables(chosen.resources)
    size = policy_size(result)
    if size > INLINE_POLICY_LIMIT:
        exact = policy_size(with_tables(exact_table_resources(targets)))
        raise ValueError(
            f"tables: {len(targets)} tables need an IAM policy of {exact} characters when each "
            f"table is named exactly, over IAM's {INLINE_POLICY_LIMIT}-character limit for a role's "
            "inline policies. Set table access to 'prefix' (grants every table whose name starts "
            "with a shared prefix) or 'all' (every table in the account and region) to accept "
            "a broader grant."
        )
    return result


def _s3_in_region_of(kms_key_arn: str) -> str:
    return f"s3.{kms_key_arn.split(':')[3]}.amazonaws.com"


MANAGED_SYNC_RULE = "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
"""The Step Functions-managed EventBridge rule ``.sync`` integrations learn completion by."""


def run_role_policy(
    scope: AwsScope,
    *,
    grants: Grants,
    run_machine_name: str,
    table_machine_arn: str,
    table_machine_name: str,
    bucket: str,
    report_prefix: str,
    map_label: str,
    kms_key_arn: str | None = None,
    logging: bool = True,
    tracing: bool = False,
) -> Document:
    """What the run machine calls, as its states declare: its own Distributed Map's child
    workflow executions and Map Run, the table export executions each item starts and
    watches, and the run report the Map writes and the run reads back.

    ``run_machine_name`` may end in ``AUTONAME_SUFFIX``: the role is made before the
    machine it serves, so it names the machine by pattern.
    """
    resources: dict[str, tuple[str, list[str], dict[str, Any]]] = {
        "table_machine": ("StartTableExports", [table_machine_arn], {}),
        "table_executions": (
            "WatchTableExports",
            # IAM lists standard and express executions as two resource types of these
            # actions; the child is STANDARD, so the express ARN names nothing that exists.
            [
                execution_arn_pattern(scope, table_machine_name),
                scope.arn("states", f"express:{table_machine_name}:*:*"),
            ],
            {},
        ),
        "sync_rule": ("ManagedCompletionRule", [scope.arn("events", MANAGED_SYNC_RULE)], {}),
        "run_machine": (
            "StartItemsOfItsOwnMap",
            [state_machine_arn(scope, run_machine_name)],
            {},
        ),
        "map_executions": (
            "WatchItemsOfItsOwnMap",
            # As for the table exports: the express form names nothing that exists.
            [
                scope.arn("states", f"execution:{run_machine_name}/{map_label}:*"),
                scope.arn("states", f"express:{run_machine_name}/{map_label}:*:*"),
            ],
            {},
        ),
        "map_runs": (
            "CountItemsOfItsOwnMap",
            [scope.arn("states", f"mapRun:{run_machine_name}/{map_label}:*")],
            {},
        ),
        "reports": (
            "WriteAndReadRunReports",
            [f"arn:{scope.partition}:s3:::{bucket}/{report_prefix}/*"],
            {},
        ),
    }
    _only_known(grants, resources)
    statements = [
        allow(sid, grants[group], group_resources, **extra)
        for group, (sid, group_resources, extra) in resources.items()
        if group in grants
    ]
    if kms_key_arn and "reports" in grants:
        statements.append(
            allow(
                "EncryptRunReports",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [kms_key_arn],
                Condition={"StringEquals": {"kms:ViaService": _s3_in_region_of(kms_key_arn)}},
            )
        )
    return document(*statements, *_observability(logging, tracing))


def scheduler_role_policy(
    *, run_machine_arn: str, dead_letter_queue_arn: str, drill_machine_arn: str | None = None
) -> Document:
    """The scheduler starts runs (and restore drills) and, when it cannot, parks the
    event in its DLQ."""
    machines = [run_machine_arn] + ([drill_machine_arn] if drill_machine_arn else [])
    return document(
        allow("StartRuns", ["states:StartExecution"], machines),
        allow("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
    )


def start_run_policy(run_machine_arn: str, run_machine_name: str) -> Document:
    """For another principal: start runs of this exporter and follow them."""
    _, partition, _, region, account = run_machine_arn.split(":")[:5]
    return document(
        allow("StartRuns", ["states:StartExecution"], [run_machine_arn]),
        allow(
            "FollowRuns",
            ["states:DescribeExecution"],
            [f"arn:{partition}:states:{region}:{account}:execution:{run_machine_name}:*"],
        ),
    )


def tls_only_bucket_policy(bucket_arn: str) -> Document:
    """Deny every request to the bucket that does not use TLS."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
