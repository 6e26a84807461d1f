"""Exports read back through the shared column mapping with DuckDB: a full export made
by the deployed machines, typed values of every kind (sparse, empty, nested, Unicode,
decimal), aggregates, the Glue tables the machines publish, and the current state
rebuilt from incremental exports."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from table_exporter.catalog.schema import (
    Column,
    columns_from,
    duckdb_select,
    glue_member,
    glue_table_input,
    glue_table_name,
    key_columns_of,
    with_keys,
)

from emulator import clock, export_model, harness, local_query

from .support import BUCKET, DeployExporter

MODEL = export_model.MODEL
TABLE = "menu-orders"
DATABASE = "exports_db"
SCHEDULED = {"scheduledTime": "2026-11-23T04:00:00Z"}
PHOTO = bytes([0, 1, 2, 250, 255]) + "ラーメン".encode()

DECLARED = columns_from(
    {
        "menu_item": "string",
        "quantity": "number",
        "price": "number",
        "paid": "boolean",
        "tags": "string_set",
        "ratings": "number_set",
        "extras": "list",
        "options": "map",
        "photo": "binary",
    }
)
KEYS = (Column("pk", "string"),)
ALL = with_keys(KEYS, DECLARED)

# Sparse on purpose: o-1 has most attributes, o-5 nothing but its key. No item has a
# binary value: the emulator cannot export one yet (``photo`` reads as NULL; binary is
# read from a local file in the last test).
ITEMS: list[dict[str, Any]] = [
    {
        "pk": {"S": "o-1"},
        "menu_item": {"S": "Ramen ラーメン 🍜"},
        "quantity": {"N": "2"},
        "price": {"N": "12.5"},
        "paid": {"BOOL": True},
        "tags": {"SS": ["spicy"]},
        "ratings": {"NS": ["4.5", "5"]},
        "extras": {
            "L": [
                {"S": "egg"},
                {"M": {"sauce": {"M": {"name": {"S": "miso"}, "level": {"N": "2"}}}}},
            ]
        },
        "options": {"M": {"noodles": {"M": {"firmness": {"S": "hard"}}}}},
        "table-no": {"S": "T7"},
    },
    {
        "pk": {"S": "o-2"},
        "menu_item": {"S": "Crêpe de Chloé"},
        "quantity": {"N": "1"},
        "price": {"N": "7.25"},
        "paid": {"BOOL": False},
        "extras": {"L": []},
        "options": {"M": {}},
    },
    {
        "pk": {"S": "o-3"},
        "menu_item": {"S": "Ramen ラーメン 🍜"},
        "quantity": {"N": "3"},
        "price": {"N": "0.000000001"},
        "tags": {"SS": ["large", "to-go"]},
    },
    {"pk": {"S": "o-4"}, "menu_item": {"S": "Crêpe de Chloé"}, "quantity": {"N": "1.5"}},
    {"pk": {"S": "o-5"}},
]


# -- helpers ---------------------------------------------------------------------------


def export_menu_orders(deploy_exporter: DeployExporter, aws: dict[str, Any]) -> dict[str, Any]:
    """Run the deployed machines once, publishing Glue tables; the table's output."""
    aws["glue"].create_database(DatabaseInput={"Name": DATABASE})
    ex = deploy_exporter(
        {TABLE: ITEMS},
        catalog_database=DATABASE,
        columns={TABLE: [glue_member(c) for c in DECLARED]},
    )
    described = ex.run("run-1", SCHEDULED)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    (output,) = described["tables"]
    return dict(output)


def rows_by_pk(result: local_query.QueryResult) -> dict[str, dict[str, Any]]:
    return {row["pk"]: row for row in result.dicts()}


# -- a full export through the mapping -------------------------------------------------


