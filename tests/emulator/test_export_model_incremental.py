"""The emulator's point-in-time model, through boto3: the write log, point-in-time
recovery windows, full exports as of a time, incremental exports, replaying exports,
and JSONata's ``$millis()``/``$now()`` on the virtual clock."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator import change_log, clock, export_model, harness, jsonata_engine, replay

from .support import BUCKET

MODEL = export_model.MODEL
TABLE = "orders"
T0 = clock.EPOCH
MINUTE, HOUR, DAY = 60, 3600, 86400
NEW_AND_OLD = "NEW_AND_OLD_IMAGES"


# -- helpers ---------------------------------------------------------------------------


def at(offset: float) -> dt.datetime:
    """The time ``offset`` seconds after T0 (when every test's clock starts)."""
    return dt.datetime.fromtimestamp(T0 + offset, tz=dt.timezone.utc)


def move_to(offset: float) -> None:
    """Set this thread's virtual clock to T0 + ``offset`` (forward only)."""
    assert T0 + offset >= clock.now()
    clock.advance(T0 + offset - clock.now())


def row(pk: str, qty: int, **extra: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "qty": {"N": str(qty)}, **{k: {"S": v} for k, v in extra.items()}}


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def set_qty(ddb: Any, pk: str, qty: int) -> None:
    ddb.update_item(
        TableName=TABLE,
        Key=key(pk),
        UpdateExpression="SET qty = :q",
        ExpressionAttributeValues={":q": {"N": str(qty)}},
    )


def table_arn(table: str = TABLE) -> str:
    return harness.SCOPE.arn("dynamodb", f"table/{table}")


def start_export(ddb: Any, table: str = TABLE, **request: Any) -> dict[str, Any]:
    return dict(
        ddb.export_table_to_point_in_time(TableArn=table_arn(table), S3Bucket=BUCKET, **request)[
            "ExportDescription"
        ]
    )


def incremental(start: float, end: float, view: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"ExportFromTime": at(start), "ExportToTime": at(end)}
    if view:
        spec["ExportViewType"] = view
    return {"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": spec}


def completed(ddb: Any, table: str = TABLE, **request: Any) -> dict[str, Any]:
    """Start an export, let its (virtual) duration pass and return its description."""
    started = start_export(ddb, table, **request)
    clock.advance(MODEL.behaviours.get(table, MODEL.default).duration_seconds)
    described = dict(ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"])
    assert described["ExportStatus"] == "COMPLETED", described
    return described


def location(described: dict[str, Any]) -> str:
    return f"s3://{described['S3Bucket']}/{described['ExportManifest'].rsplit('/', 1)[0]}/"


def lines_of(s3: Any, described: dict[str, Any]) -> list[dict[str, Any]]:
    return replay.read_export(s3, location(described))[1]


def by_pk(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["Keys"]["pk"]["S"]: r for r in records}


def pitr(ddb: Any, table: str = TABLE) -> dict[str, Any]:
    described = ddb.describe_continuous_backups(TableName=table)
    return dict(described["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"])


def window_of(description: dict[str, Any]) -> tuple[float, float]:
    return (
        description["EarliestRestorableDateTime"].timestamp(),
        description["LatestRestorableDateTime"].timestamp(),
    )


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


@pytest.fixture
def ddb(aws: dict[str, Any]) -> Any:
    """The bucket, and table ``orders`` created at T0 with point-in-time recovery."""
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], TABLE)
    return aws["dynamodb"]


# -- point-in-time recovery window -------------------------------------------------------


def test_pitr_window_runs_from_enabling_to_five_minutes_ago(ddb: Any) -> None:
    first = pitr(ddb)
    assert first["PointInTimeRecoveryStatus"] == "ENABLED"
    assert first["RecoveryPeriodInDays"] == 35
    # Just enabled: nothing is restorable yet beyond the moment of enabling.
    assert window_of(first) == (T0, T0)

    move_to(2 * HOUR)
    assert window_of(pitr(ddb)) == (T0, T0 + 2 * HOUR - 300)
    assert change_log.pitr_window(TABLE) == (T0, T0 + 2 * HOUR - 300)


