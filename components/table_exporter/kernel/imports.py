"""What DynamoDB's ImportTable asks of its caller, for restore drills and the
importer alike ("Requesting a table import in DynamoDB", "Import format quotas and
validation"): the new table, reading the source objects and listing their bucket
(with the caller's rights), and the CloudWatch log group DynamoDB writes import
errors to, ``/aws-dynamodb/*``, which it may have to create.
"""

from __future__ import annotations

from typing import Any, Protocol

from table_exporter.kernel.grants import Grant, Resource, fixed


class ImportingRole(Protocol):
    @property
    def partition(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def account_id(self) -> str: ...


ACCOUNT_LISTS: Resource[object] = Resource("AccountLists", fixed("*"))
"""Actions that take no resource: ListTables, ListImports, ListExports,
DescribeLogGroups."""

IMPORT_LOGS: Resource[ImportingRole] = Resource(
    "ImportLogs",
    lambda role: [
        f"arn:{role.partition}:logs:{role.region}:{role.account_id}:log-group:/aws-dynamodb/*"
    ],
)

IMPORT_LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
)


def import_table_grants(
    tables: Resource[Any], objects: Resource[Any], bucket: Resource[Any], key: Resource[Any]
) -> tuple[Grant, ...]:
    """ImportTable into ``tables``, reading ``objects`` in ``bucket``, decrypting them
    with ``key`` where they are encrypted with a customer-managed one."""
    return (
        Grant(tables, ("dynamodb:ImportTable",)),
        Grant(objects, ("s3:GetObject",)),
        Grant(bucket, ("s3:ListBucket",)),
        Grant(key, ("kms:Decrypt",)),
        Grant(ACCOUNT_LISTS, ("logs:DescribeLogGroups",)),
        Grant(IMPORT_LOGS, IMPORT_LOG_ACTIONS),
    )