def test_every_type_reads_back_typed_and_absent_attributes_as_null(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    location = export_menu_orders(deploy_exporter, aws)["s3Location"]

    result = local_query.query_export(aws["s3"], location, ALL)

    assert result.columns == (*(c.name for c in ALL), "item_raw")
    rows = rows_by_pk(result)
    assert sorted(rows) == ["o-1", "o-2", "o-3", "o-4", "o-5"]
    first = rows["o-1"]
    assert first["menu_item"] == "Ramen ラーメン 🍜"
    assert first["quantity"] == Decimal(2) and isinstance(first["quantity"], Decimal)
    assert first["price"] == Decimal("12.5")
    assert first["paid"] is True
    assert first["tags"] == ["spicy"]
    assert first["ratings"] == [Decimal("4.5"), Decimal(5)]
    assert first["photo"] is None
    # Lists and maps stay DynamoDB JSON inside, as Athena's json_parse gives them.
    assert json.loads(first["extras"]) == ITEMS[0]["extras"]["L"]
    assert json.loads(first["options"]) == ITEMS[0]["options"]["M"]
    second = rows["o-2"]
    assert second["menu_item"] == "Crêpe de Chloé"
    assert second["paid"] is False
    assert json.loads(second["extras"]) == []
    assert json.loads(second["options"]) == {}
    assert second["tags"] is None and second["photo"] is None
    assert rows["o-3"]["tags"] == ["large", "to-go"]
    assert rows["o-3"]["price"] == Decimal("0.000000001")
    assert rows["o-4"]["quantity"] == Decimal("1.5")
    assert {k: v for k, v in rows["o-5"].items() if k not in ("pk", "item_raw")} == dict.fromkeys(
        c.name for c in DECLARED
    )


def test_aggregates_and_nested_values_query_like_columns(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    location = export_menu_orders(deploy_exporter, aws)["s3Location"]
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for item in ITEMS:
        if "menu_item" in item:
            expected[item["menu_item"]["S"]] += Decimal(item["quantity"]["N"])

    per_item = local_query.query_export(
        aws["s3"],
        location,
        ALL,
        "SELECT menu_item, SUM(quantity) AS quantity, COUNT(*) AS orders FROM items "
        "WHERE menu_item IS NOT NULL GROUP BY menu_item ORDER BY menu_item",
    )
    nested = local_query.query_export(
        aws["s3"],
        location,
        ALL,
        "SELECT json_extract_string(extras, '$[1].M.sauce.M.name.S') AS sauce, "
        "json_extract_string(options, '$.noodles.M.firmness.S') AS firmness, "
        "item_raw->'table-no'->>'S' AS table_no FROM items WHERE pk = 'o-1'",
    )

    assert per_item.columns == ("menu_item", "quantity", "orders")
    assert per_item.rows == [
        ("Crêpe de Chloé", expected["Crêpe de Chloé"], 2),
        ("Ramen ラーメン 🍜", expected["Ramen ラーメン 🍜"], 2),
    ]
    assert expected["Crêpe de Chloé"] == Decimal("2.5")
    # The undeclared attribute (a name no Glue field can have) is still in the raw item.
    assert nested.rows == [("miso", "hard", "T7")]


def test_empty_sets_are_refused_so_a_missing_set_is_null(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    location = export_menu_orders(deploy_exporter, aws)["s3Location"]

    with pytest.raises(ClientError) as refused:
        aws["dynamodb"].put_item(TableName=TABLE, Item={"pk": {"S": "o-9"}, "tags": {"SS": []}})
    counts = local_query.query_export(
        aws["s3"],
        location,
        ALL,
        "SELECT COUNT(*) FILTER (WHERE tags IS NULL), COUNT(*) FILTER (WHERE len(tags) = 1),"
        " MIN(len(tags)) FROM items",
    )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert counts.rows == [(3, 1, 1)]


def test_machines_publish_the_glue_tables_the_mapping_describes(
    aws: dict[str, Any], deploy_exporter: DeployExporter
) -> None:
    output = export_menu_orders(deploy_exporter, aws)
    key_columns = key_columns_of(aws["dynamodb"].describe_table(TableName=TABLE)["Table"])
    data = output["s3Location"] + "data/"
    parameters = {"exportArn": output["exportArn"], "sourceTableArn": output["tableArn"]}

    for suffix, raw in (("_latest", False), ("_latest_raw", True)):
        name = glue_table_name(TABLE, suffix)
        published = aws["glue"].get_table(DatabaseName=DATABASE, Name=name)["Table"]
        expected = glue_table_input(
            name, data, with_keys(key_columns, DECLARED), raw=raw, parameters=parameters
        )
        assert {k: published[k] for k in expected} == expected

    # The location Athena reads is one the local query reads too.
    glue_location = aws["glue"].get_table(DatabaseName=DATABASE, Name="menu_orders_latest")
    counted = local_query.query_export(
        aws["s3"],
        glue_location["Table"]["StorageDescriptor"]["Location"],
        key_columns,
        "SELECT COUNT(*) FROM items",
    )
    assert key_columns == KEYS
    assert counted.rows == [(len(ITEMS),)]


def test_an_export_whose_manifest_lists_no_data_files_reads_as_no_rows(
    aws: dict[str, Any],
) -> None:
    harness.create_bucket(aws["s3"], BUCKET)
    folder = "exports/t/AWSDynamoDB/1"
    summary = {"manifestFilesS3Key": f"{folder}/manifest-files.json", "itemCount": 0}
    aws["s3"].put_object(
        Bucket=BUCKET, Key=f"{folder}/manifest-summary.json", Body=json.dumps(summary).encode()
    )
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{folder}/manifest-files.json", Body=b"")
    # Beside the manifests but not listed in them: not this export's data.
    aws["s3"].put_object(
        Bucket=BUCKET,
        Key=f"{folder}/data/unlisted.json.gz",
        Body=gzip.compress(b'{"Item": {"pk": {"S": "stray"}}}\n'),
    )

    result = local_query.query_export(
        aws["s3"], f"s3://{BUCKET}/exports/t/AWSDynamoDB/1/", ALL, "SELECT pk, quantity FROM items"
    )

    assert result.columns == ("pk", "quantity")
    assert result.rows == []


# -- incremental exports ---------------------------------------------------------------


def _at(offset: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.EPOCH + offset, tz=dt.timezone.utc)


def _move_to(offset: float) -> None:
    clock.advance(clock.EPOCH + offset - clock.now())


def _completed_export(ddb: Any, **request: Any) -> str:
    """Start an export, let its virtual duration pass, return its location."""
    started = ddb.export_table_to_point_in_time(
        TableArn=harness.SCOPE.arn("dynamodb", f"table/{TABLE}"), S3Bucket=BUCKET, **request
    )["ExportDescription"]
    clock.advance(MODEL.default.duration_seconds)
    described = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED", described
    return f"s3://{BUCKET}/{described['ExportManifest'].rsplit('/', 1)[0]}/"


def test_baseline_and_changes_give_the_items_a_full_export_gives(aws: dict[str, Any]) -> None:
    ddb, s3 = aws["dynamodb"], aws["s3"]
    harness.create_bucket(s3, BUCKET)
    harness.create_table(ddb, TABLE, ITEMS)
    _move_to(40 * 60)
    ddb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "o-1"}},
        UpdateExpression="SET quantity = :q REMOVE tags",
        ExpressionAttributeValues={":q": {"N": "4.75"}},
    )
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "o-2"}})
    ddb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "o-6"}, "menu_item": {"S": "Gyōza 餃子"}, "quantity": {"N": "6"}},
    )
    _move_to(2 * 3600)

    baseline = _completed_export(ddb, ExportTime=_at(30 * 60))
    window = {"ExportFromTime": _at(30 * 60), "ExportToTime": _at(90 * 60)}
    changed = _completed_export(
        ddb, ExportType="INCREMENTAL_EXPORT", IncrementalExportSpecification=window
    )
    fresh = _completed_export(ddb, ExportTime=_at(90 * 60))

    ordered = "SELECT * FROM current_state ORDER BY pk"
    replayed = local_query.query_changes(s3, [changed], KEYS, DECLARED, ordered, baseline=baseline)
    changes = local_query.query_changes(
        s3, [changed], KEYS, DECLARED, "SELECT pk, deleted, quantity FROM changes ORDER BY pk"
    )
    exported = local_query.query_export(s3, fresh, ALL, "SELECT * FROM items ORDER BY pk")

    assert replayed.columns == exported.columns
    assert [r[:-1] for r in replayed.rows] == [r[:-1] for r in exported.rows]
    assert [json.loads(r[-1]) for r in replayed.rows] == [json.loads(r[-1]) for r in exported.rows]
    assert [r["pk"] for r in replayed.dicts()] == ["o-1", "o-3", "o-4", "o-5", "o-6"]
    assert rows_by_pk(replayed)["o-1"]["quantity"] == Decimal("4.75")
    assert rows_by_pk(replayed)["o-1"]["tags"] is None
    assert changes.rows == [
        ("o-1", False, Decimal("4.75")),
        ("o-2", True, None),
        ("o-6", False, Decimal(6)),
    ]


# -- DuckDB quoting ----------------------------------------------------------------------


def test_globs_with_quotes_and_keyword_names_run_in_duckdb(tmp_path: Path) -> None:
    folder = tmp_path / 'it\'s a "folder"'
    folder.mkdir()
    # AWS writes UTF-8 as is (the emulator escapes it): both must read the same.
    line = {
        "Item": {
            "select": {"S": "x'y"},
            "from": {"N": "1"},
            "B64": {"B": base64.b64encode(PHOTO).decode()},
            "name": {"S": "Chloé ラーメン 🍜"},
        }
    }
    text = json.dumps(line, ensure_ascii=False) + "\n"
    (folder / "part.json.gz").write_bytes(gzip.compress(text.encode()))
    columns = [
        Column("select", "string"),
        Column("from", "number"),
        Column("B64", "binary"),
        Column("name", "string"),
    ]

    result = local_query.run_query(
        {"items": duckdb_select(columns, (folder / "*.json.gz").as_posix())},
        'SELECT "select", "from", b64, name FROM items WHERE "select" = \'x\'\'y\'',
    )

    assert result.rows == [("x'y", Decimal(1), PHOTO, "Chloé ラーメン 🍜")]
