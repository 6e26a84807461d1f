"""The exporter's roles, as IAM documents built from plain data: the table export
role, the run role and the scheduler role, each granting exactly what its machine's
states call, on exactly the resources they touch. Size is checked here, because a role
with too many table ARNs fails at deployment, not at preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from table_exporter.config import DEFAULTS
from table_exporter.export.grants import EXPORTED_TABLES, RunRole, TableExportRole
from table_exporter.kernel.grants import Grants, statements
from table_exporter.kernel.iam import Document, allow, document
from table_exporter.kernel.policies import (
    INLINE_POLICY_LIMIT,
    TableAccess,
    exact_table_resources,
    observability,
    policy_size,
    table_scope,
)
from table_exporter.kernel.targets import AwsScope, ExportTarget


def table_export_role_policy(
    scope: AwsScope,
    *,
    grants: Grants,
    targets: Sequence[ExportTarget],
    bucket: str,
    kms_key_arn: str | None = None,
    logging: bool = True,
    tracing: bool = False,
    table_access: TableAccess = DEFAULTS["table_access"],
    state_table_arn: str | None = None,
    catalog_database: str | None = None,
    athena_workgroup: str | None = None,
    current_optimizer_role_arn: str | None = None,
    current_bucket: str | None = None,
) -> Document:
    """What the table export machine calls, as its states declare (``grants``), on the
    resources this exporter names (``grants.py``): the configured tables and their
    exports, the writes DynamoDB performs on the caller's behalf, and (as the machine
    has them) the watermark items, the Glue database, the workgroup, the lag metric
    and the current tables. The tables are named as IAM's size limit allows."""
    role = TableExportRole(
        scope=scope,
        targets=targets,
        bucket=bucket,
        kms_key_arn=kms_key_arn,
        state_table_arn=state_table_arn,
        catalog_database=catalog_database,
        athena_workgroup=athena_workgroup,
        current_optimizer_role_arn=current_optimizer_role_arn,
        current_bucket=current_bucket,
    )

    def with_tables(tables: list[str]) -> Document:
        return document(
            *statements(grants, replace(role, tables=tables)),
            *observability(logging, tracing),
        )

    # Everything but the table names: measured with a one-name placeholder, less its size.
    overhead = policy_size(with_tables(["*"])) - len('"*"')
    if overhead > INLINE_POLICY_LIMIT:
        prefixes = len(role.prefixes)
        raise ValueError(
            f"tables: {prefixes} distinct S3 prefixes need an IAM policy of {overhead} characters "
            f"before any table is named, over IAM's {INLINE_POLICY_LIMIT}-character limit; "
            "let tables share a prefix (each table's exports already go under its own name)"
        )
    chosen = table_scope(targets, table_access, INLINE_POLICY_LIMIT - overhead)
    result = with_tables(chosen.resources)
    size = policy_size(result)
    if size > INLINE_POLICY_LIMIT:
        exact = policy_size(with_tables(exact_table_resources(targets)))
        raise ValueError(
            f"tables: {len(targets)} tables need an IAM policy of {exact} characters when each "
            f"table is named exactly, over IAM's {INLINE_POLICY_LIMIT}-character limit for a role's "
            "inline policies. Set table access to 'prefix' (grants every table whose name starts "
            "with a shared prefix) or 'all' (every table in the account and region) to accept "
            "a broader grant."
        )
    return result


def granted_tables(document: Document) -> list[str]:
    """The table resources a table export role policy grants."""
    (statement,) = (s for s in document["Statement"] if s["Sid"] == EXPORTED_TABLES.sid)
    return list(statement["Resource"])


def run_role_policy(
    scope: AwsScope,
    *,
    grants: Grants,
    run_machine_name: str,
    table_machine_arn: str,
    table_machine_name: str,
    bucket: str,
    report_prefix: str,
    map_label: str,
    kms_key_arn: str | None = None,
    logging: bool = True,
    tracing: bool = False,
) -> Document:
    """What the run machine calls, as its states declare: its own Distributed Map's child
    workflow executions and Map Run, the table export executions each item starts and
    watches, and the run report the Map writes and the run reads back (``grants.py``)."""
    role = RunRole(
        scope=scope,
        run_machine_name=run_machine_name,
        table_machine_arn=table_machine_arn,
        table_machine_name=table_machine_name,
        bucket=bucket,
        report_prefix=report_prefix,
        map_label=map_label,
        kms_key_arn=kms_key_arn,
    )
    return document(*statements(grants, role), *observability(logging, tracing))


def scheduler_role_policy(
    *, run_machine_arn: str, dead_letter_queue_arn: str, drill_machine_arn: str | None = None
) -> Document:
    """The scheduler starts runs (and restore drills) and, when it cannot, parks the
    event in its DLQ."""
    machines = [run_machine_arn] + ([drill_machine_arn] if drill_machine_arn else [])
    return document(
        allow("StartRuns", ["states:StartExecution"], machines),
        allow("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
    )


def start_run_policy(run_machine_arn: str, run_machine_name: str) -> Document:
    """For another principal: start runs of this exporter and follow them."""
    _, partition, _, region, account = run_machine_arn.split(":")[:5]
    return document(
        allow("StartRuns", ["states:StartExecution"], [run_machine_arn]),
        allow(
            "FollowRuns",
            ["states:DescribeExecution"],
            [f"arn:{partition}:states:{region}:{account}:execution:{run_machine_name}:*"],
        ),
    )
