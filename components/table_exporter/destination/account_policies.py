"""Policy statements for copying exports into another account, as plain data.

Two stacks: the exporter in the source account writes its exports into a bucket the
destination account owns (``S3BucketOwner`` set to that account), and a
``TableImporter`` there imports them. The destination account applies:

- ``destination_bucket_statements``: its bucket policy lets the exporter's table-export
  role write export objects under each table prefix ("Requesting a table export in DynamoDB":
  ``s3:PutObject``, ``s3:AbortMultipartUpload``, ``s3:PutObjectAcl``). With S3 Object
  Ownership "bucket owner enforced" the destination account owns every object written;
- ``kms_key_statements``: when the bucket's default encryption is a customer-managed
  key, the key policy lets the exporter's role encrypt (``kms:GenerateDataKey``,
  ``kms:Decrypt``: multipart uploads read data keys back) and the importer's role
  decrypt, each only through S3 in the bucket's region (``kms:ViaService``). AWS's key
  policy examples write ``Resource`` as ``"*"``, meaning the key the policy is attached
  to; these name that key's own ARN instead, the same single resource, so that linters
  that cannot tell a key policy from an identity policy find nothing to report;
- ``drill_bucket_statements`` and ``history_bucket_statements``: the same for the
  exporter's other roles that touch the bucket: restore drills read the exports
  (ImportTable reads with its caller's rights) and write their reports; each change
  history's Firehose role writes its history and error folders ("Grant Firehose access
  to an Amazon S3 destination", cross-account delivery). A bucket in another account
  needs the caller's identity policy AND the bucket policy to allow each request
  ("Cross-account policy evaluation logic"), so every role needs its statement here;
- ``importer_read_statements``: what the importer's role needs to read the exports
  (identity policy; ImportTable reads with its caller's rights, "Requesting a table
  import in DynamoDB"): ``s3:ListBucket`` limited to the prefixes and ``s3:GetObject``
  on it, plus ``kms:Decrypt`` on the key if there is one. With ``principal_arn`` the
  same access as bucket-policy statements, for a bucket in a third account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from table_exporter.kernel import iam
from table_exporter.kernel.grants import Resource, optional, statements
from table_exporter.kernel.targets import ATHENA_RESULTS_PREFIX

Statement = dict[str, Any]

EXPORT_WRITE_ACTIONS = ("s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl")


def _bucket_name(bucket_arn: str) -> str:
    if not bucket_arn.startswith("arn:") or ":s3:::" not in bucket_arn or "/" in bucket_arn:
        raise ValueError(f"not a bucket ARN: {bucket_arn!r}")
    return bucket_arn.split(":::", 1)[1]


def _prefix(prefix: str) -> str:
    if prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError("prefix takes no leading or trailing '/'")
    return prefix


def destination_bucket_statements(
    *, bucket_arn: str, prefixes: Sequence[str], exporter_role_arn: str
) -> list[Statement]:
    """Bucket-policy statements of the destination bucket for the exporter's role: one
    statement for every prefix (statement ids are unique within a policy)."""
    _bucket_name(bucket_arn)
    return [
        iam.allow_principal(
            "ExporterWritesExports",
            {"AWS": exporter_role_arn},
            EXPORT_WRITE_ACTIONS,
            [f"{bucket_arn}/{_prefix(p)}/*" for p in sorted(set(prefixes))],
        )
    ]


def drill_bucket_statements(
    *, bucket_arn: str, prefixes: list[str], report_prefix: str, drill_role_arn: str
) -> list[Statement]:
    """Bucket-policy statements for the restore drill's role: list the bucket (its
    identity policy may too), read the exports, write its reports."""
    _bucket_name(bucket_arn)
    drill = {"AWS": drill_role_arn}
    return [
        iam.allow_principal("DrillListsExports", drill, ["s3:ListBucket"], [bucket_arn]),
        iam.allow_principal(
            "DrillReadsExports",
            drill,
            ["s3:GetObject"],
            [f"{bucket_arn}/{_prefix(p)}/*" for p in prefixes],
        ),
        iam.allow_principal(
            "DrillWritesReports",
            drill,
            ["s3:PutObject"],
            [f"{bucket_arn}/{_prefix(report_prefix)}/*"],
        ),
    ]


def history_bucket_statements(
    *, bucket_arn: str, folders: list[str], delivery_role_arn: str, sid: str
) -> list[Statement]:
    """Bucket-policy statements for one change history's Firehose role: locate and list
    the bucket, write objects under its history and error ``folders`` (each ends '/')."""
    _bucket_name(bucket_arn)
    firehose = {"AWS": delivery_role_arn}
    return [
        iam.allow_principal(
            f"{sid}LocatesTheBucket",
            firehose,
            ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            [bucket_arn],
        ),
        iam.allow_principal(
            f"{sid}WritesHistory",
            firehose,
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            [f"{bucket_arn}/{folder}*" for folder in folders],
        ),
    ]


def current_table_statements(
    *, bucket_arn: str, prefixes: list[str], exporter_role_arn: str
) -> list[Statement]:
    """Bucket-policy statements for keeping current tables from a bucket in another
    account: the table export role's Athena queries (Athena acts with the caller's
    rights) list and read the exports and write their results under ``athena-results/``.
    The tables' own files are in the exporter's account, in a bucket of their own."""
    _bucket_name(bucket_arn)
    exporter = {"AWS": exporter_role_arn}
    return [
        iam.allow_principal(
            "CurrentTablesListExports",
            exporter,
            ["s3:GetBucketLocation", "s3:ListBucket"],
            [bucket_arn],
        ),
        iam.allow_principal(
            "CurrentTablesReadExports",
            exporter,
            ["s3:GetObject"],
            [f"{bucket_arn}/{_prefix(prefix)}/*" for prefix in prefixes],
        ),
        iam.allow_principal(
            "CurrentTablesWriteQueryResults",
            exporter,
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            [f"{bucket_arn}/{ATHENA_RESULTS_PREFIX}/*"],
        ),
    ]


def kms_key_statements(
    *,
    key_arn: str,
    region: str,
    exporter_role_arn: str,
    importer_role_arn: str | None = None,
    other_writer_role_arns: list[str] | None = None,
    partition_suffix: str = "amazonaws.com",
) -> list[Statement]:
    """Key-policy statements of the destination bucket's customer-managed key.
    ``other_writer_role_arns``: the exporter's other roles that read and write the
    bucket (restore drills, change-history delivery); each only through S3."""
    via_s3 = {"StringEquals": iam.via_service("s3", region, partition_suffix)}
    encrypt = ["kms:Decrypt", "kms:GenerateDataKey"]
    statements = [
        iam.allow_principal(
            "ExporterEncryptsExports",
            {"AWS": exporter_role_arn},
            encrypt,
            [key_arn],
            Condition=via_s3,
        )
    ]
    if other_writer_role_arns:
        statements.append(
            iam.allow_principal(
                "ExporterRolesEncrypt",
                {"AWS": sorted(other_writer_role_arns)},
                encrypt,
                [key_arn],
                Condition=via_s3,
            )
        )
    if importer_role_arn:
        statements.append(
            iam.allow_principal(
                "ImporterDecryptsExports",
                {"AWS": importer_role_arn},
                ["kms:Decrypt"],
                [key_arn],
                Condition=via_s3,
            )
        )
    return statements


@dataclass(frozen=True)
class ExportReader:
    """Whoever reads the exports under ``prefixes`` of a bucket: the importer's role."""

    bucket_arn: str
    prefixes: Sequence[str]
    kms_key_arn: str | None = None
    """The bucket's customer-managed key, if it has one."""


