"""The column mapping as text: Glue struct members and table inputs, name rules, and the
SQL written for Athena and DuckDB (DuckDB runs it in ``emulator/test_local_query.py``)."""

from __future__ import annotations

import pytest
from table_exporter.catalog import schema
from table_exporter.catalog.schema import Column

EVERY_TYPE = [
    Column("name", "string"),
    Column("qty", "number"),
    Column("paid", "boolean"),
    Column("extras", "list"),
    Column("options", "map"),
    Column("tags", "string_set"),
    Column("ratings", "number_set"),
    Column("photo", "binary"),
]
KEYS = [Column("pk", "string"), Column("sk", "number")]
DATA = "s3://bucket/exports/orders/full/2026-11-23/AWSDynamoDB/0123-abcd/data/"


# -- columns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "member"),
    [
        (Column("name", "string"), "name:struct<s:string>"),
        (Column("qty", "number"), "qty:struct<n:string>"),
        (Column("paid", "boolean"), "paid:struct<bool:boolean>"),
        (Column("extras", "list"), "extras:struct<l:string>"),
        (Column("options", "map"), "options:struct<m:string>"),
        (Column("tags", "string_set"), "tags:struct<ss:array<string>>"),
        (Column("ratings", "number_set"), "ratings:struct<ns:array<string>>"),
        (Column("photo", "binary"), "photo:struct<b:string>"),
        (Column("MenuItem_2", "string"), "menuitem_2:struct<s:string>"),
    ],
)
def test_glue_member_per_type(column: Column, member: str) -> None:
    assert schema.glue_member(column) == member


def test_every_type_has_a_descriptor_and_a_member() -> None:
    assert set(schema.DYNAMO_DESCRIPTOR) == set(schema.COLUMN_TYPES)
    assert {c.type for c in EVERY_TYPE} == set(schema.COLUMN_TYPES)


def test_glue_item_type_joins_members_in_order() -> None:
    assert schema.glue_item_type([Column("pk", "string"), Column("qty", "number")]) == (
        "struct<pk:struct<s:string>,qty:struct<n:string>>"
    )
    with pytest.raises(ValueError, match="at least one column"):
        schema.glue_item_type([])


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "1-255 characters"),
        ("x" * 256, "1-255 characters"),
        ("menu item", "letters, digits and underscores"),
        ("table-no", "letters, digits and underscores"),
        ("a.b", "letters, digits and underscores"),
        ("Chloé", "letters, digits and underscores"),
        ('say"hi', "letters, digits and underscores"),
    ],
)
def test_names_glue_cannot_take_are_rejected_naming_the_column(name: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule) as error:
        Column(name, "string")
    assert repr(name) in str(error.value)


def test_longest_name_and_digit_names_are_accepted() -> None:
    assert Column("x" * 255, "string").field == "x" * 255
    assert Column("2024", "number").field == "2024"


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="'qty': type 'integer' is not one of string, number"):
        Column("qty", "integer")  # type: ignore[arg-type]


def test_names_differing_only_by_case_are_rejected() -> None:
    with pytest.raises(ValueError, match="'Qty': differs only by case from column 'qty'"):
        schema.glue_item_type([Column("qty", "number"), Column("Qty", "string")])
    with pytest.raises(ValueError, match="'qty': declared more than once"):
        schema.check_columns([Column("qty", "number"), Column("qty", "number")])


def test_columns_from_settings_mapping() -> None:
    assert schema.columns_from({"menu_item": "string", "quantity": "number"}) == (
        Column("menu_item", "string"),
        Column("quantity", "number"),
    )
    with pytest.raises(ValueError, match="'Quantity': differs only by case"):
        schema.columns_from({"quantity": "number", "Quantity": "number"})


