"""Every Task of every machine the project can generate, checked against botocore.

For each Task state (Map item processors included) of each machine variant: the
operation exists, ``Arguments`` name only members of its input shape with literal
values of the right type, every required member is given, every error in Retry and
Catch is one the task's own service can raise (by Step Functions' name), and every
transient error is retried. ``retries.OPERATION_ERRORS`` is checked against the model,
so the table the machines are built from cannot drift from what the APIs raise.
"""

from __future__ import annotations

from typing import Any

import pytest
from table_exporter.export.run_machine import RunSpec, run_definition
from table_exporter.export.table_machine import (
    Destination,
    IncrementalSpec,
    TableExportSpec,
    table_export_definition,
)
from table_exporter.kernel import retries
from table_exporter.kernel.targets import ExportTarget

from emulator.harness import definitions as harness_definitions
from emulator.stack import capture_stack
from tests.sdk_models import (
    check_task,
    modelled_errors,
    operation_errors_drift,
    parse_resource,
    task_states,
)

ACCOUNT = "123456789012"
REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


def _kms(partition: str) -> str:
    return f"arn:{partition}:kms:{REGIONS[partition]}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _table_export_variants() -> dict[str, tuple[str, dict[str, Any]]]:
    incremental = IncrementalSpec(state_table="exporter-state", exporter_name="exporter")
    plain = Destination(bucket="exports-bucket")
    specs = {
        "full": TableExportSpec(destination=plain),
        "full+catalog": TableExportSpec(destination=plain, catalog_database="exports"),
        "incremental": TableExportSpec(destination=plain, incremental=incremental),
        "incremental+catalog": TableExportSpec(
            destination=plain, incremental=incremental, catalog_database="exports"
        ),
        "incremental+catalog+athena": TableExportSpec(
            destination=plain,
            incremental=incremental,
            catalog_database="exports",
            athena_workgroup="primary",
        ),
        "incremental-new-image+owner": TableExportSpec(
            destination=Destination(bucket="exports-bucket", bucket_owner="210987654321"),
            incremental=IncrementalSpec(
                state_table="exporter-state", exporter_name="exporter", view_type="NEW_IMAGE"
            ),
        ),
    }
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        kms = Destination(
            bucket="exports-bucket",
            sse_algorithm="KMS",
            kms_key_arn=_kms(partition),
            bucket_owner="210987654321",
        )
        specs[f"{partition}:kms+owner+incremental+catalog+athena"] = TableExportSpec(
            destination=kms,
            partition=partition,
            incremental=incremental,
            catalog_database="exports",
            athena_workgroup="primary",
        )
        specs[f"{partition}:kms+ion+full"] = TableExportSpec(
            destination=Destination(
                bucket="exports-bucket",
                export_format="ION",
                sse_algorithm="KMS",
                kms_key_arn=_kms(partition),
            ),
            partition=partition,
        )
    return {
        f"table-export[{name}]": (spec.partition, table_export_definition(spec))
        for name, spec in specs.items()
    }


def _fan_out_variants() -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for partition, region in REGIONS.items():
        machine = f"arn:{partition}:states:{region}:{ACCOUNT}:stateMachine:exporter"
        targets = [
            ExportTarget(
                table_arn=f"arn:{partition}:dynamodb:{region}:{ACCOUNT}:table/orders",
                prefix="exports",
            ),
            ExportTarget(
                table_arn=f"arn:{partition}:dynamodb:{region}:{ACCOUNT}:table/customers",
                prefix="crm",
                mode="incremental",
                columns=("name:struct<s:string>",),
            ),
        ]
        found[f"run[{partition}]"] = (
            partition,
            run_definition(
                RunSpec(
                    table_machine_arn=f"{machine}-table-export",
                    bucket="exports-bucket",
                    targets=targets,
                    partition=partition,
                )
            ),
        )
    return found


def _stack_variants() -> dict[str, tuple[str, dict[str, Any]]]:
    """What ``pulumi up`` deploys for each stack (the program under Pulumi's mocks)."""
    found = {}
    for stack in ("dev", "prd"):
        captured = capture_stack(stack)
        for role in ("run", "table-export"):
            _, definition = captured.state_machine(role)
            found[f"stack:{stack}/{role}"] = ("aws", definition)
    return found


