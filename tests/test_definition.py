"""Pure tests of the state machine definitions, the polling rule and the alarm specs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from table_exporter.drill.machine import DrillSpec, drill_definition
from table_exporter.export.alarms import alarm_specs
from table_exporter.export.run_machine import RunSpec, run_definition, schedule_input
from table_exporter.export.table_machine import (
    Destination,
    IncrementalSpec,
    TableExportSpec,
    table_export_definition,
)
from table_exporter.history.pipe_watch import PipeWatchSpec, pipe_watch_definition
from table_exporter.importer.args import ImporterSpec, KeyAttribute
from table_exporter.importer.machine import import_definition
from table_exporter.kernel.alarms import STATES_EXECUTION_METRICS
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.retries import transient_errors
from table_exporter.kernel.targets import AwsScope, ExportTarget, normalise_prefix, table_arn

ROOT = Path(__file__).resolve().parents[1]
SCOPE = AwsScope("aws", "ap-northeast-1", "123456789012")
TABLE_MACHINE = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:x-table-export-1"


def _targets(n: int) -> list[ExportTarget]:
    return [ExportTarget(table_arn(f"table_{i:04d}", SCOPE), "dynamodb-exports") for i in range(n)]


def _table_def(**destination: Any) -> dict[str, Any]:
    return table_export_definition(
        TableExportSpec(destination=Destination(bucket="exports", **destination))
    )


def _run_def(n: int = 3, **options: Any) -> dict[str, Any]:
    return run_definition(
        RunSpec(table_machine_arn=TABLE_MACHINE, bucket="exports", targets=_targets(n), **options)
    )


KMS_KEY = "arn:aws:kms:ap-northeast-1:123456789012:key/1"
INCREMENTAL = IncrementalSpec(state_table="x-state", exporter_name="x")


def _variant(
    *, incremental: bool, catalog: bool, kms: bool, owner: bool, partition: str = "aws"
) -> dict[str, Any]:
    destination = Destination(
        bucket="exports",
        sse_algorithm="KMS" if kms else "AES256",
        kms_key_arn=KMS_KEY if kms else None,
        bucket_owner="210987654321" if owner else None,
    )
    return table_export_definition(
        TableExportSpec(
            destination=destination,
            partition=partition,
            incremental=INCREMENTAL if incremental else None,
            catalog_database="db" if catalog else None,
            athena_workgroup="wg" if catalog and incremental else None,
        )
    )


# Every table export machine the component can produce: full only or with the
# incremental branch, catalog on or off, SSE-S3 or KMS, own bucket or another owner's.
VARIANTS = {
    f"table{'-incremental' if i else ''}{'-catalog' if c else ''}{'-kms' if k else ''}"
    f"{'-owner' if o else ''}": _variant(incremental=i, catalog=c, kms=k, owner=o)
    for i in (False, True)
    for c in (False, True)
    for k in (False, True)
    for o in (False, True)
}
VARIANTS["table-incremental-catalog-current"] = table_export_definition(
    TableExportSpec(
        destination=Destination(bucket="exports"),
        incremental=INCREMENTAL,
        catalog_database="db",
        athena_workgroup="wg",
        current_tables=True,
        current_optimizer_role_arn="arn:aws:iam::123456789012:role/x-optimizer",
        current_bucket="x-current",
    )
)
VARIANTS["table-catalog-current-kms-aws-cn"] = table_export_definition(
    TableExportSpec(
        destination=Destination(bucket="exports", sse_algorithm="KMS", kms_key_arn=KMS_KEY),
        partition="aws-cn",
        catalog_database="db",
        athena_workgroup="wg",
        current_tables=True,
        current_optimizer_role_arn="arn:aws-cn:iam::123456789012:role/x-optimizer",
        current_bucket="x-current",
    )
)
VARIANTS["table-incremental-catalog-aws-cn"] = _variant(
    incremental=True, catalog=True, kms=True, owner=False, partition="aws-cn"
)
VARIANTS["drill"] = drill_definition(DrillSpec(bucket="exports", table_prefix="x-drill-"))
VARIANTS["drill-owner-aws-cn"] = drill_definition(
    DrillSpec(
        bucket="exports", table_prefix="x-drill-", bucket_owner="210987654321", partition="aws-cn"
    )
)
VARIANTS["importer"] = import_definition(
    ImporterSpec(
        source_bucket="exports",
        source_prefix="dynamodb-exports/orders/full",
        table_prefix="orders-",
        parameter_name="/orders/current",
        partition_key=KeyAttribute("pk"),
        sort_key=KeyAttribute("sk", "N"),
    )
)
VARIANTS["pipe-watch"] = pipe_watch_definition(PipeWatchSpec(["nightly-history-orders-pipe"]))
VARIANTS["run"] = _run_def()
VARIANTS["run-1000-tables"] = _run_def(1000)
VARIANTS["run-concurrency-300"] = _run_def(5, max_concurrency=300)


def _walk(value: Any):
    yield value
    if isinstance(value, dict):
        for inner in value.values():
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


@pytest.mark.parametrize("definition", VARIANTS.values(), ids=VARIANTS)
def test_definitions_pass_the_asl_validator(tmp_path: Path, definition: dict[str, Any]) -> None:
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    assert validator.exists() or shutil.which("asl-validator"), "run `make install` (npm ci) first"
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    result = subprocess.run(
        [str(validator), "--json-path", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_lambda_anywhere_only_direct_service_integrations() -> None:
    resources = {
        node["Resource"]
        for definition in VARIANTS.values()
        for node in _walk(definition)
        if isinstance(node, dict) and "Resource" in node
    }
    assert not any("lambda" in r for r in resources)
    services = {r.split(":::", 1)[1].split(":", 1)[0] for r in resources}
    # Athena: the optimised startQueryExecution.sync integration of current tables.
    assert services == {"aws-sdk", "states", "s3", "athena"}


def test_export_arguments_are_members_of_the_dynamodb_api_shape() -> None:
    model = botocore.session.get_session().get_service_model("dynamodb")
    states = _table_def(
        sse_algorithm="KMS", kms_key_arn="arn:aws:kms:x", bucket_owner="210987654321"
    )["States"]
    export_shape = model.operation_model("ExportTableToPointInTime").input_shape
    describe_shape = model.operation_model("DescribeExport").input_shape
    assert set(states["StartExport"]["Arguments"]) <= set(export_shape.members)
    assert set(export_shape.required_members) <= set(states["StartExport"]["Arguments"])
    assert set(states["DescribeExport"]["Arguments"]) == set(describe_shape.members)
    for key, value in states["StartExport"]["Arguments"].items():
        enum = export_shape.members[key].enum
        if enum and not value.startswith("{%"):
            assert value in enum, key


def test_export_is_started_with_an_idempotency_token_from_the_run_and_table() -> None:
    args = _table_def()["States"]["StartExport"]["Arguments"]
    assert args["ClientToken"] == "{% $states.input.clientToken %}"
    child_input = _run_def()["States"]["ExportTables"]["ItemProcessor"]["States"]["ExportTable"][
        "Arguments"
    ]["Input"]
    assert (
        "$hash($states.input.runKey & '|' & $states.input.tableArn, 'SHA-256')"
        in child_input["clientToken"]
    )
    plan = _run_def()["States"]["PlanRun"]["Assign"]
    assert "$states.input.scheduledTime" in plan["runKey"]


def test_polling_is_by_export_arn_never_list_exports() -> None:
    text = json.dumps(_table_def())
    assert "listExports" not in text
    assert _table_def()["States"]["DescribeExport"]["Arguments"] == {
        "ExportArn": "{% $exportArn %}"
    }


def test_throttling_and_quota_errors_retry_with_backoff_and_jitter_but_permanent_errors_do_not() -> (
    None
):
    retries = _table_def()["States"]["StartExport"]["Retry"]
    retried = {error for rule in retries for error in rule["ErrorEquals"]}
    quota = {"DynamoDb.LimitExceededException"}
    assert quota | set(transient_errors("dynamodb", "exportTableToPointInTime")) == retried
    for rule in retries:
        assert (
            rule["BackoffRate"] > 1
            and rule["JitterStrategy"] == "FULL"
            and rule["MaxDelaySeconds"] > 0
        )
    for permanent in (
        "DynamoDb.PointInTimeRecoveryUnavailableException",
        "DynamoDb.TableNotFoundException",
        "DynamoDb.AccessDeniedException",
        "States.ALL",
        "States.TaskFailed",
    ):
        assert permanent not in retried


def test_every_machine_has_a_timeout_and_the_fan_out_is_a_distributed_map() -> None:
    table = table_export_definition(
        TableExportSpec(destination=Destination(bucket="b"), timeout_seconds=7200)
    )
    run = _run_def(2, max_concurrency=7, timeout_seconds=9000)
    assert table["TimeoutSeconds"] == 7200
    assert run["TimeoutSeconds"] == 9000
    fan_out = run["States"]["ExportTables"]
    assert fan_out["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    # One table per item: exports in flight are MaxConcurrency exactly.
    assert fan_out["MaxConcurrency"] == 7
    assert fan_out["ToleratedFailurePercentage"] == 100
    assert fan_out["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert fan_out["ResultWriter"]["Arguments"]["Bucket"] == "exports"
    maps = [n for n in _walk(run) if isinstance(n, dict) and n.get("Type") == "Map"]
    assert len(maps) == 1


@pytest.mark.parametrize("bad", [0, 301])
def test_concurrency_outside_the_export_quota_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="300"):
        RunSpec(table_machine_arn=TABLE_MACHINE, bucket="b", targets=_targets(1), max_concurrency=bad)


def test_kms_key_required_exactly_with_kms() -> None:
    with pytest.raises(ValueError, match="KMS"):
        Destination(bucket="b", sse_algorithm="KMS")
    with pytest.raises(ValueError, match="KMS"):
        Destination(bucket="b", kms_key_arn="arn:aws:kms:x")


def test_schedule_input_is_only_the_scheduled_time() -> None:
    assert schedule_input() == {"scheduledTime": "<aws.scheduler.scheduled-time>"}


def test_tables_resolve_from_names_and_arns_in_the_exporters_region() -> None:
    assert table_arn("orders", SCOPE) == "arn:aws:dynamodb:ap-northeast-1:123456789012:table/orders"
    arn = "arn:aws:dynamodb:ap-northeast-1:210987654321:table/shared"
    assert table_arn(arn, SCOPE) == arn
    with pytest.raises(ValueError, match="region"):
        table_arn("arn:aws:dynamodb:us-east-1:123456789012:table/orders", SCOPE)
    with pytest.raises(ValueError, match="table name"):
        table_arn("no", SCOPE)
    assert normalise_prefix("/a/b/") == "a/b"


@pytest.mark.parametrize("duration", [300, 1800, 2 * 3600, 8 * 3600])
def test_polling_notices_completion_within_15_percent_and_stays_under_40_polls(
    duration: int,
) -> None:
    times = PollPolicy().poll_times(duration)
    lag = times[-1] - duration
    assert lag <= max(60, 0.15 * duration)
    assert len(times) <= 40
    # Start, then Wait + DescribeExport + Choice per poll, then the final state.
    assert 1 + 3 * len(times) + 1 <= 120


def test_poll_rule_in_the_definition_matches_the_python_rule() -> None:
    expression = PollPolicy(min_seconds=60, max_seconds=3600, growth=0.15).jsonata_next_wait(
        "$elapsed + $wait"
    )
    assert expression == "$min([3600, $max([60, $floor(0.15 * ($elapsed + $wait))])])"
    assert _table_def()["States"]["DescribeExport"]["Assign"]["wait"] == "{% " + expression + " %}"
    policy = PollPolicy()
    assert [policy.next_wait(t) for t in (0, 60, 400, 420, 24_000, 100_000)] == [
        60,
        60,
        60,
        63,
        3600,
        3600,
    ]


def test_alarm_metric_names_are_documented_and_missing_data_is_explicit() -> None:
    specs = alarm_specs(staleness_hours=26, schedule_enabled=True)
    states_metrics = {s.metric_name for s in specs if s.namespace == "AWS/States"}
    assert states_metrics <= STATES_EXECUTION_METRICS
    assert "ExecutionsThrottled" not in {s.metric_name for s in specs}
    assert {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
        "ExecutionThrottled",
    } <= states_metrics
    assert all(s.treat_missing_data in {"breaching", "notBreaching"} for s in specs)
    stale = next(s for s in specs if s.role == "stale")
    assert stale.treat_missing_data == "breaching" and stale.evaluation_periods == 26
    assert "stale" not in {s.role for s in alarm_specs(staleness_hours=26, schedule_enabled=False)}