def test_key_columns_of_a_described_table_hash_first() -> None:
    table = {
        "KeySchema": [
            {"AttributeName": "sk", "KeyType": "RANGE"},
            {"AttributeName": "pk", "KeyType": "HASH"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "B"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
    }
    assert schema.key_columns_of(table) == (Column("pk", "binary"), Column("sk", "number"))


def test_with_keys_puts_keys_first_once() -> None:
    merged = schema.with_keys(KEYS, [Column("qty", "number"), Column("pk", "string")])
    assert merged == (*KEYS, Column("qty", "number"))
    with pytest.raises(ValueError, match="'pk': declared as number but the key attribute is"):
        schema.with_keys(KEYS, [Column("pk", "number")])
    with pytest.raises(ValueError, match="'PK': differs only by case from key column 'pk'"):
        schema.with_keys(KEYS, [Column("PK", "string")])
    with pytest.raises(ValueError, match="at least one key column"):
        schema.with_keys([], [Column("qty", "number")])


# -- Glue tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "suffix", "name"),
    [
        ("orders", "_latest", "orders_latest"),
        ("Menu-Orders.v2", "_latest_raw", "menu_orders_v2_latest_raw"),
        ("orders", "", "orders"),
        ("orders", "-Changes", "orders_changes"),
    ],
)
def test_glue_table_name(table: str, suffix: str, name: str) -> None:
    assert schema.glue_table_name(table, suffix) == name


def test_glue_table_name_keeps_its_suffix_within_255_characters() -> None:
    name = schema.glue_table_name("T" * 255, "_latest_raw")
    assert len(name) == 255
    assert name == "t" * 244 + "_latest_raw"
    with pytest.raises(ValueError, match="must not be empty"):
        schema.glue_table_name("", "_latest")
    with pytest.raises(ValueError, match="no room"):
        schema.glue_table_name("orders", "x" * 255)


def test_glue_columns_typed_and_raw() -> None:
    assert schema.glue_columns(KEYS) == [
        {"Name": "item", "Type": "struct<pk:struct<s:string>,sk:struct<n:string>>"}
    ]
    assert schema.glue_raw_columns() == [{"Name": "item", "Type": "map<string,string>"}]


def test_glue_table_input_is_a_complete_external_json_table() -> None:
    table = schema.glue_table_input(
        "orders_latest", DATA, KEYS, parameters={"exportArn": "arn:x", "classification": "csv"}
    )
    assert table == {
        "Name": "orders_latest",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"exportArn": "arn:x", "classification": "json", "compressionType": "gzip"},
        "StorageDescriptor": {
            "Columns": schema.glue_columns(KEYS),
            "Location": DATA,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                "Parameters": {"ignore.malformed.json": "true"},
            },
        },
    }
    raw = schema.glue_table_input("orders_latest_raw", DATA, [], raw=True)
    assert raw["StorageDescriptor"]["Columns"] == schema.glue_raw_columns()