def test_pitr_window_is_bounded_by_the_recovery_period(ddb: Any) -> None:
    answer = ddb.update_continuous_backups(
        TableName=TABLE,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 1,
        },
    )
    assert (
        answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "RecoveryPeriodInDays"
        ]
        == 1
    )
    move_to(3 * DAY)
    assert window_of(pitr(ddb)) == (T0 + 2 * DAY, T0 + 3 * DAY - 300)


def test_pitr_disabled_then_enabled_again_starts_a_new_window(ddb: Any) -> None:
    move_to(HOUR)
    ddb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    off = pitr(ddb)
    assert off["PointInTimeRecoveryStatus"] == "DISABLED"
    assert "EarliestRestorableDateTime" not in off
    assert change_log.pitr_window(TABLE) is None
    with pytest.raises(ClientError) as error:
        start_export(ddb)
    assert error_code(error) == "PointInTimeRecoveryUnavailableException"

    move_to(2 * HOUR)
    answer = ddb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    description = answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert window_of(description) == (T0 + 2 * HOUR, T0 + 2 * HOUR)
    move_to(4 * HOUR)
    assert window_of(pitr(ddb)) == (T0 + 2 * HOUR, T0 + 4 * HOUR - 300)


def test_restart_pitr_hides_everything_before_it(ddb: Any) -> None:
    move_to(5 * HOUR)
    start_export(ddb, **incremental(HOUR, 2 * HOUR))  # restorable so far

    change_log.restart_pitr(TABLE, at=T0 + 3 * HOUR)

    assert window_of(pitr(ddb)) == (T0 + 3 * HOUR, T0 + 5 * HOUR - 300)
    with pytest.raises(ClientError) as error:
        start_export(ddb, **incremental(HOUR, 2 * HOUR))
    assert error_code(error) == "InvalidExportTimeException"
    start_export(ddb, **incremental(3 * HOUR, 4 * HOUR))


def test_incremental_export_needs_pitr(aws: dict[str, Any]) -> None:
    harness.create_table(aws["dynamodb"], "legacy", pitr=False)
    move_to(2 * HOUR)
    with pytest.raises(ClientError) as error:
        start_export(aws["dynamodb"], "legacy", **incremental(0, HOUR))
    assert error_code(error) == "PointInTimeRecoveryUnavailableException"


# -- validation ------------------------------------------------------------------------

NOW = 30 * HOUR
LATEST = NOW - 300


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(HOUR, HOUR + 15 * MINUTE - 1, id="shorter-than-15-minutes"),
        pytest.param(HOUR, HOUR + DAY + 1, id="longer-than-24-hours"),
        pytest.param(LATEST - HOUR, LATEST + 1, id="ends-after-latest-restorable"),
        pytest.param(-1, HOUR, id="starts-before-earliest-restorable"),
        pytest.param(2 * HOUR, HOUR, id="from-after-to"),
        pytest.param(2 * HOUR, 2 * HOUR, id="empty"),
    ],
)
def test_invalid_incremental_window_is_rejected(ddb: Any, start: float, end: float) -> None:
    move_to(NOW)
    with pytest.raises(ClientError) as error:
        start_export(ddb, **incremental(start, end))
    assert error_code(error) == "InvalidExportTimeException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert MODEL.exports_of(TABLE) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(HOUR, HOUR + 15 * MINUTE, id="exactly-15-minutes"),
        pytest.param(HOUR, HOUR + DAY, id="exactly-24-hours"),
        pytest.param(0, HOUR, id="from-earliest-restorable"),
        pytest.param(LATEST - HOUR, LATEST, id="to-latest-restorable"),
    ],
)
def test_window_at_the_limits_is_accepted(ddb: Any, start: float, end: float) -> None:
    move_to(NOW)
    started = start_export(ddb, **incremental(start, end))
    (export,) = MODEL.exports_of(TABLE)
    assert export.arn == started["ExportArn"]
    assert export.window == (T0 + start, T0 + end)


