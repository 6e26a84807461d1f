"""The current table's statements as text: what they say, and that Athena's dialect
parses every one (they are executed in tests/emulator/test_current_state_sql.py)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from table_exporter.catalog.schema import COLUMN_TYPES, Column
from table_exporter.current.sql import (
    CurrentTable,
    Window,
    create_sql,
    merge_window_sql,
    replace_from_baseline_sql,
    statements,
)

T = 1_767_585_300_000_000  # 2026-01-05T03:55:00Z
KEYS = (Column("pk", "string"), Column("sk", "number"))
ALL_TYPES = tuple(Column(f"c_{kind}", kind) for kind in COLUMN_TYPES)  # type: ignore[arg-type]


def table(**overrides: object) -> CurrentTable:
    settings: dict[str, object] = {
        "database": "exports_db",
        "table_name": "Orders-2026",
        "key_columns": KEYS,
        "columns": ALL_TYPES,
        "location": "s3://bucket/exports/orders/current/",
    }
    settings.update(overrides)
    return CurrentTable(**settings)  # type: ignore[arg-type]


def every_statement() -> list[str]:
    return statements(table(), baseline_micros=T, windows=[Window(T, T + 3600 * 1_000_000)])


@pytest.mark.parametrize("index", range(3))
def test_every_statement_parses_in_athenas_dialect_as_one_real_statement(index: int) -> None:
    parsed = sqlglot.parse(every_statement()[index], read="athena")
    assert len(parsed) == 1
    assert not isinstance(parsed[0], exp.Command)  # not kept as opaque text
    assert isinstance(parsed[0], (exp.Create, exp.Merge))


def test_create_is_an_iceberg_table_with_typed_columns_and_the_raw_item() -> None:
    sql = create_sql(table())
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `exports_db`.`orders_2026_current` (")
    assert "'table_type'='ICEBERG'" in sql
    assert "LOCATION 's3://bucket/exports/orders/current/'" in sql
    for line in (
        "`pk` string",
        "`sk` string",  # keys are their DynamoDB text
        "`c_number_set` array<decimal(38,9)>",
        "`c_binary` binary",
        "`write_timestamp_micros` bigint",
        "`item_raw` string",
    ):
        assert line in sql


def test_a_window_reads_its_day_partition_and_write_times_within_it() -> None:
    sql = merge_window_sql(table(), Window(T, T + 60_000_000))
    assert 'FROM "exports_db"."orders_2026_changes"' in sql
    assert "\"window_day\" = '2026-01-05'" in sql
    assert f">= {T}" in sql and f"< {T + 60_000_000}" in sql
    assert 'ON "target"."pk" = "source"."pk" AND "target"."sk" = "source"."sk"' in sql
    # Only strictly newer records change or delete a row; a delete inserts nothing.
    newer = '"source"."write_timestamp_micros" > "target"."write_timestamp_micros"'
    assert f'WHEN MATCHED AND "source"."removed" AND {newer} THEN DELETE' in sql
    assert f'WHEN MATCHED AND NOT "source"."removed" AND {newer} THEN UPDATE' in sql
    assert 'WHEN NOT MATCHED AND NOT "source"."removed" THEN INSERT' in sql
    assert "deleted" not in sql  # no tombstone column


def test_the_baseline_replacement_is_one_merge_over_the_baseline_and_absent_keys() -> None:
    sql = replace_from_baseline_sql(table(), T)
    assert sql.count("MERGE INTO") == 1 and "UNION ALL" in sql
    assert 'FROM "exports_db"."orders_2026_latest_raw"' in sql
    assert f"CAST({T - 1} AS BIGINT)" in sql  # a write at exactly T belongs to the first window
    assert "NOT EXISTS" in sql


def test_a_declared_key_is_not_a_second_column_and_reserved_names_are_refused() -> None:
    same = table(columns=(Column("PK", "number"), Column("qty", "number")))
    assert same.output_names == ["pk", "sk", "qty", "write_timestamp_micros", "item_raw"]
    with pytest.raises(ValueError, match="uses a column of that name"):
        table(columns=(Column("Item_Raw", "string"),))
    with pytest.raises(ValueError, match="uses a column of that name"):
        table(key_columns=(Column("removed", "string"),))


def test_python_rendering_fills_every_marker() -> None:
    for sql in every_statement():
        assert "<<" not in sql and "{name}" not in sql and "{attr}" not in sql


def test_windows_must_be_ordered_and_locations_folders() -> None:
    with pytest.raises(ValueError):
        Window(T, T)
    with pytest.raises(ValueError, match="folder"):
        table(location="s3://bucket/current")
