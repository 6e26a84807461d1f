"""The S3 layout the emulator's exports write ("DynamoDB table export output format"):
manifests under ``AWSDynamoDB/<ExportId>/``, a full export's data under
``<ExportId>/data/``, incremental exports' data in the folder they share,
``AWSDynamoDB/data/``; and readers (``replay``, ``local_query``) that find an export's
data files through its ``manifest-files.json`` only."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
from typing import Any

import pytest
from table_exporter.catalog.schema import Column

from emulator import clock, export_model, harness, local_query, replay

from .support import BUCKET

MODEL = export_model.MODEL
TABLE = "orders"
T0 = clock.EPOCH
MINUTE, HOUR = 60, 3600
PREFIX = "exports/orders"
KEYS = (Column("pk", "string"),)
COLUMNS = (Column("qty", "number"),)


def at(offset: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + offset, tz=dt.timezone.utc)


def move_to(offset: float) -> None:
    assert T0 + offset >= clock.now()
    clock.advance(T0 + offset - clock.now())


def row(pk: str, qty: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "qty": {"N": str(qty)}}


def completed(ddb: Any, **request: Any) -> dict[str, Any]:
    started = ddb.export_table_to_point_in_time(
        TableArn=harness.SCOPE.arn("dynamodb", f"table/{TABLE}"),
        S3Bucket=BUCKET,
        S3Prefix=PREFIX,
        **request,
    )["ExportDescription"]
    clock.advance(MODEL.default.duration_seconds)
    described = dict(ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"])
    assert described["ExportStatus"] == "COMPLETED", described
    return described


def incremental(start: float, end: float, view: str = "NEW_AND_OLD_IMAGES") -> dict[str, Any]:
    return {
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {
            "ExportFromTime": at(start),
            "ExportToTime": at(end),
            "ExportViewType": view,
        },
    }


def export_id(described: dict[str, Any]) -> str:
    return str(described["ExportArn"]).rsplit("/", 1)[1]


def location(described: dict[str, Any]) -> str:
    return f"s3://{BUCKET}/{PREFIX}/AWSDynamoDB/{export_id(described)}/"


def objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def files_manifest(files: dict[str, bytes], described: dict[str, Any]) -> list[dict[str, Any]]:
    body = files[f"{PREFIX}/AWSDynamoDB/{export_id(described)}/manifest-files.json"]
    return [json.loads(line) for line in body.decode().splitlines() if line]


@pytest.fixture
def ddb(aws: dict[str, Any]) -> Any:
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], TABLE, [row("a", 1), row("b", 1)])
    return aws["dynamodb"]


def two_windows(ddb: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two consecutive incremental exports to the same S3Prefix (after the table's
    creation at T0): the first sees ``a`` and ``c`` change, the second ``b`` and ``d``."""
    move_to(10 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("a", 2))
    ddb.put_item(TableName=TABLE, Item=row("c", 1))
    move_to(70 * MINUTE)
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "b"}})
    ddb.put_item(TableName=TABLE, Item=row("d", 1))
    move_to(3 * HOUR)
    first = completed(ddb, **incremental(5 * MINUTE, 65 * MINUTE))
    return first, completed(ddb, **incremental(65 * MINUTE, 125 * MINUTE))


# -- where the objects go ----------------------------------------------------------------


def test_full_export_keeps_manifests_and_data_under_its_export_id(
    aws: dict[str, Any], ddb: Any
) -> None:
    move_to(HOUR)
    described = completed(ddb)
    base = f"{PREFIX}/AWSDynamoDB/{export_id(described)}"

    files = objects(aws["s3"])

    (entry,) = files_manifest(files, described)
    assert entry["dataFileS3Key"].startswith(f"{base}/data/")
    assert entry["dataFileS3Key"].endswith(".json.gz")
    assert set(files) == {
        f"{base}/_started",
        f"{base}/manifest-summary.json",
        f"{base}/manifest-summary.checksum",
        f"{base}/manifest-files.json",
        f"{base}/manifest-files.checksum",
        entry["dataFileS3Key"],
    }
    assert files[f"{base}/_started"] == b""
    assert described["ExportManifest"] == f"{base}/manifest-summary.json"