def test_window_without_end_runs_to_latest_restorable(ddb: Any) -> None:
    move_to(NOW)
    start_export(
        ddb,
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": at(LATEST - HOUR)},
    )
    (export,) = MODEL.exports_of(TABLE)
    assert export.window == (T0 + LATEST - HOUR, T0 + LATEST)


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"ExportType": "INCREMENTAL_EXPORT"}, id="no-specification"),
        pytest.param(
            {"ExportType": "INCREMENTAL_EXPORT", "ExportTime": at(HOUR)}
            | {"IncrementalExportSpecification": {"ExportFromTime": at(HOUR)}},
            id="with-export-time",
        ),
    ],
)
def test_malformed_incremental_request_is_a_validation_error(
    ddb: Any, request_: dict[str, Any]
) -> None:
    move_to(NOW)
    with pytest.raises(ClientError) as error:
        start_export(ddb, **request_)
    assert error_code(error) == "ValidationException"


@pytest.mark.parametrize("offset", [-1, LATEST + 1], ids=["before-earliest", "after-latest"])
def test_full_export_time_outside_the_window_is_rejected(ddb: Any, offset: float) -> None:
    move_to(NOW)
    with pytest.raises(ClientError) as error:
        start_export(ddb, ExportTime=at(offset))
    assert error_code(error) == "InvalidExportTimeException"


# -- incremental export contents ---------------------------------------------------------


def write_history(ddb: Any) -> None:
    """Writes around the window [T0+5min, T0+35min) used below."""
    for pk in ("a", "b", "c"):
        ddb.put_item(TableName=TABLE, Item=row(pk, 1, note=f"{pk} at first"))
    move_to(5 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("e", 1))  # exactly at the window's start
    move_to(10 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("d", 1))
    set_qty(ddb, "a", 2)
    move_to(20 * MINUTE)
    ddb.delete_item(TableName=TABLE, Key=key("b"))
    move_to(30 * MINUTE)
    set_qty(ddb, "a", 3)
    move_to(35 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("f", 1))  # exactly at its end: excluded
    move_to(40 * MINUTE)
    set_qty(ddb, "c", 9)  # after the window
    move_to(2 * HOUR)


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_incremental_export_holds_the_last_change_per_key(
    aws: dict[str, Any], ddb: Any, view: str
) -> None:
    write_history(ddb)

    described = completed(ddb, **incremental(5 * MINUTE, 35 * MINUTE, view))

    records = by_pk(lines_of(aws["s3"], described))
    assert set(records) == {"a", "b", "d", "e"}
    micros = {pk: int(r["Metadata"]["WriteTimestampMicros"]["N"]) for pk, r in records.items()}
    assert micros == {
        "a": (T0 + 30 * MINUTE) * 10**6,
        "b": (T0 + 20 * MINUTE) * 10**6,
        "d": (T0 + 10 * MINUTE) * 10**6,
        "e": (T0 + 5 * MINUTE) * 10**6,
    }
    assert all(r["Keys"] == key(pk) for pk, r in records.items())
    assert records["a"]["NewImage"] == row("a", 3, note="a at first")
    assert "NewImage" not in records["b"]
    assert records["d"]["NewImage"] == row("d", 1)
    assert records["e"]["NewImage"] == row("e", 1)
    if view == NEW_AND_OLD:
        assert records["a"]["OldImage"] == row("a", 1, note="a at first")
        assert records["b"]["OldImage"] == row("b", 1, note="b at first")
        assert "OldImage" not in records["d"] and "OldImage" not in records["e"]
    else:
        assert not any("OldImage" in r for r in records.values())

    assert described["ExportType"] == "INCREMENTAL_EXPORT"
    assert "ExportTime" not in described
    spec = described["IncrementalExportSpecification"]
    assert spec["ExportFromTime"] == at(5 * MINUTE)
    assert spec["ExportToTime"] == at(35 * MINUTE)
    assert spec["ExportViewType"] == view
    assert described["ItemCount"] == 4
    summary = replay.read_summary(aws["s3"], location(described))
    assert summary["exportType"] == "INCREMENTAL_EXPORT"
    assert summary["outputView"] == view
    assert summary["exportFromTime"] == "2026-01-05T03:05:00.000Z"
    assert summary["exportToTime"] == "2026-01-05T03:35:00.000Z"


