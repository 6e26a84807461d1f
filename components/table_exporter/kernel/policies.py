"""IAM building blocks every feature shares: trust policies with confused-deputy
conditions, state machine ARNs (with Pulumi's autoname suffix), log delivery and X-Ray
statements, table scopes that fit IAM's policy size limit, and the TLS-only bucket
policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from table_exporter.kernel.iam import Document, allow, document, service_trust
from table_exporter.kernel.targets import AwsScope, ExportTarget

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


def observability(logging: bool, tracing: bool) -> list[Document]:
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
    return service_trust(
        "StepFunctionsForThisStateMachine",
        "states.amazonaws.com",
        scope.account_id,
        [machine_arn_pattern, f"{machine_arn_pattern}/*"],
    )


def scheduler_trust_policy(scope: AwsScope, schedule_group_arn: str) -> Document:
    """Only EventBridge Scheduler, acting for this account's schedule group, may assume."""
    return service_trust(
        "SchedulerForThisScheduleGroup",
        "scheduler.amazonaws.com",
        scope.account_id,
        schedule_group_arn,
        exact=True,
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


def object_resources(bucket: str, prefixes: Iterable[str], partition: str = "aws") -> list[str]:
    """The objects under each prefix of ``bucket``."""
    return [f"arn:{partition}:s3:::{bucket}/{prefix}/*" for prefix in sorted(set(prefixes))]


def workgroup_arns(scope: AwsScope, workgroup: str | None) -> list[str]:
    """The Athena workgroup, for a role that has one."""
    return [scope.arn("athena", f"workgroup/{workgroup}")] if workgroup else []


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