def test_incremental_exports_put_their_data_in_the_shared_folder(
    aws: dict[str, Any], ddb: Any
) -> None:
    first, second = two_windows(ddb)

    files = objects(aws["s3"])

    shared = f"{PREFIX}/AWSDynamoDB/data/"
    keys = []
    for described in (first, second):
        base = f"{PREFIX}/AWSDynamoDB/{export_id(described)}/"
        (entry,) = files_manifest(files, described)
        assert entry["dataFileS3Key"].startswith(shared)
        assert "/" not in entry["dataFileS3Key"].removeprefix(shared)
        keys.append(entry["dataFileS3Key"])
        assert {k.removeprefix(base) for k in files if k.startswith(base)} == {
            "_started",
            "manifest-summary.json",
            "manifest-summary.checksum",
            "manifest-files.json",
            "manifest-files.checksum",
        }
    assert keys[0] != keys[1]
    assert sorted(k for k in files if k.startswith(shared)) == sorted(keys)


# -- what the manifests say ----------------------------------------------------------------


def test_files_manifest_lines_describe_each_data_file(aws: dict[str, Any], ddb: Any) -> None:
    move_to(HOUR)
    described = completed(ddb)
    files = objects(aws["s3"])

    (entry,) = files_manifest(files, described)

    assert set(entry) == {"itemCount", "md5Checksum", "etag", "dataFileS3Key"}
    data = files[entry["dataFileS3Key"]]
    assert entry["itemCount"] == 2 == len(gzip.decompress(data).decode().splitlines())
    assert base64.b64decode(entry["md5Checksum"]) == hashlib.md5(data).digest()
    assert entry["etag"] == hashlib.md5(data).hexdigest()


def test_checksum_files_hold_the_md5_of_their_manifest(aws: dict[str, Any], ddb: Any) -> None:
    move_to(HOUR)
    described = completed(ddb)
    base = f"{PREFIX}/AWSDynamoDB/{export_id(described)}"
    files = objects(aws["s3"])

    for name in ("manifest-summary", "manifest-files"):
        manifest = files[f"{base}/{name}.json"]
        assert files[f"{base}/{name}.checksum"].decode() == hashlib.md5(manifest).hexdigest()
    assert not any(key.endswith(".md5") for key in files)


def test_full_summary_fields(aws: dict[str, Any], ddb: Any) -> None:
    move_to(HOUR)
    described = completed(ddb, ExportTime=at(30 * MINUTE))

    summary = replay.read_summary(aws["s3"], location(described))

    base = f"{PREFIX}/AWSDynamoDB/{export_id(described)}"
    assert summary == {
        "version": "2020-06-30",
        "exportArn": described["ExportArn"],
        "startTime": "2026-01-05T04:00:00.000Z",
        "endTime": "2026-01-05T04:04:00.000Z",
        "tableArn": described["TableArn"],
        "tableId": described["TableId"],
        "exportTime": "2026-01-05T03:30:00.000Z",
        "s3Bucket": BUCKET,
        "s3Prefix": PREFIX,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{base}/manifest-files.json",
        "billedSizeBytes": described["BilledSizeBytes"],
        "itemCount": 2,
        "outputFormat": "DYNAMODB_JSON",
    }


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_incremental_summary_fields(aws: dict[str, Any], ddb: Any, view: str) -> None:
    move_to(10 * MINUTE)
    ddb.put_item(TableName=TABLE, Item=row("a", 2))
    move_to(2 * HOUR)
    described = completed(ddb, **incremental(5 * MINUTE, HOUR, view))

    summary = replay.read_summary(aws["s3"], location(described))

    base = f"{PREFIX}/AWSDynamoDB/{export_id(described)}"
    assert summary == {
        "version": "2023-08-01",
        "exportArn": described["ExportArn"],
        "startTime": "2026-01-05T05:00:00.000Z",
        "endTime": "2026-01-05T05:04:00.000Z",
        "tableArn": described["TableArn"],
        "tableId": described["TableId"],
        "exportFromTime": "2026-01-05T03:05:00.000Z",
        "exportToTime": "2026-01-05T04:00:00.000Z",
        "s3Bucket": BUCKET,
        "s3Prefix": PREFIX,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{base}/manifest-files.json",
        "billedSizeBytes": described["BilledSizeBytes"],
        "itemCount": 1,
        "outputFormat": "DYNAMODB_JSON",
        "outputView": view,
        "exportType": "INCREMENTAL_EXPORT",
    }