def test_view_type_defaults_to_new_and_old_images(ddb: Any) -> None:
    move_to(2 * HOUR)
    described = completed(ddb, **incremental(0, HOUR))
    assert described["IncrementalExportSpecification"]["ExportViewType"] == NEW_AND_OLD
    assert described["ItemCount"] == 0


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_item_created_and_deleted_inside_the_window_is_not_exported(
    aws: dict[str, Any], ddb: Any, view: str
) -> None:
    """Per "DynamoDB table export output format", an insert and a delete inside one window
    export nothing; the window holds each item's net change."""
    move_to(10 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("brief", 1))
    ddb.put_item(TableName=TABLE, Item=row("kept", 1))
    move_to(15 * MINUTE)
    set_qty(ddb, "brief", 2)
    move_to(20 * MINUTE)
    ddb.delete_item(TableName=TABLE, Key=key("brief"))
    move_to(2 * HOUR)

    described = completed(ddb, **incremental(5 * MINUTE, HOUR, view))

    (record,) = lines_of(aws["s3"], described)
    assert record["Keys"] == key("kept")
    assert described["ItemCount"] == 1


def test_item_deleted_and_put_again_in_the_window_is_one_update(
    aws: dict[str, Any], ddb: Any
) -> None:
    ddb.put_item(TableName=TABLE, Item=row("a", 1))
    move_to(10 * MINUTE)
    ddb.delete_item(TableName=TABLE, Key=key("a"))
    move_to(20 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("a", 5))
    move_to(2 * HOUR)

    (record,) = lines_of(aws["s3"], completed(ddb, **incremental(5 * MINUTE, HOUR)))

    assert record["NewImage"] == row("a", 5)
    assert record["OldImage"] == row("a", 1)
    assert record["Metadata"]["WriteTimestampMicros"] == {"N": str(int(T0 + 20 * MINUTE) * 10**6)}


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(change_log.RECORD_UNCHANGED, ["same", "x"]), (change_log.OMIT_UNCHANGED, ["x"])],
)
def test_item_written_back_to_its_old_state_follows_the_switch(
    aws: dict[str, Any],
    ddb: Any,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    expected: list[str],
) -> None:
    """Undocumented: an item identical at both ends although written in the window."""
    monkeypatch.setattr(change_log, "UNCHANGED_ITEMS", setting)
    ddb.put_item(TableName=TABLE, Item=row("same", 1))
    move_to(10 * MINUTE)
    set_qty(ddb, "same", 2)
    ddb.put_item(TableName=TABLE, Item=row("x", 1))
    move_to(20 * MINUTE)
    set_qty(ddb, "same", 1)
    move_to(2 * HOUR)

    records = by_pk(lines_of(aws["s3"], completed(ddb, **incremental(5 * MINUTE, HOUR))))

    assert sorted(records) == expected
    if "same" in records:
        assert records["same"]["NewImage"] == records["same"]["OldImage"] == row("same", 1)


def test_incremental_export_takes_its_duration(ddb: Any) -> None:
    MODEL.behave(TABLE, duration_seconds=900)
    move_to(2 * HOUR)
    started = start_export(ddb, **incremental(0, HOUR))
    clock.advance(899)
    assert ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"][
        "ExportStatus"
    ] == ("IN_PROGRESS")
    clock.advance(1)
    assert ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"][
        "ExportStatus"
    ] == ("COMPLETED")


