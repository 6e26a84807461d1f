"""The resources current tables need besides the table export machine's states: a
bucket of their own and the role Glue's table optimizers assume (``optimizers.py`` has
its documents).

The bucket keeps each table's Iceberg files apart from the exports: the export bucket's
lifecycle rules may expire exports (``expiration_days``), and S3 lifecycle rules must
never expire an Iceberg table's files ("Optimizing Iceberg tables": considerations);
and when the export bucket is in another account, the tables and their optimizers stay
in the exporter's (Glue's compaction does not serve cross-account tables)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from table_exporter.current.optimizers import optimizer_role_policy, optimizer_trust_policy
from table_exporter.destination.bucket import ExportBucket
from table_exporter.kernel.targets import AwsScope, ExportTarget


@dataclass(frozen=True)
class CurrentTables:
    """Where current tables live and who maintains them."""

    bucket: ExportBucket
    bucket_name: pulumi.Output[str]
    optimizer_role: aws.iam.Role


def current_tables(
    parent: pulumi.Resource,
    name: str,
    *,
    scope: pulumi.Output[AwsScope],
    targets: pulumi.Output[list[ExportTarget]],
    database: str,
    sse_algorithm: str,
    kms_key_arn: str | None,
    noncurrent_version_expiration_days: int,
    tags: Mapping[str, str],
) -> CurrentTables:
    """The bucket ``<name>-current`` (private, encrypted as the exports are, versioned,
    TLS-only, never expiring current objects) and the role ``<name>-current-optimizer``
    with its inline policy, for the current tables of ``targets``."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = ExportBucket(
        f"{name}-current",
        sse_algorithm=sse_algorithm,
        kms_key_arn=kms_key_arn,
        noncurrent_version_expiration_days=noncurrent_version_expiration_days,
        expiration_days=None,
        tags=dict(tags),
        opts=child,
    )
    bucket_name = bucket.bucket.bucket
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
    return CurrentTables(bucket=bucket, bucket_name=bucket_name, optimizer_role=role)
