"""IAM policy documents for the exporter, built from plain data.

Each document grants exactly what the definitions call, on exactly the resources they
touch; trust policies carry confused-deputy conditions. Size is checked here too,
because a role with too many table ARNs fails at deployment, not at preview.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .targets import AwsScope, ExportTarget

INLINE_POLICY_LIMIT = 10_240
"""IAM's limit on the aggregate size of a role's inline policies (characters, without whitespace)."""

Document = dict[str, Any]


def _document(*statements: Document) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _statement(
    sid: str, actions: Sequence[str], resources: Sequence[str], **extra: Any
) -> Document:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": list(dict.fromkeys(resources)),
        **extra,
    }


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
        statements.append(_statement("DeliverExecutionLogs", LOG_DELIVERY_ACTIONS, ["*"]))
    if tracing:
        statements.append(_statement("SendTraces", XRAY_ACTIONS, ["*"]))
    return statements


def state_machine_arn(scope: AwsScope, name: str) -> str:
    return scope.arn("states", f"stateMachine:{name}")


def execution_arn_pattern(scope: AwsScope, machine_name: str) -> str:
    return scope.arn("states", f"execution:{machine_name}:*")


def states_trust_policy(scope: AwsScope, machine_arn_pattern: str) -> Document:
    """Only Step Functions, acting for this account's named state machine, may assume."""
    return _document(
        {
            "Sid": "StepFunctionsForThisStateMachine",
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": scope.account_id},
                "ArnLike": {"aws:SourceArn": machine_arn_pattern},
            },
        }
    )


def scheduler_trust_policy(scope: AwsScope, schedule_group_arn: str) -> Document:
    """Only EventBridge Scheduler, acting for this account's schedule group, may assume."""
    return _document(
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


def table_resources(targets: Iterable[ExportTarget]) -> list[str]:
    """Each table, and the exports under it (``DescribeExport`` is authorised on those)."""
    resources: list[str] = []
    for target in targets:
        resources.extend([target.table_arn, f"{target.table_arn}/export/*"])
    return resources


def export_object_resources(
    bucket: str, prefixes: Iterable[str], partition: str = "aws"
) -> list[str]:
    return [f"arn:{partition}:s3:::{bucket}/{prefix}/*" for prefix in sorted(set(prefixes))]


def table_export_role_policy(
    scope: AwsScope,
    *,
    targets: Sequence[ExportTarget],
    bucket: str,
    kms_key_arn: str | None = None,
    logging: bool = True,
    tracing: bool = False,
) -> Document:
    """What the table export machine calls: start and describe exports of the
    configured tables, and the writes DynamoDB performs on its behalf."""
    statements = [
        _statement(
            "ExportConfiguredTables",
            ["dynamodb:ExportTableToPointInTime", "dynamodb:DescribeExport"],
            table_resources(targets),
        ),
        _statement(
            "WriteExportObjects",
            ["s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl"],
            export_object_resources(bucket, (t.prefix for t in targets), scope.partition),
        ),
    ]
    if kms_key_arn:
        statements.append(
            _statement(
                "EncryptExportObjects", ["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn]
            )
        )
    statements.extend(_observability(logging, tracing))
    document = _document(*statements)
    size = policy_size(document)
    if size > INLINE_POLICY_LIMIT:
        raise ValueError(
            f"tables: {len(targets)} tables need an IAM policy of {size} characters, over IAM's "
            f"{INLINE_POLICY_LIMIT}-character limit for a role's inline policies"
        )
    return document


def run_role_policy(
    scope: AwsScope,
    *,
    table_machine_arn: str,
    table_machine_name: str,
    logging: bool = True,
    tracing: bool = False,
) -> Document:
    """What the run machine calls: start, watch and stop table export executions.

    ``startExecution.sync:2`` also needs the Step Functions-managed EventBridge rule
    through which it learns that a child execution finished.
    """
    managed_rule = scope.arn("events", "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    return _document(
        _statement("StartTableExports", ["states:StartExecution"], [table_machine_arn]),
        _statement(
            "WatchTableExports",
            ["states:DescribeExecution", "states:StopExecution"],
            [execution_arn_pattern(scope, table_machine_name)],
        ),
        _statement(
            "ManagedCompletionRule",
            ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [managed_rule],
        ),
        *_observability(logging, tracing),
    )


def scheduler_role_policy(*, run_machine_arn: str, dead_letter_queue_arn: str) -> Document:
    """The scheduler starts runs and, when it cannot, parks the event in its DLQ."""
    return _document(
        _statement("StartRuns", ["states:StartExecution"], [run_machine_arn]),
        _statement("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
    )


def tls_only_bucket_policy(bucket_arn: str) -> Document:
    """Deny every request to the bucket that does not use TLS."""
    return _document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
