"""Athena's tables follow completed exports only: the catalog states, executed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from table_exporter.catalog.tables import INPUT_FORMAT, OUTPUT_FORMAT, SERDE

from emulator import clock, harness
from emulator.export_model import MODEL

DATABASE = "exports_db"
WORKGROUP = "exports"
BUCKET = "catalog-exports"
ROWS = [
    {"pk": {"S": "o-1"}, "menuItem": {"S": "ramen"}, "quantity": {"N": "2"}},
    {"pk": {"S": "o-2"}, "menuItem": {"S": "gyoza"}, "quantity": {"N": "6"}},
]
COLUMNS = {"orders": ["menuitem:struct<s:string>", "quantity:struct<n:string>"]}


@pytest.fixture
def catalog(aws: dict[str, Any]) -> Any:
    glue = boto3.client("glue", region_name=harness.REGION)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    athena = boto3.client("athena", region_name=harness.REGION)
    athena.create_work_group(Name=WORKGROUP)
    harness.create_bucket(aws["s3"], BUCKET)
    return glue


def _table(glue: Any, name: str) -> dict[str, Any] | None:
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    return tables.get(name)


def _deploy(aws: dict[str, Any], **kwargs: Any) -> harness.Exporter:
    return harness.deploy(
        aws["stepfunctions"],
        bucket=BUCKET,
        catalog_database=DATABASE,
        athena_workgroup=WORKGROUP,
        columns=COLUMNS,
        **kwargs,
    )


def _location(described: dict[str, Any], table: str) -> str:
    return next(t["s3Location"] for t in described["tables"] if t["table"] == table)


def test_completed_export_points_typed_and_raw_tables_at_its_data_folder(
    aws: dict[str, Any], catalog: Any
) -> None:
    harness.create_table(aws["dynamodb"], "orders", ROWS)
    ex = _deploy(aws, tables=["orders"])

    run = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})

    assert run["status"] == "SUCCEEDED"
    data = _location(run, "orders") + "data/"
    typed, raw = _table(catalog, "orders_latest"), _table(catalog, "orders_latest_raw")
    assert typed is not None and raw is not None
    for table in (typed, raw):
        storage = table["StorageDescriptor"]
        assert storage["Location"] == data
        assert storage["InputFormat"] == INPUT_FORMAT
        assert storage["OutputFormat"] == OUTPUT_FORMAT
        assert storage["SerdeInfo"]["SerializationLibrary"] == SERDE
        assert table["Parameters"]["classification"] == "json"
        assert table["Parameters"]["compressionType"] == "gzip"
    # Key attributes come from the table itself, declared attributes from the settings.
    assert typed["StorageDescriptor"]["Columns"] == [
        {
            "Name": "item",
            "Type": "struct<pk:struct<s:string>,menuitem:struct<s:string>,quantity:struct<n:string>>",
        }
    ]
    assert raw["StorageDescriptor"]["Columns"] == [{"Name": "item", "Type": "map<string,string>"}]


def test_a_later_export_repoints_the_tables_but_a_failed_one_never_does(
    aws: dict[str, Any], catalog: Any
) -> None:
    harness.create_table(aws["dynamodb"], "orders", ROWS)
    ex = _deploy(aws, tables=["orders"])
    first = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})
    second = ex.run("run-2", {"scheduledTime": "2026-01-06T04:00:00Z"})
    second_data = _location(second, "orders") + "data/"
    assert second_data != _location(first, "orders") + "data/"
    assert (
        catalog.get_table(DatabaseName=DATABASE, Name="orders_latest")["Table"][
            "StorageDescriptor"
        ]["Location"]
        == second_data
    )

    MODEL.behave("orders", fail_code="UNKNOWN", fail_message="write failed")
    failed = ex.run("run-3", {"scheduledTime": "2026-01-07T04:00:00Z"})

    assert failed["status"] == "FAILED"
    for name in ("orders_latest", "orders_latest_raw"):
        table = catalog.get_table(DatabaseName=DATABASE, Name=name)["Table"]
        assert table["StorageDescriptor"]["Location"] == second_data


def test_a_table_whose_first_export_fails_gets_no_catalog_table(
    aws: dict[str, Any], catalog: Any
) -> None:
    harness.create_table(aws["dynamodb"], "orders", ROWS)
    MODEL.behave("orders", fail_code="UNKNOWN", fail_message="write failed")
    ex = _deploy(aws, tables=["orders"])

    assert ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})["status"] == "FAILED"
    assert catalog.get_tables(DatabaseName=DATABASE)["TableList"] == []


def test_incremental_baseline_creates_the_projected_changes_table_and_current_state_query(
    aws: dict[str, Any], catalog: Any
) -> None:
    harness.create_table(aws["dynamodb"], "orders", ROWS)
    harness.create_state_table(aws["dynamodb"])
    ex = _deploy(aws, tables=["orders"], incremental=["orders"], prefix="exports")
    clock.advance(3600)

    baseline = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})

    assert baseline["status"] == "SUCCEEDED"
    result = baseline["tables"][0]
    baseline_export = result["exports"][0]
    assert baseline_export["kind"] == "baseline"
    changes = catalog.get_table(DatabaseName=DATABASE, Name="orders_changes")["Table"]
    parameters = changes["Parameters"]
    stamp = "2026-01-05-03-55"  # latest restorable time at the baseline, minute precision
    assert baseline_export["to"].startswith("2026-01-05T03:55")
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.window_day.type"] == "date"
    assert parameters["projection.window_day.format"] == "yyyy-MM-dd"
    assert parameters["projection.window_day.range"] == "2026-01-05,NOW"
    assert parameters["projection.window_day.interval"] == "1"
    assert parameters["projection.window_day.interval.unit"] == "DAYS"
    chain = f"s3://{BUCKET}/exports/orders/incremental/{stamp}/"
    assert changes["StorageDescriptor"]["Location"] == chain
    # Only the shared data folders: manifests, _started and checksums live elsewhere.
    template = chain + "${window_day}/AWSDynamoDB/data/"
    assert parameters["storage.location.template"] == template
    assert changes["PartitionKeys"] == [{"Name": "window_day", "Type": "string"}]
    assert [c["Name"] for c in changes["StorageDescriptor"]["Columns"]] == [
        "metadata",
        "keys",
        "newimage",
        "oldimage",
    ]
    latest = catalog.get_table(DatabaseName=DATABASE, Name="orders_latest")["Table"]
    assert latest["StorageDescriptor"]["Location"] == baseline_export["s3Location"] + "data/"

    athena = boto3.client("athena", region_name=harness.REGION)
    ids = athena.list_named_queries(WorkGroup=WORKGROUP)["NamedQueryIds"]
    queries = [athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids]
    assert [q["Name"] for q in queries] == ["orders_current_state"]
    sql = queries[0]["QueryString"]
    assert f"FROM {DATABASE}.orders_changes" in sql and f"{DATABASE}.orders_latest_raw" in sql
    assert "window_day" not in sql  # the table covers the current chain only
    assert "row_number() OVER (PARTITION BY keys ORDER BY written DESC)" in sql

    # A later window leaves the baseline tables where they are.
    aws["dynamodb"].put_item(TableName="orders", Item={"pk": {"S": "o-3"}, "quantity": {"N": "1"}})
    clock.advance(2 * 3600)
    window = ex.run("run-2", {"scheduledTime": "2026-01-05T06:00:00Z"})
    assert window["tables"][0]["exports"][0]["kind"] == "incremental"
    latest = catalog.get_table(DatabaseName=DATABASE, Name="orders_latest")["Table"]
    assert latest["StorageDescriptor"]["Location"] == baseline_export["s3Location"] + "data/"

    # The window's data files are where the changes table's day partition reads.
    s3 = aws["s3"]
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/orders/incremental/")["Contents"]
    ]
    partition = template.replace("${window_day}", "2026-01-05").removeprefix(f"s3://{BUCKET}/")
    in_partition = [k for k in keys if k.startswith(partition)]
    assert in_partition and all(k.endswith(".json.gz") for k in in_partition)


def _repoint_many_times(aws: dict[str, Any], runs: int) -> harness.Exporter:
    harness.create_table(aws["dynamodb"], "orders", ROWS)
    ex = _deploy(aws, tables=["orders"])
    for day in range(1, runs + 1):
        run = ex.run(f"run-{day}", {"scheduledTime": f"2026-01-{day:02d}T04:00:00Z"})
        assert run["status"] == "SUCCEEDED", run.get("cause")
    return ex


def test_repointing_archives_no_table_versions(aws: dict[str, Any], catalog: Any) -> None:
    _repoint_many_times(aws, 4)

    for name in ("orders_latest", "orders_latest_raw"):
        versions = catalog.get_table_versions(DatabaseName=DATABASE, TableName=name)
        assert len(versions["TableVersions"]) == 1


def test_without_skip_archive_the_version_quota_would_stop_repointing(
    aws: dict[str, Any], catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator enforces Glue's version quota, so the test above can fail."""
    from emulator import glue_fidelity

    monkeypatch.setattr(glue_fidelity, "VERSIONS_PER_TABLE", 2)
    catalog.create_table(DatabaseName=DATABASE, TableInput={"Name": "t"})
    catalog.update_table(DatabaseName=DATABASE, TableInput={"Name": "t"})
    with pytest.raises(catalog.exceptions.ResourceNumberLimitExceededException):
        catalog.update_table(DatabaseName=DATABASE, TableInput={"Name": "t"})
    for _ in range(3):
        catalog.update_table(DatabaseName=DATABASE, TableInput={"Name": "t"}, SkipArchive=True)


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("UpdateTable", "InternalServiceException"),
        ("UpdateTable", "OperationTimeoutException"),
        ("UpdateTable", "ConcurrentModificationException"),
        ("UpdateTable", "ThrottlingException"),
        ("CreateTable", "InternalServiceException"),
    ],
)
def test_a_transient_glue_error_after_a_completed_export_is_retried(
    aws: dict[str, Any], catalog: Any, operation: str, code: str
) -> None:
    from emulator.sfn_fidelity import FAULTS

    harness.create_table(aws["dynamodb"], "orders", ROWS)
    ex = _deploy(aws, tables=["orders"])
    FAULTS.inject("glue", operation, code, times=2)

    run = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})

    assert FAULTS.raised == [("glue", operation, code)] * 2
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert _table(catalog, "orders_latest") is not None