def _harness_variants() -> dict[str, tuple[str, dict[str, Any]]]:
    """What the emulator deploys: every branch on."""
    machines = harness_definitions(
        bucket="exports-bucket",
        tables=["orders", "customers"],
        incremental=["customers"],
        catalog_database="exports",
        athena_workgroup="primary",
    )
    return {f"harness:{name}": ("aws", definition) for name, definition in machines.items()}


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **_table_export_variants(),
    **_fan_out_variants(),
    **_stack_variants(),
    **_harness_variants(),
}
TASKS = [
    (variant, path, state)
    for variant, (_, definition) in VARIANTS.items()
    for path, state in task_states(definition)
]
STATES = {(variant, path): state for variant, path, state in TASKS}


@pytest.mark.parametrize(("variant", "path"), list(STATES), ids=[f"{v}:{p}" for v, p in STATES])
def test_task_matches_botocore(variant: str, path: str) -> None:
    problems = check_task(STATES[(variant, path)], partition=VARIANTS[variant][0])
    assert not problems, f"{variant} {path}:\n  " + "\n  ".join(problems)


def test_every_variant_is_checked_and_every_branch_is_reached() -> None:
    assert all(any(v == variant for v, _, _ in TASKS) for variant in VARIANTS)
    integrations = {
        (i.service, i.action)
        for _, _, state in TASKS
        if (i := parse_resource(state["Resource"])) is not None
    }
    assert integrations >= {
        ("dynamodb", "exportTableToPointInTime"),
        ("dynamodb", "describeExport"),
        ("dynamodb", "describeTable"),
        ("dynamodb", "describeContinuousBackups"),
        ("dynamodb", "updateItem"),
        ("glue", "updateTable"),
        ("glue", "createTable"),
        ("athena", "createNamedQuery"),
        ("cloudwatch", "putMetricData"),
        ("sfn", "startExecution"),
    }


def test_every_operation_a_machine_calls_has_its_transient_errors_listed() -> None:
    used = {
        (i.service, i.action)
        for _, _, state in TASKS
        if (i := parse_resource(state["Resource"])) is not None and i.kind == "aws-sdk"
    }
    assert not used - set(retries.OPERATION_ERRORS), "not in retries.OPERATION_ERRORS"


def test_operation_errors_are_botocores_transient_errors() -> None:
    """OPERATION_ERRORS[op] == botocore's modelled errors of op ∩ TRANSIENT_REASONS."""
    problems = operation_errors_drift(retries.OPERATION_ERRORS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("service", "action"), sorted(retries.OPERATION_ERRORS))
def test_retry_for_names_only_errors_the_operation_raises(service: str, action: str) -> None:
    """Also for operations no machine calls yet: retry_for's rules are sound by themselves."""
    task = {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:{service}:{action}",
        "Arguments": "{% $states.input %}",
        "Retry": retries.retry_for(service, action),
    }
    assert check_task(task) == []


def test_start_execution_retry_names_only_errors_start_execution_raises() -> None:
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Arguments": {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"},
        "Retry": retries.start_execution_retry(),
    }
    problems = [p for p in check_task(task) if "is not retried" not in p]
    assert problems == []


def test_export_quota_is_retried_by_every_task_that_can_hit_it() -> None:
    quota = "DynamoDb.LimitExceededException"
    hitting: dict[str, set[str]] = {}
    for variant, path, state in TASKS:
        integration = parse_resource(state["Resource"])
        assert integration is not None
        if "LimitExceededException" in modelled_errors(integration):
            hitting.setdefault(variant, set()).add(path)
            retried = {n for rule in state.get("Retry", []) for n in rule["ErrorEquals"]}
            assert quota in retried, f"{variant} {path}"
    assert hitting["table-export[incremental+catalog+athena]"] == {
        "StartExport",
        "StartBaseline",
        "StartWindow",
        "DescribeExport",
    }
    assert hitting["table-export[full]"] == {"StartExport", "DescribeExport"}


def _has(problems: list[str], *fragments: str) -> bool:
    return any(all(f in p for f in fragments) for p in problems)