@pytest.mark.parametrize(
    ("name", "location", "message"),
    [
        ("Orders", DATA, "Glue table name 'Orders'"),
        ("orders-latest", DATA, "Glue table name"),
        ("orders", DATA.rstrip("/"), "ending in '/'"),
        ("orders", "https://bucket/data/", "s3:// folder"),
    ],
)
def test_glue_table_input_rejects_bad_names_and_locations(
    name: str, location: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        schema.glue_table_input(name, location, KEYS)


# -- Athena ----------------------------------------------------------------------------


def test_athena_select_types_every_column() -> None:
    sql = schema.athena_select(EVERY_TYPE, "exports_db.orders_latest")
    assert sql.splitlines() == [
        "SELECT",
        '  "item"."name"."s" AS "name",',
        '  CAST("item"."qty"."n" AS DECIMAL(38, 9)) AS "qty",',
        '  "item"."paid"."bool" AS "paid",',
        '  json_parse("item"."extras"."l") AS "extras",',
        '  json_parse("item"."options"."m") AS "options",',
        '  "item"."tags"."ss" AS "tags",',
        '  TRANSFORM("item"."ratings"."ns", x -> CAST(x AS DECIMAL(38, 9))) AS "ratings",',
        '  from_base64("item"."photo"."b") AS "photo"',
        'FROM "exports_db"."orders_latest"',
    ]


def test_athena_reads_lowercase_fields_and_keeps_the_attribute_name() -> None:
    sql = schema.athena_select([Column("menuItem", "string"), Column("date", "string")], "t")
    assert '"item"."menuitem"."s" AS "menuItem"' in sql
    assert '"item"."date"."s" AS "date"' in sql


# -- DuckDB ----------------------------------------------------------------------------


def test_duckdb_select_types_every_column_from_item_json() -> None:
    sql = schema.duckdb_select(EVERY_TYPE, "exports/*.json.gz")
    assert sql.splitlines() == [
        "SELECT",
        "  Item->'name'->>'S' AS \"name\",",
        "  CAST(Item->'qty'->>'N' AS DECIMAL(38, 9)) AS \"qty\",",
        "  CAST(Item->'paid'->>'BOOL' AS BOOLEAN) AS \"paid\",",
        "  Item->'extras'->'L' AS \"extras\",",
        "  Item->'options'->'M' AS \"options\",",
        "  CAST(Item->'tags'->'SS' AS VARCHAR[]) AS \"tags\",",
        "  CAST(CAST(Item->'ratings'->'NS' AS VARCHAR[]) AS DECIMAL(38, 9)[]) AS \"ratings\",",
        "  from_base64(Item->'photo'->>'B') AS \"photo\",",
        '  Item AS "item_raw"',
        "FROM read_json('exports/*.json.gz', format='newline_delimited', "
        "compression='gzip', columns={'Item': 'JSON'})",
    ]


def test_duckdb_keeps_the_attribute_spelling_and_escapes_quotes() -> None:
    sql = schema.duckdb_select([Column("menuItem", "string")], "/tmp/it's/*.json.gz")
    assert "Item->'menuItem'->>'S' AS \"menuItem\"" in sql
    assert "read_json('/tmp/it''s/*.json.gz'," in sql
    assert schema.sql_string("it's ''") == "'it''s '''''"
    assert schema.quote_identifier('say "hi"') == '"say ""hi"""'


def test_duckdb_changes_select_reads_every_record_field() -> None:
    sql = schema.duckdb_changes_select(KEYS, [Column("qty", "number")], "c/*.json.gz")
    for expected in (
        "CAST(Metadata->'WriteTimestampMicros'->>'N' AS BIGINT) AS \"write_timestamp_micros\"",
        'NewImage IS NULL AS "deleted"',
        "Keys->'pk'->>'S' AS \"pk\"",
        "CAST(Keys->'sk'->>'N' AS DECIMAL(38, 9)) AS \"sk\"",
        "CAST(NewImage->'qty'->>'N' AS DECIMAL(38, 9)) AS \"qty\"",
        'NewImage AS "new_image_raw"',
        'OldImage AS "old_image_raw"',
        "columns={'Metadata': 'JSON', 'Keys': 'JSON', 'NewImage': 'JSON', 'OldImage': 'JSON'}",
    ):
        assert expected in sql


def test_duckdb_current_state_has_the_full_export_columns() -> None:
    sql = schema.duckdb_current_state_sql(
        KEYS, [Column("qty", "number")], "c/*.json.gz", baseline_glob="b/*.json.gz"
    )
    assert sql.startswith('SELECT "pk", "sk", "qty", "item_raw"\n')
    assert 'NewImage AS "item_raw"' in sql and 'Item AS "item_raw"' in sql
    assert "read_json('b/*.json.gz'," in sql
    assert sql.endswith('WHERE "change_rank" = 1 AND NOT "deleted"')


@pytest.mark.parametrize("name", ["item_raw", "Deleted", "write_timestamp_micros"])
def test_columns_the_query_adds_cannot_be_attributes(name: str) -> None:
    message = f"{name!r}: the query adds a column of that name itself"
    with pytest.raises(ValueError, match=message):
        schema.duckdb_current_state_sql(KEYS, [Column(name, "string")], "c/*.json.gz")
    with pytest.raises(ValueError, match="'Item_Raw': the query adds"):
        schema.duckdb_select([Column("Item_Raw", "string")], "f/*.json.gz")