def _keys_under(prefix: str) -> str:
    """The keys below ``prefix``; every key for the bucket's root (an empty prefix)."""
    return f"{prefix}/*" if prefix else "*"


EXPORT_LISTING: Resource[ExportReader] = Resource(
    "ImporterListsExports",
    lambda reader: [reader.bucket_arn],
    lambda reader: {"StringLike": {"s3:prefix": [_keys_under(p) for p in reader.prefixes]}},
)

EXPORT_OBJECTS: Resource[ExportReader] = Resource(
    "ImporterReadsExports",
    lambda reader: [f"{reader.bucket_arn}/{_keys_under(p)}" for p in reader.prefixes],
)

EXPORTS_KEY: Resource[ExportReader] = Resource(
    "ImporterDecryptsExports", lambda reader: optional(reader.kms_key_arn), may_be_absent=True
)
"""ImportTable decrypts SSE-KMS exports with the caller's rights."""

IMPORTER_READS = {EXPORT_LISTING: ("s3:ListBucket",), EXPORT_OBJECTS: ("s3:GetObject",)}
"""What the importer's states ask of the exports (``importer/machine.py``; a test
holds the two to each other)."""


def importer_read_statements(
    *,
    bucket_arn: str,
    prefixes: Sequence[str],
    kms_key_arn: str | None = None,
    principal_arn: str | None = None,
) -> list[Statement]:
    """Read access to the exports: identity-policy statements for the importer's role,
    or, given ``principal_arn``, bucket-policy statements for it (no KMS statement
    then: a key policy grants that, see ``kms_key_statements``). One statement per
    kind for all ``prefixes``: IAM wants statement ids unique within a policy."""
    _bucket_name(bucket_arn)
    prefixes = sorted({_prefix(p) for p in prefixes})
    if principal_arn:
        reader = ExportReader(bucket_arn, prefixes)
        return statements(IMPORTER_READS, reader, {"AWS": principal_arn})
    reader = ExportReader(bucket_arn, prefixes, kms_key_arn)
    return statements({**IMPORTER_READS, EXPORTS_KEY: ("kms:Decrypt",)}, reader)


def document(statements: list[Statement]) -> dict[str, Any]:
    """The statements as one policy document (bucket, key or identity policy)."""
    return iam.document(*statements)
