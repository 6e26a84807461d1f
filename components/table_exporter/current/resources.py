"""The resources current tables need besides the table export machine's states: the
role Glue's table optimizers assume (``optimizers.py`` has its documents)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from table_exporter.current.optimizers import optimizer_role_policy, optimizer_trust_policy
from table_exporter.kernel.targets import AwsScope, ExportTarget


def optimizer_role(
    parent: pulumi.Resource,
    name: str,
    *,
    scope: pulumi.Output[AwsScope],
    targets: pulumi.Output[list[ExportTarget]],
    bucket_name: pulumi.Output[str],
    database: str,
    kms_key_arn: str | None,
    tags: Mapping[str, str],
) -> aws.iam.Role:
    """The role ``<name>-current-optimizer`` with its inline policy, for the current
    tables of ``targets`` (their ``current/`` folders only)."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-current-optimizer",
        assume_role_policy=scope.apply(lambda s: json.dumps(optimizer_trust_policy(s.account_id))),
        tags=dict(tags),
        opts=child,
    )
    aws.iam.RolePolicy(
        f"{name}-current-optimizer-policy",
        role=role.id,
        policy=pulumi.Output.all(scope=scope, targets=targets, bucket=bucket_name).apply(
            lambda v: json.dumps(
                optimizer_role_policy(
                    v["scope"],
                    bucket=v["bucket"],
                    prefixes=[t.prefix for t in v["targets"] if t.current],
                    database=database,
                    kms_key_arn=kms_key_arn,
                )
            )
        ),
        opts=child,
    )
    return role