def test_a_permanent_glue_error_fails_the_table_naming_glue(
    aws: dict[str, Any], catalog: Any
) -> None:
    from emulator.sfn_fidelity import FAULTS

    harness.create_table(aws["dynamodb"], "orders", ROWS)
    ex = _deploy(aws, tables=["orders"])
    FAULTS.inject("glue", "UpdateTable", "InvalidInputException")

    run = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})

    assert run["status"] == "FAILED"
    assert json.loads(run["cause"])["failed"][0]["error"] == "Glue.InvalidInputException"


def _named_queries() -> list[dict[str, Any]]:
    athena = boto3.client("athena", region_name=harness.REGION)
    ids = athena.list_named_queries(WorkGroup=WORKGROUP)["NamedQueryIds"]
    return [athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids]


def test_a_new_baseline_keeps_exactly_one_current_state_query(
    aws: dict[str, Any], catalog: Any
) -> None:
    from emulator import change_log
    from emulator.export_model import MODEL as model

    harness.create_table(aws["dynamodb"], "orders", ROWS)
    harness.create_state_table(aws["dynamodb"])
    ex = _deploy(aws, tables=["orders"], incremental=["orders"], prefix="exports")
    clock.advance(3600)
    assert ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})["status"] == "SUCCEEDED"
    # PITR restarted: the chain is broken and a second baseline starts a new one.
    change_log.restart_pitr("orders")
    clock.advance(3 * 3600)
    second = ex.run("run-2", {"scheduledTime": "2026-01-05T08:00:00Z"})
    assert second["status"] == "SUCCEEDED", second.get("cause")
    kinds = [e["kind"] for e in second["tables"][0]["exports"]]
    assert kinds[0] == "baseline"
    assert len([e for e in model.exports_of("orders") if e.export_type == "FULL_EXPORT"]) == 2

    assert [q["Name"] for q in _named_queries()] == ["orders_current_state"]