def test_client_token_covers_the_incremental_specification(ddb: Any) -> None:
    move_to(3 * HOUR)
    first = start_export(ddb, ClientToken="window-1", **incremental(0, HOUR))
    again = start_export(ddb, ClientToken="window-1", **incremental(0, HOUR))
    assert again["ExportArn"] == first["ExportArn"]
    with pytest.raises(ClientError) as error:
        start_export(ddb, ClientToken="window-1", **incremental(0, 2 * HOUR))
    # The API reference's ClientToken text names ImportConflictException.
    assert error_code(error) == "ImportConflictException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(MODEL.exports_of(TABLE)) == 1


def test_client_token_conflict_name_can_be_switched(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_model, "CLIENT_TOKEN_CONFLICT", "ExportConflictException")
    move_to(3 * HOUR)
    start_export(ddb, ClientToken="full-1")
    with pytest.raises(ClientError) as error:
        start_export(ddb, ClientToken="full-1", ExportTime=at(HOUR))
    assert error_code(error) == "ExportConflictException"


# -- throttling ------------------------------------------------------------------------


@pytest.fixture
def no_retries(ddb: Any) -> Any:
    """A DynamoDB client that does not retry: botocore retries LimitExceededException
    on its own, which would hide the errors these tests count."""
    return boto3.client(
        "dynamodb", region_name=harness.REGION, config=Config(retries={"total_max_attempts": 1})
    )


def test_limit_exceeded_applies_to_incremental_starts_too(no_retries: Any) -> None:
    ddb = no_retries
    MODEL.behave(TABLE, limit_exceeded=2)
    move_to(3 * HOUR)
    with pytest.raises(ClientError) as first:
        start_export(ddb, **incremental(0, HOUR))
    with pytest.raises(ClientError) as second:
        start_export(ddb)
    for error in (first, second):
        assert error_code(error) == "LimitExceededException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert MODEL.exports_of(TABLE) == []

    start_export(ddb, **incremental(0, HOUR))
    assert len(MODEL.exports_of(TABLE)) == 1


def test_describe_export_can_be_throttled_n_times(no_retries: Any) -> None:
    ddb = no_retries
    move_to(3 * HOUR)
    started = start_export(ddb, **incremental(0, HOUR))
    MODEL.behave(TABLE, describe_limit_exceeded=2)
    clock.advance(MODEL.behaviours[TABLE].duration_seconds)

    for _ in range(2):
        with pytest.raises(ClientError) as error:
            ddb.describe_export(ExportArn=started["ExportArn"])
        assert error_code(error) == "LimitExceededException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    described = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED"
    assert MODEL.behaviours[TABLE].describe_limit_exceeded == 0


def test_describe_throttling_is_per_table(aws: dict[str, Any], no_retries: Any) -> None:
    ddb = no_retries
    harness.create_table(aws["dynamodb"], "other")
    move_to(3 * HOUR)
    mine = start_export(ddb)
    other = start_export(ddb, "other")
    MODEL.behave("other", describe_limit_exceeded=1)

    assert ddb.describe_export(ExportArn=mine["ExportArn"])["ExportDescription"]
    with pytest.raises(ClientError) as error:
        ddb.describe_export(ExportArn=other["ExportArn"])
    assert error_code(error) == "LimitExceededException"


# -- full export at a time ---------------------------------------------------------------


