"""Where exports and run reports go (``destination``), and the bucket the exporter
creates when none is given: private, owner-enforced, encrypted, versioned, TLS-only,
with lifecycle rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from table_exporter.kernel.policies import tls_only_bucket_policy


class ExportBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        *,
        sse_algorithm: str,
        kms_key_arn: pulumi.Input[str] | None,
        noncurrent_version_expiration_days: int,
        expiration_days: int | None,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("table-exporter:index:ExportBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, tags=tags, opts=child)
        bucket_id = self.bucket.id
        access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        default_encryption: dict[str, Any] = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
            if sse_algorithm == "KMS" and kms_key_arn is not None
            else {"sse_algorithm": "AES256"}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default_encryption,  # type: ignore[arg-type]
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket_id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access]),
        )
        rule: dict[str, Any] = {
            "id": "exports",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {
                "noncurrent_days": noncurrent_version_expiration_days
            },
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
        if expiration_days is not None:
            rule["expiration"] = {"days": expiration_days}
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(**rule)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        self.register_outputs({"bucket_name": self.bucket.bucket})


@dataclass(frozen=True)
class Destination:
    """Where exports and run reports go. ``report_*``: the run reports' bucket and key,
    which are the destination's unless that bucket is another account's."""

    bucket: ExportBucket | None
    """The destination bucket when the exporter created it."""
    bucket_name: pulumi.Output[str]
    report_bucket: ExportBucket | None
    """The run reports' bucket, created when the destination is another account's."""
    report_bucket_name: pulumi.Output[str]
    report_kms_key_arn: str | None


def destination(
    parent: pulumi.Resource,
    name: str,
    *,
    bucket_name: pulumi.Input[str] | None,
    bucket_owner: str | None,
    sse_algorithm: str,
    kms_key_arn: str | None,
    noncurrent_version_expiration_days: int,
    expiration_days: int | None,
    tags: dict[str, str],
) -> Destination:
    """The bucket given, or ``<name>-bucket``; and, when ``bucket_owner`` says the
    destination is another account's, ``<name>-reports`` for the run reports: a
    Distributed Map's ResultWriter writes only in the machine's own account and Region
    ("ResultWriter", else the run fails States.ResultWriterFailed)."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = None
    if bucket_name is None:
        bucket = ExportBucket(
            f"{name}-bucket",
            sse_algorithm=sse_algorithm,
            kms_key_arn=kms_key_arn,
            noncurrent_version_expiration_days=noncurrent_version_expiration_days,
            expiration_days=expiration_days,
            tags=tags,
            opts=child,
        )
        name_of_bucket: pulumi.Output[str] = bucket.bucket.bucket
    else:
        name_of_bucket = pulumi.Output.from_input(bucket_name)
    if bucket_owner is None:
        return Destination(
            bucket=bucket,
            bucket_name=name_of_bucket,
            report_bucket=None,
            report_bucket_name=name_of_bucket,
            report_kms_key_arn=kms_key_arn,
        )
    reports = ExportBucket(
        f"{name}-reports",
        sse_algorithm="AES256",
        kms_key_arn=None,
        noncurrent_version_expiration_days=noncurrent_version_expiration_days,
        expiration_days=expiration_days,
        tags=tags,
        opts=child,
    )
    return Destination(
        bucket=bucket,
        bucket_name=name_of_bucket,
        report_bucket=reports,
        report_bucket_name=reports.bucket.bucket,
        report_kms_key_arn=None,
    )
