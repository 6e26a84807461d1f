"""What the restore drill's states act on: the drilled tables (metadata only), the
scratch tables it creates by import and deletes, the export it reads and the report
it writes. Each resource once, its ARNs read from the drill role's description."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from table_exporter.kernel.grants import Resource, optional
from table_exporter.kernel.iam import via_service


@dataclass(frozen=True)
class DrillRole:
    partition: str
    region: str
    account_id: str
    bucket: str
    table_prefix: str
    report_prefix: str
    sources: Sequence[str] = field(default=())
    """The drilled tables, exactly or by pattern as IAM's size limit allows."""
    exports: Sequence[str] = field(default=())
    """Their exports (``<table ARN>/export/*``), named the same way."""
    kms_key_arn: str | None = None
    """The bucket's customer-managed key, if it has one."""

    @property
    def scratch(self) -> str:
        """Every table whose name starts with the scratch prefix: the only tables the
        drill creates or deletes."""
        return (
            f"arn:{self.partition}:dynamodb:{self.region}:{self.account_id}"
            f":table/{self.table_prefix}*"
        )

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"


SOURCE_TABLES: Resource[DrillRole] = Resource("SourceTables", lambda role: role.sources)
"""DescribeTable only: the key schema of the table drilled."""

SOURCE_EXPORTS: Resource[DrillRole] = Resource("SourceExports", lambda role: role.exports)

SCRATCH_TABLES: Resource[DrillRole] = Resource("ScratchTables", lambda role: [role.scratch])

SCRATCH_IMPORTS: Resource[DrillRole] = Resource(
    "ScratchImports", lambda role: [f"{role.scratch}/import/*"]
)

EXPORT_OBJECTS: Resource[DrillRole] = Resource(
    "ExportObjects", lambda role: [f"{role.bucket_arn}/*"]
)
"""Read: the manifests, and the data files ImportTable reads with the caller's rights."""

EXPORT_BUCKET: Resource[DrillRole] = Resource("ExportBucket", lambda role: [role.bucket_arn])
"""ListBucket, for ImportTable."""

DRILL_REPORTS: Resource[DrillRole] = Resource(
    "DrillReports", lambda role: [f"{role.bucket_arn}/{role.report_prefix}/*"]
)


def _via_s3(role: DrillRole) -> dict[str, str]:
    return via_service("s3", role.region)


EXPORTS_KEY: Resource[DrillRole] = Resource(
    "DecryptExports",
    lambda role: optional(role.kms_key_arn),
    lambda role: {"StringEquals": _via_s3(role)},
    may_be_absent=True,
)
"""ImportTable reads the data with the caller's rights, as the manifest read does."""

REPORTS_KEY: Resource[DrillRole] = Resource(
    "EncryptDrillReports",
    lambda role: optional(role.kms_key_arn),
    # With S3 Bucket Keys (the bucket the exporter creates has them) the context is
    # the bucket's ARN; without, the report object's.
    lambda role: {
        "StringEquals": _via_s3(role),
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": [
                role.bucket_arn,
                f"{role.bucket_arn}/{role.report_prefix}/*",
            ]
        },
    },
    may_be_absent=True,
)
"""Writing the report into an SSE-KMS bucket needs a data key."""