def test_full_export_time_gives_the_table_as_of_then(aws: dict[str, Any], ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=row("a", 1))
    ddb.put_item(TableName=TABLE, Item=row("b", 1))
    move_to(HOUR)
    set_qty(ddb, "a", 2)
    ddb.put_item(TableName=TABLE, Item=row("c", 1))
    ddb.delete_item(TableName=TABLE, Key=key("b"))
    move_to(3 * HOUR)

    def items(described: dict[str, Any]) -> dict[str, Any]:
        return {line["Item"]["pk"]["S"]: line["Item"] for line in lines_of(aws["s3"], described)}

    before = completed(ddb, ExportTime=at(30 * MINUTE))
    assert items(before) == {"a": row("a", 1), "b": row("b", 1)}
    assert before["ExportTime"] == at(30 * MINUTE)
    assert before["ExportType"] == "FULL_EXPORT"
    assert "IncrementalExportSpecification" not in before

    # A snapshot at a time includes the writes made at that very time.
    assert items(completed(ddb, ExportTime=at(HOUR))) == {"a": row("a", 2), "c": row("c", 1)}

    now = completed(ddb)
    assert items(now) == {"a": row("a", 2), "c": row("c", 1)}
    assert now["ExportTime"] == now["StartTime"]


# -- the write log -----------------------------------------------------------------------


def test_every_kind_of_write_is_logged_at_its_writers_time(ddb: Any) -> None:
    move_to(MINUTE)
    ddb.batch_write_item(
        RequestItems={
            TABLE: [{"PutRequest": {"Item": row(pk, 1)}} for pk in ("a", "b", "c")],
        }
    )
    move_to(2 * MINUTE)
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": row("d", 1)}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key("a"),
                    "UpdateExpression": "SET qty = :q",
                    "ExpressionAttributeValues": {":q": {"N": "5"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": key("b")}},
        ]
    )
    move_to(3 * MINUTE)
    with pytest.raises(ClientError):  # a failed condition writes nothing
        ddb.put_item(
            TableName=TABLE, Item=row("c", 7), ConditionExpression="attribute_not_exists(pk)"
        )
    with pytest.raises(ClientError):  # nor does a cancelled transaction
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": row("z", 1)}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("c"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    move_to(4 * MINUTE)
    ddb.execute_statement(
        Statement=f"UPDATE \"{TABLE}\" SET qty = ? WHERE pk = 'c'", Parameters=[{"N": "8"}]
    )
    ddb.batch_write_item(RequestItems={TABLE: [{"DeleteRequest": {"Key": key("d")}}]})

    logged = [
        (c.time - T0, c.key["pk"]["S"], c.old is not None, c.new is not None)
        for c in change_log.changes(TABLE)
    ]
    assert logged == [
        (MINUTE, "a", False, True),
        (MINUTE, "b", False, True),
        (MINUTE, "c", False, True),
        (2 * MINUTE, "d", False, True),
        (2 * MINUTE, "a", True, True),
        (2 * MINUTE, "b", True, False),
        (4 * MINUTE, "c", True, True),
        (4 * MINUTE, "d", True, False),
    ]
    assert [
        c.key["pk"]["S"]
        for c in change_log.changes_between(TABLE, T0 + 2 * MINUTE, T0 + 4 * MINUTE)
    ] == ["d", "a", "b"]
    state = change_log.item_state_at(TABLE, T0 + 2 * MINUTE)
    assert state == {
        change_log.canonical_key(key("a")): row("a", 5),
        change_log.canonical_key(key("c")): row("c", 1),
        change_log.canonical_key(key("d")): row("d", 1),
    }
    assert change_log.item_state_at(TABLE, T0 + 4 * MINUTE) == replay.scan_table(ddb, TABLE)


# -- replay ----------------------------------------------------------------------------


