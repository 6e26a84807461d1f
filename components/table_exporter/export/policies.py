"""The exporter's roles, as IAM documents built from plain data: the table export
role, the run role and the scheduler role, each granting exactly what its machine's
states call, on exactly the resources they touch. Size is checked here, because a role
with too many table ARNs fails at deployment, not at preview.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from table_exporter.current.sql import CURRENT_SUFFIX, SOURCE_SUFFIXES
from table_exporter.kernel.iam import Document, allow, document
from table_exporter.kernel.metrics import METRIC_NAMESPACE
from table_exporter.kernel.policies import (
    INLINE_POLICY_LIMIT,
    Grants,
    TableAccess,
    exact_table_resources,
    execution_arn_pattern,
    observability,
    policy_size,
    state_machine_arn,
    table_scope,
)
from table_exporter.kernel.targets import ATHENA_RESULTS_PREFIX, AwsScope, ExportTarget


def export_object_resources(
    bucket: str, prefixes: Iterable[str], partition: str = "aws"
) -> list[str]:
    return [f"arn:{partition}:s3:::{bucket}/{prefix}/*" for prefix in sorted(set(prefixes))]


def _only_known(grants: Grants, known: Iterable[str]) -> None:
    unknown = sorted(set(grants) - set(known))
    if unknown:
        raise ValueError(f"no resources are known for the machine's grants: {', '.join(unknown)}")


def table_export_role_policy(
    scope: AwsScope,
    *,
    grants: Grants,
    targets: Sequence[ExportTarget],
    bucket: str,
    kms_key_arn: str | None = None,
    logging: bool = True,
    tracing: bool = False,
    table_access: TableAccess = "exact",
    state_table_arn: str | None = None,
    catalog_database: str | None = None,
    athena_workgroup: str | None = None,
    current_optimizer_role_arn: str | None = None,
    current_bucket: str | None = None,
) -> Document:
    """What the table export machine calls, as its states declare (``grants``), on the
    resources this exporter names: the configured tables and their exports, the writes
    DynamoDB performs on the caller's behalf, and (as the machine has them) the
    watermark items, the Glue database, the workgroup and the lag metric."""
    resources: dict[str, tuple[str, list[str], dict[str, Any]]] = {
        "export_objects": (
            "WriteExportObjects",
            export_object_resources(bucket, (t.prefix for t in targets), scope.partition),
            {},
        ),
    }
    if kms_key_arn:
        # Only for the S3 writes of the export, not direct use of the key.
        # S3 calls KMS from the bucket's region, which is the key's region.
        resources["kms_key"] = (
            "EncryptExportObjects",
            [kms_key_arn],
            {"Condition": {"StringEquals": {"kms:ViaService": _s3_in_region_of(kms_key_arn)}}},
        )
    if catalog_database:
        resources["glue"] = (
            "PointAthenaAtCompletedExports",
            [
                scope.arn("glue", "catalog"),
                scope.arn("glue", f"database/{catalog_database}"),
                scope.arn("glue", f"table/{catalog_database}/*"),
            ],
            {},
        )
    if athena_workgroup:
        resources["workgroup"] = (
            "SaveCurrentStateQueries",
            [scope.arn("athena", f"workgroup/{athena_workgroup}")],
            {},
        )
    if catalog_database and athena_workgroup:
        resources.update(
            _current_table_resources(
                scope,
                bucket=bucket,
                current_bucket=current_bucket,
                prefixes=sorted({t.prefix for t in targets}),
                database=catalog_database,
                workgroup=athena_workgroup,
                optimizer_role_arn=current_optimizer_role_arn,
            )
        )
    if state_table_arn:
        resources["state_table"] = ("KeepWatermarks", [state_table_arn], {})
        # PutMetricData supports no resource; the namespace condition scopes it.
        resources["lag_metric"] = (
            "PublishWatermarkLag",
            ["*"],
            {"Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}},
        )
    _only_known(grants, ["tables", *resources])

    def with_tables(tables: list[str]) -> Document:
        statements = [allow("ExportConfiguredTables", grants["tables"], tables)]
        for group, (sid, group_resources, extra) in resources.items():
            if group in grants:
                statements.append(allow(sid, grants[group], group_resources, **extra))
        statements.extend(observability(logging, tracing))
        return document(*statements)

    overhead = policy_size(with_tables([]))
    if overhead > INLINE_POLICY_LIMIT:
        prefixes = len({t.prefix for t in targets})
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


def _current_table_resources(
    scope: AwsScope,
    *,
    bucket: str,
    current_bucket: str | None,
    prefixes: Sequence[str],
    database: str,
    workgroup: str,
    optimizer_role_arn: str | None,
) -> dict[str, tuple[str, list[str], dict[str, Any]]]:
    """The current tables' groups (``current/states.py``): the queries in the workgroup,
    and what Athena does as the caller to run them ("Identity-based policies for Athena",
    "Access to Amazon S3" and "Use Apache Iceberg tables: permissions" in the Athena user
    guide): read the database and the three tables, create and commit ``<table>_current``,
    read the exports' objects (listing their prefixes), write the Iceberg table's files
    in the current tables' bucket (``<table prefix>/``) and the query results under
    ``athena-results/``.
    Glue's optimizers act as ``optimizer_role_arn``, passed to Glue only."""
    glue_base = [scope.arn("glue", "catalog"), scope.arn("glue", f"database/{database}")]
    tables = [scope.arn("glue", f"table/{database}/*{suffix}") for suffix in SOURCE_SUFFIXES]
    current = scope.arn("glue", f"table/{database}/*{CURRENT_SUFFIX}")
    s3 = f"arn:{scope.partition}:s3:::{bucket}"
    found: dict[str, tuple[str, list[str], dict[str, Any]]] = {
        "current_queries": (
            "RunCurrentTableQueries",
            [scope.arn("athena", f"workgroup/{workgroup}")],
            {},
        ),
        "current_database": ("ReadCurrentTableDatabase", glue_base, {}),
        "current_catalog_read": ("ReadCurrentTableSources", [*glue_base, *tables], {}),
        "current_catalog_write": ("CommitCurrentTables", [*glue_base, current], {}),
        "current_optimizers": ("OptimizeCurrentTables", [*glue_base, current], {}),
        "current_export_reads": (
            "ReadExportsIntoCurrentTables",
            export_object_resources(bucket, prefixes, scope.partition),
            {},
        ),
        "current_listing": (
            "ListExportsIntoCurrentTables",
            [s3],
            {"Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in prefixes]}}},
        ),
        "current_results_bucket": ("LocateQueryResults", [s3], {}),
        "current_objects": (
            "ReadAndWriteCurrentTables",
            export_object_resources(current_bucket, prefixes, scope.partition)
            if current_bucket
            else [],
            {},
        ),
        "current_results": ("WriteQueryResults", [f"{s3}/{ATHENA_RESULTS_PREFIX}/*"], {}),
    }
    if optimizer_role_arn:
        found["current_optimizer_role"] = (
            "PassOptimizerRoleToGlue",
            [optimizer_role_arn],
            {"Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}},
        )
    return found


def _s3_in_region_of(kms_key_arn: str) -> str:
    return f"s3.{kms_key_arn.split(':')[3]}.amazonaws.com"


MANAGED_SYNC_RULE = "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"


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
    watches, and the run report the Map writes and the run reads back.

    ``run_machine_name`` may end in ``AUTONAME_SUFFIX``: the role is made before the
    machine it serves, so it names the machine by pattern.
    """
    resources: dict[str, tuple[str, list[str], dict[str, Any]]] = {
        "table_machine": ("StartTableExports", [table_machine_arn], {}),
        "table_executions": (
            "WatchTableExports",
            # IAM lists standard and express executions as two resource types of these
            # actions; the child is STANDARD, so the express ARN names nothing that exists.
            [
                execution_arn_pattern(scope, table_machine_name),
                scope.arn("states", f"express:{table_machine_name}:*:*"),
            ],
            {},
        ),
        "sync_rule": ("ManagedCompletionRule", [scope.arn("events", MANAGED_SYNC_RULE)], {}),
        "run_machine": (
            "StartItemsOfItsOwnMap",
            [state_machine_arn(scope, run_machine_name)],
            {},
        ),
        "map_executions": (
            "WatchItemsOfItsOwnMap",
            # As for the table exports: the express form names nothing that exists.
            [
                scope.arn("states", f"execution:{run_machine_name}/{map_label}:*"),
                scope.arn("states", f"express:{run_machine_name}/{map_label}:*:*"),
            ],
            {},
        ),
        "map_runs": (
            "CountItemsOfItsOwnMap",
            [scope.arn("states", f"mapRun:{run_machine_name}/{map_label}:*")],
            {},
        ),
        "reports": (
            "WriteAndReadRunReports",
            [f"arn:{scope.partition}:s3:::{bucket}/{report_prefix}/*"],
            {},
        ),
    }
    _only_known(grants, resources)
    statements = [
        allow(sid, grants[group], group_resources, **extra)
        for group, (sid, group_resources, extra) in resources.items()
        if group in grants
    ]
    if kms_key_arn and "reports" in grants:
        statements.append(
            allow(
                "EncryptRunReports",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [kms_key_arn],
                Condition={"StringEquals": {"kms:ViaService": _s3_in_region_of(kms_key_arn)}},
            )
        )
    return document(*statements, *observability(logging, tracing))


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
