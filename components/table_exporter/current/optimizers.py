"""The role Glue's table optimizers act as on ``<table>_current``, as plain IAM documents.

The table export machine creates the three optimizers (compaction, snapshot retention,
orphan file deletion) right after it creates a table ("Optimizing Iceberg tables",
AWS Glue developer guide); this role is what they assume. Per "Table optimization
prerequisites" it needs to read, write and delete the table's objects, list the
bucket, and read and update the table in the catalog, plus CloudWatch Logs. It is
granted the current tables' bucket (which holds nothing else), under the configured
prefixes, the exporter's database and its ``*_current`` tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from table_exporter.current.sql import CURRENT_SUFFIX
from table_exporter.kernel.iam import allow, document, service_trust
from table_exporter.kernel.targets import AwsScope

OPTIMIZER_LOG_GROUP = "/aws-glue/tableOptimizers"
"""Where Glue's table optimizers write their logs ("Viewing optimization details")."""


def optimizer_trust_policy(account_id: str) -> dict[str, Any]:
    """Glue may assume the role, on behalf of this account only (confused deputy)."""
    return service_trust("GlueTableOptimizers", "glue.amazonaws.com", account_id)


def optimizer_role_policy(
    scope: AwsScope,
    *,
    bucket: str,
    prefixes: Iterable[str],
    database: str,
    kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """What the optimizers do on the current tables of ``prefixes`` in ``bucket`` (the
    current tables' bucket: each table's files are under ``<prefix>/<table>/``)."""
    folders = sorted({f"{prefix}/" for prefix in prefixes})
    bucket_arn = f"arn:{scope.partition}:s3:::{bucket}"
    statements = [
        allow(
            "RewriteAndExpireTableFiles",
            ("s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
            [f"{bucket_arn}/{folder}*" for folder in folders],
        ),
        allow(
            "ListTableFiles",
            ("s3:ListBucket",),
            [bucket_arn],
            Condition={"StringLike": {"s3:prefix": [f"{folder}*" for folder in folders]}},
        ),
        allow(
            "CommitToCurrentTables",
            ("glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"),
            [
                scope.arn("glue", "catalog"),
                scope.arn("glue", f"database/{database}"),
                scope.arn("glue", f"table/{database}/*{CURRENT_SUFFIX}"),
            ],
        ),
        allow(
            "OptimizerLogs",
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            [scope.arn("logs", f"log-group:{OPTIMIZER_LOG_GROUP}:*")],
        ),
    ]
    if kms_key_arn:
        statements.append(
            allow("EncryptedTableFiles", ("kms:Decrypt", "kms:GenerateDataKey"), [kms_key_arn])
        )
    return document(*statements)