def test_the_checker_reports_a_broken_task() -> None:
    glue = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:glue:updateTable",
        "Arguments": {
            "DatabaseName": True,
            "TabelName": "orders_latest",
            "SkipArchive": "yes",
            "TableInput": {"Nme": "orders_latest", "StorageDescriptor": {"Columns": "item"}},
        },
        "Retry": [
            {"ErrorEquals": ["DynamoDb.InternalServerErrorException", "Glue.InternalService"]},
            {"ErrorEquals": ["Glue.NoSuchTableException", "States.Everything"]},
        ],
        "Catch": [{"ErrorEquals": ["glue.EntityNotFoundException"], "Next": "X"}],
    }
    problems = check_task(glue, partition="aws")
    expected = [
        ("Arguments.DatabaseName", "bool", "string"),
        ("Arguments.TabelName", "not a member"),
        ("Arguments.SkipArchive", "str", "boolean"),
        ("Arguments.TableInput.Nme", "not a member"),
        ("Arguments.TableInput.Name", "required"),
        ("Arguments.TableInput.StorageDescriptor.Columns", "list"),
        ("DynamoDb.InternalServerErrorException", "Glue.* errors only"),
        ("Glue.InternalService'", "end in 'Exception'"),
        ("Glue.NoSuchTableException", "neither models"),
        ("States.Everything", "not an error Step Functions defines"),
        ("glue.EntityNotFoundException", "Glue.* errors only"),
        ("Glue.InternalServiceException", "not retried"),
        ("Glue.ThrottlingException", "not retried"),
    ]
    missing = [e for e in expected if not _has(problems, *e)]
    assert not missing, (missing, problems)

    export = {
        "Type": "Task",
        "Resource": "arn:aws-cn:states:::aws-sdk:dynamodb:exportTableToPointInTime",
        "Arguments": {
            "TableArn": "{% $states.input.tableArn %}",
            "ExportType": "FULL",
            "S3BucketOwner": "not-an-account",
            "IncrementalExportSpecification": {"ExportViewType": "OLD_IMAGE"},
        },
        "Retry": retries.retry_for("dynamodb", "describeTable"),
    }
    problems = check_task(export, partition="aws")
    expected = [
        ("partition is not aws",),
        ("Arguments.S3Bucket", "required"),
        ("Arguments.ExportType", "'FULL' is not one of"),
        ("Arguments.S3BucketOwner", "does not match"),
        ("Arguments.IncrementalExportSpecification.ExportViewType", "OLD_IMAGE"),
        ("DynamoDb.LimitExceededException", "not retried"),
    ]
    missing = [e for e in expected if not _has(problems, *e)]
    assert not missing, (missing, problems)

    assert _has(
        check_task({"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:exportTable"}),
        "no operation ExportTable",
    )
    assert _has(
        check_task({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}),
        "not an aws-sdk",
    )
    start = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Arguments": {"StateMachine": "x", "Input": {"any": "json"}},
        "Retry": [{"ErrorEquals": ["Sfn.ExecutionLimitExceededException"]}],
    }
    problems = check_task(start)
    for fragments in (
        ("Arguments.StateMachine", "not a member"),
        ("Arguments.StateMachineArn", "required"),
        ("Sfn.ExecutionLimitExceededException", "StepFunctions.* errors only"),
        ("StepFunctions.ThrottlingException", "not retried"),
    ):
        assert _has(problems, *fragments), (fragments, problems)
    assert not _has(problems, "Arguments.Input")


def test_the_drift_check_reports_a_stale_table() -> None:
    stale = {
        ("dynamodb", "describeExport"): ("InternalServerError",),
        ("glue", "updateTable"): (
            "InternalServiceException",
            "InternalServerError",
            "InvalidInputException",
        ),
        ("glue", "updateTabel"): (),
    }
    problems = operation_errors_drift(stale)
    for fragments in (
        ("dynamodb:describeExport", "LimitExceededException", "not listed"),
        ("glue:updateTable", "InternalServerError", "not modelled"),
        ("glue:updateTable", "InvalidInputException", "not in TRANSIENT_REASONS"),
        ("glue:updateTabel", "no such botocore operation"),
    ):
        assert _has(problems, *fragments), (fragments, problems)