def test_current_state_query_names_stay_within_athenas_limit_and_apart(
    aws: dict[str, Any], catalog: Any
) -> None:
    long_a, long_b = "a" * 180 + "_one", "a" * 180 + "_two"
    for table in (long_a, long_b):
        harness.create_table(aws["dynamodb"], table, ROWS)
    harness.create_state_table(aws["dynamodb"])
    ex = harness.deploy(
        aws["stepfunctions"],
        bucket=BUCKET,
        catalog_database=DATABASE,
        athena_workgroup=WORKGROUP,
        tables=[long_a, long_b],
        incremental=[long_a, long_b],
        prefix="exports",
    )
    clock.advance(3600)

    run = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})

    assert run["status"] == "SUCCEEDED", run.get("cause")
    names = [q["Name"] for q in _named_queries()]
    assert len(names) == 2 and len(set(names)) == 2
    assert all(len(n) <= 128 and n.endswith("_current_state") for n in names)


def test_a_table_created_meanwhile_by_a_duplicate_delivery_is_updated_not_failed(
    aws: dict[str, Any], catalog: Any
) -> None:
    """Scheduler delivers at least once: two runs of a table's first export both find
    ``<table>_latest`` missing and both create it. The one that loses the race gets
    ``Glue.AlreadyExistsException`` from CreateTable and must update the table instead."""
    from emulator.sfn_fidelity import FAULTS

    harness.create_table(aws["dynamodb"], "orders", ROWS)
    ex = _deploy(aws, tables=["orders"])
    first = ex.run("run-1", {"scheduledTime": "2026-01-05T04:00:00Z"})
    assert first["status"] == "SUCCEEDED", first
    # The second run looked before the first had created the tables.
    FAULTS.inject("glue", "UpdateTable", "EntityNotFoundException")

    second = ex.run("run-2", {"scheduledTime": "2026-01-06T04:00:00Z"})

    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert FAULTS.raised == [("glue", "UpdateTable", "EntityNotFoundException")]
    data = _location(second, "orders") + "data/"
    for name in ("orders_latest", "orders_latest_raw"):
        table = catalog.get_table(DatabaseName=DATABASE, Name=name)["Table"]
        assert table["StorageDescriptor"]["Location"] == data