# -- readers go through the manifest ---------------------------------------------------------


def test_exports_sharing_a_data_folder_replay_only_their_own_files(
    aws: dict[str, Any], ddb: Any
) -> None:
    s3 = aws["s3"]
    first, second = two_windows(ddb)

    (first_file,) = replay.data_files(s3, location(first))
    (second_file,) = replay.data_files(s3, location(second))
    kind, first_records = replay.read_export(s3, location(first))
    _, second_records = replay.read_export(s3, location(second))

    assert first_file != second_file
    assert kind == "INCREMENTAL_EXPORT"
    assert sorted(r["Keys"]["pk"]["S"] for r in first_records) == ["a", "c"]
    assert sorted(r["Keys"]["pk"]["S"] for r in second_records) == ["b", "d"]
    chain = [location(first), location(second)]
    assert replay.replay_exports(s3, chain) == {
        key: item
        for key, item in replay.scan_table(ddb, TABLE).items()
        if item["pk"]["S"] in ("a", "b", "c", "d")
    }


def test_exports_sharing_a_data_folder_query_only_their_own_files(
    aws: dict[str, Any], ddb: Any
) -> None:
    s3 = aws["s3"]
    first, second = two_windows(ddb)
    sql = "SELECT pk, deleted, qty FROM changes ORDER BY pk"

    first_rows = local_query.query_changes(s3, [location(first)], KEYS, COLUMNS, sql).rows
    second_rows = local_query.query_changes(s3, [location(second)], KEYS, COLUMNS, sql).rows
    both = local_query.query_changes(
        s3, [location(first), location(second)], KEYS, COLUMNS, sql
    ).rows

    assert [r[0] for r in first_rows] == ["a", "c"]
    assert [(r[0], r[1]) for r in second_rows] == [("b", True), ("d", False)]
    assert [r[0] for r in both] == ["a", "b", "c", "d"]


def test_readers_never_list_a_data_folder(aws: dict[str, Any], ddb: Any) -> None:
    """A stray object in the shared folder, one the manifest does not list, is not read."""
    s3 = aws["s3"]
    first, _ = two_windows(ddb)
    stray = json.dumps({"Metadata": {}, "Keys": {"pk": {"S": "stray"}}}) + "\n"
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/AWSDynamoDB/data/stray0000000000000000000000.json.gz",
        Body=gzip.compress(stray.encode()),
    )

    _, records = replay.read_export(s3, location(first))
    queried = local_query.query_changes(
        s3, [location(first)], KEYS, COLUMNS, "SELECT pk FROM changes ORDER BY pk"
    )

    assert sorted(r["Keys"]["pk"]["S"] for r in records) == ["a", "c"]
    assert queried.rows == [("a",), ("c",)]


def test_a_full_exports_data_folder_names_the_export_but_the_shared_one_does_not(
    aws: dict[str, Any], ddb: Any
) -> None:
    s3 = aws["s3"]
    move_to(HOUR)
    full = completed(ddb)

    counted = local_query.query_export(
        s3, location(full) + "data/", KEYS, "SELECT COUNT(*) FROM items"
    )
    assert counted.rows == [(2,)]
    assert replay.data_files(s3, location(full) + "data/") == replay.data_files(s3, location(full))
    with pytest.raises(ValueError, match="share"):
        replay.data_files(s3, f"s3://{BUCKET}/{PREFIX}/AWSDynamoDB/data/")


def test_an_unlisted_file_beside_a_full_exports_data_is_not_read(
    aws: dict[str, Any], ddb: Any
) -> None:
    s3 = aws["s3"]
    move_to(HOUR)
    full = completed(ddb)
    stray = json.dumps({"Item": row("stray", 9)}) + "\n"
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/AWSDynamoDB/{export_id(full)}/data/stray000000000000000000000.json.gz",
        Body=gzip.compress(stray.encode()),
    )

    queried = local_query.query_export(s3, location(full), KEYS, "SELECT pk FROM items ORDER BY pk")
    _, lines = replay.read_export(s3, location(full))

    assert queried.rows == [("a",), ("b",)]
    assert sorted(line["Item"]["pk"]["S"] for line in lines) == ["a", "b"]