def create_events_table(ddb: Any) -> None:
    """A table with a composite key, to replay."""
    ddb.create_table(
        TableName="events",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_continuous_backups(
        TableName="events", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def random_write(ddb: Any, rng: random.Random, serial: int) -> None:
    pk, sk = rng.choice("abcdef"), rng.randint(1, 4)
    event_key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    choice = rng.random()
    if choice < 0.45:
        item = {**event_key, "v": {"N": str(serial)}, "tags": {"SS": [f"t{serial}", "x"]}}
        ddb.put_item(TableName="events", Item=item)
    elif choice < 0.75:
        ddb.update_item(
            TableName="events",
            Key=event_key,
            UpdateExpression="SET v = :v, nested = :m",
            ExpressionAttributeValues={
                ":v": {"N": str(serial)},
                ":m": {"M": {"at": {"N": str(serial)}, "l": {"L": [{"S": "x"}]}}},
            },
        )
    else:
        ddb.delete_item(TableName="events", Key=event_key)


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_baseline_and_consecutive_windows_replay_to_the_table(
    aws: dict[str, Any], view: str
) -> None:
    ddb, s3 = aws["dynamodb"], aws["s3"]
    harness.create_bucket(s3, BUCKET)
    create_events_table(ddb)
    rng = random.Random(20260105)
    serial = 0
    for _ in range(15):
        serial += 1
        random_write(ddb, rng, serial)
    windows = [(HOUR + i * HOUR, 2 * HOUR + i * HOUR) for i in range(6)]
    # Writes between the baseline and the last window's end, some exactly on a boundary.
    offsets = sorted(
        [rng.uniform(10 * MINUTE, windows[-1][1] - 1) for _ in range(120)]
        + [start for start, _ in windows]
    )
    for offset in offsets:
        move_to(offset)
        serial += 1
        random_write(ddb, rng, serial)
    move_to(windows[-1][1] + 10 * MINUTE)

    baseline = completed(ddb, "events", ExportTime=at(HOUR))
    locations = [location(baseline)]
    for start, end in windows:
        described = completed(ddb, "events", **incremental(start, end, view))
        locations.append(location(described))
        # Each prefix of the chain is the table as it was just before the window's end.
        assert replay.replay_exports(s3, locations, ["pk", "sk"]) == change_log.item_state_at(
            "events", T0 + end, inclusive=False
        )

    replayed = replay.replay_exports(s3, locations, replay.key_names_of(ddb, "events"))
    assert replayed == replay.scan_table(ddb, "events")
    assert len(replayed) > 5
    # The replay does not need the key names once an incremental export names them.
    assert replay.replay_exports(s3, locations) == replayed


# -- JSONata time ----------------------------------------------------------------------


def test_jsonata_millis_and_now_read_the_virtual_clock() -> None:
    clock.reset(T0 + 0.25)
    try:
        assert jsonata_engine.evaluate("$millis()") == int((T0 + 0.25) * 1000)
        assert jsonata_engine.evaluate("$now()") == "2026-01-05T03:00:00.250Z"
        assert jsonata_engine.evaluate("$now('[Y0001]-[M01]-[D01]')") == "2026-01-05"
        assert jsonata_engine.evaluate("$fromMillis($millis())") == "2026-01-05T03:00:00.250Z"
    finally:
        clock.reset()


def test_state_machine_sees_virtual_time_through_millis_and_now(aws: dict[str, Any]) -> None:
    sfn = aws["stepfunctions"]
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "First",
        "States": {
            "First": {
                "Type": "Pass",
                "Output": {"millis": "{% $millis() %}", "now": "{% $now() %}"},
                "Next": "Later",
            },
            "Later": {"Type": "Wait", "Seconds": 5400, "Next": "Second"},
            "Second": {
                "Type": "Pass",
                "Output": {
                    "first": "{% $states.input %}",
                    "millis": "{% $millis() %}",
                    "now": "{% $now() %}",
                },
                "End": True,
            },
        },
    }
    arn = sfn.create_state_machine(
        name="clock-probe", definition=json.dumps(definition), roleArn=harness.ROLE_ARN
    )["stateMachineArn"]
    move_to(HOUR)

    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["first"] == {"millis": (T0 + HOUR) * 1000, "now": "2026-01-05T04:00:00.000Z"}
    assert output["millis"] == (T0 + HOUR + 5400) * 1000
    assert output["now"] == "2026-01-05T05:30:00.000Z"
