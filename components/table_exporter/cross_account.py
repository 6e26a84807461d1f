"""Policy statements for copying exports into another account, as plain data.

Two stacks: the exporter in the source account writes its exports into a bucket the
destination account owns (``S3BucketOwner`` set to that account), and a
``TableImporter`` there imports them. The destination account applies:

- ``destination_bucket_statements``: its bucket policy lets the exporter's table-export
  role write export objects under the prefix ("Requesting a table export in DynamoDB":
  ``s3:PutObject``, ``s3:AbortMultipartUpload``, ``s3:PutObjectAcl``). With S3 Object
  Ownership "bucket owner enforced" the destination account owns every object written;
- ``kms_key_statements``: when the bucket's default encryption is a customer-managed
  key, the key policy lets the exporter's role encrypt (``kms:GenerateDataKey``,
  ``kms:Decrypt``: multipart uploads read data keys back) and the importer's role
  decrypt, each only through S3 in the bucket's region (``kms:ViaService``). AWS's key
  policy examples write ``Resource`` as ``"*"``, meaning the key the policy is attached
  to; these name that key's own ARN instead, the same single resource, so that linters
  that cannot tell a key policy from an identity policy find nothing to report;
- ``importer_read_statements``: what the importer's role needs to read the exports
  (identity policy; ImportTable reads with its caller's rights, "Requesting a table
  import in DynamoDB"): ``s3:ListBucket`` limited to the prefix and ``s3:GetObject``
  on it, plus ``kms:Decrypt`` on the key if there is one. With ``principal_arn`` the
  same access as bucket-policy statements, for a bucket in a third account.
"""

from __future__ import annotations

from typing import Any

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
    *, bucket_arn: str, prefix: str, exporter_role_arn: str
) -> list[Statement]:
    """Bucket-policy statements of the destination bucket for the exporter's role."""
    _bucket_name(bucket_arn)
    return [
        {
            "Sid": "ExporterWritesExports",
            "Effect": "Allow",
            "Principal": {"AWS": exporter_role_arn},
            "Action": list(EXPORT_WRITE_ACTIONS),
            "Resource": f"{bucket_arn}/{_prefix(prefix)}/*",
        }
    ]


def kms_key_statements(
    *,
    key_arn: str,
    region: str,
    exporter_role_arn: str,
    importer_role_arn: str | None = None,
    partition_suffix: str = "amazonaws.com",
) -> list[Statement]:
    """Key-policy statements of the destination bucket's customer-managed key."""
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{region}.{partition_suffix}"}}
    statements = [
        {
            "Sid": "ExporterEncryptsExports",
            "Effect": "Allow",
            "Principal": {"AWS": exporter_role_arn},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
            "Condition": via_s3,
        }
    ]
    if importer_role_arn:
        statements.append(
            {
                "Sid": "ImporterDecryptsExports",
                "Effect": "Allow",
                "Principal": {"AWS": importer_role_arn},
                "Action": ["kms:Decrypt"],
                "Resource": key_arn,
                "Condition": via_s3,
            }
        )
    return statements


def importer_read_statements(
    *,
    bucket_arn: str,
    prefix: str,
    kms_key_arn: str | None = None,
    principal_arn: str | None = None,
) -> list[Statement]:
    """Read access to the exports: identity-policy statements for the importer's role,
    or, given ``principal_arn``, bucket-policy statements for it (no KMS statement
    then: a key policy grants that, see ``kms_key_statements``)."""
    _bucket_name(bucket_arn)
    prefix = _prefix(prefix)
    principal = {"Principal": {"AWS": principal_arn}} if principal_arn else {}
    statements: list[Statement] = [
        {
            "Sid": "ImporterListsExports",
            "Effect": "Allow",
            **principal,
            "Action": ["s3:ListBucket"],
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
        },
        {
            "Sid": "ImporterReadsExports",
            "Effect": "Allow",
            **principal,
            "Action": ["s3:GetObject"],
            "Resource": f"{bucket_arn}/{prefix}/*",
        },
    ]
    if kms_key_arn and not principal_arn:
        statements.append(
            {
                "Sid": "ImporterDecryptsExports",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": kms_key_arn,
            }
        )
    return statements


def document(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}
