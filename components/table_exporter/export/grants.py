"""What the exporter's two machines act on: each resource once, with the statement it
renders as, its ARNs and its condition, read from the role's typed description.
The states name these in their grants (``kernel/grants.py``); the policies in
``policies.py`` are collected from the states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from table_exporter.kernel.grants import Resource, fixed, optional, via_s3
from table_exporter.kernel.metrics import METRIC_NAMESPACE
from table_exporter.kernel.policies import (
    execution_arn_pattern,
    object_resources,
    state_machine_arn,
    workgroup_arns,
)
from table_exporter.kernel.targets import AwsScope, ExportTarget


@dataclass(frozen=True)
class TableExportRole:
    """The table export role's resources, as plain values; ``None`` where this
    exporter has no such resource (a machine that asks for one then fails to build
    its policy)."""

    scope: AwsScope
    targets: Sequence[ExportTarget]
    bucket: str
    kms_key_arn: str | None = None
    state_table_arn: str | None = None
    catalog_database: str | None = None
    athena_workgroup: str | None = None
    current_optimizer_role_arn: str | None = None
    current_bucket: str | None = None
    tables: Sequence[str] = field(default=())
    """The table ARNs (or patterns) granted: chosen for the whole policy by its size
    (``policies.table_scope``)."""

    @property
    def prefixes(self) -> list[str]:
        return sorted({t.prefix for t in self.targets})


EXPORTED_TABLES: Resource[TableExportRole] = Resource(
    "ExportConfiguredTables", lambda role: role.tables
)
"""The configured tables and their exports (``DescribeExport`` is authorised on those)."""

EXPORT_OBJECTS: Resource[TableExportRole] = Resource(
    "WriteExportObjects",
    lambda role: object_resources(role.bucket, role.prefixes, role.scope.partition),
)
"""The objects DynamoDB writes, with the caller's rights, under each table's prefix."""

EXPORT_KEY: Resource[TableExportRole] = Resource(
    "EncryptExportObjects", lambda role: optional(role.kms_key_arn), via_s3
)
"""The configured key, for S3's writes and reads of the objects (SSE-KMS) only."""

CATALOG: Resource[TableExportRole] = Resource(
    "PointAthenaAtCompletedExports",
    lambda role: (
        [
            role.scope.arn("glue", "catalog"),
            role.scope.arn("glue", f"database/{role.catalog_database}"),
            role.scope.arn("glue", f"table/{role.catalog_database}/*"),
        ]
        if role.catalog_database
        else []
    ),
)

SAVED_QUERIES: Resource[TableExportRole] = Resource(
    "SaveCurrentStateQueries", lambda role: workgroup_arns(role.scope, role.athena_workgroup)
)

WATERMARKS: Resource[TableExportRole] = Resource(
    "KeepWatermarks", lambda role: optional(role.state_table_arn)
)

LAG_METRIC: Resource[TableExportRole] = Resource(
    "PublishWatermarkLag",
    # PutMetricData supports no resource; the namespace condition scopes it.
    fixed("*"),
    lambda _role: {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
)


@dataclass(frozen=True)
class RunRole:
    """The run role's resources. ``run_machine_name`` may end in ``AUTONAME_SUFFIX``:
    the role is made before the machine it serves, so it names the machine by pattern."""

    scope: AwsScope
    run_machine_name: str
    table_machine_arn: str
    table_machine_name: str
    bucket: str
    report_prefix: str
    map_label: str
    kms_key_arn: str | None = None
    """The report bucket's customer-managed key, if it has one."""


MANAGED_SYNC_RULE = "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
"""The Step Functions-managed EventBridge rule ``.sync`` integrations learn completion by."""

TABLE_MACHINE: Resource[RunRole] = Resource(
    "StartTableExports", lambda role: [role.table_machine_arn]
)

TABLE_EXECUTIONS: Resource[RunRole] = Resource(
    "WatchTableExports",
    # IAM lists standard and express executions as two resource types of these
    # actions; the child is STANDARD, so the express ARN names nothing that exists.
    lambda role: [
        execution_arn_pattern(role.scope, role.table_machine_name),
        role.scope.arn("states", f"express:{role.table_machine_name}:*:*"),
    ],
)

SYNC_RULE: Resource[RunRole] = Resource(
    "ManagedCompletionRule", lambda role: [role.scope.arn("events", MANAGED_SYNC_RULE)]
)

OWN_MACHINE: Resource[RunRole] = Resource(
    "StartItemsOfItsOwnMap",
    lambda role: [state_machine_arn(role.scope, role.run_machine_name)],
)
"""Child workflow executions of a Distributed Map are executions of this machine."""

MAP_EXECUTIONS: Resource[RunRole] = Resource(
    "WatchItemsOfItsOwnMap",
    # As for the table exports: the express form names nothing that exists.
    lambda role: [
        role.scope.arn("states", f"execution:{role.run_machine_name}/{role.map_label}:*"),
        role.scope.arn("states", f"express:{role.run_machine_name}/{role.map_label}:*:*"),
    ],
)

MAP_RUNS: Resource[RunRole] = Resource(
    "CountItemsOfItsOwnMap",
    lambda role: [role.scope.arn("states", f"mapRun:{role.run_machine_name}/{role.map_label}:*")],
)

RUN_REPORTS: Resource[RunRole] = Resource(
    "WriteAndReadRunReports",
    lambda role: [f"arn:{role.scope.partition}:s3:::{role.bucket}/{role.report_prefix}/*"],
)

RUN_REPORTS_KEY: Resource[RunRole] = Resource(
    "EncryptRunReports", lambda role: optional(role.kms_key_arn), via_s3, may_be_absent=True
)
"""Only through S3, for the reports; none where the bucket has no customer-managed key."""
