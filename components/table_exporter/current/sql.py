"""Athena SQL that keeps ``<table>_current``, an Apache Iceberg table holding one row
per item of an incremental table, as plain text built from plain data.

Three statements, each one Iceberg commit, run by the table export machine while it
holds the table's lock:

``create_sql``
    ``CREATE TABLE IF NOT EXISTS`` with ``'table_type'='ICEBERG'``: the key attributes
    and declared columns as typed columns, then ``write_timestamp_micros``,
    ``deleted`` and ``item_raw`` (every attribute as typed JSON text, so nothing
    undeclared is lost);
``replace_from_baseline_sql``
    after a baseline (the first, or a re-baseline after a gap) has COMPLETED: one
    ``MERGE`` whose source is the baseline's items (``<table>_latest_raw``) plus, flagged
    as deletes, the rows whose key the baseline lacks, so the table becomes the baseline
    in one commit;
``merge_window_sql``
    after a window has COMPLETED and before the watermark moves: one ``MERGE`` of the
    window's net changes (``<table>_changes``, the window's day partition, write times
    in ``[ExportFromTime, ExportToTime)``), the latest record per key winning.

Why it is exactly-once in effect: every row carries the write time of what it holds
(``Metadata.WriteTimestampMicros`` for a window's record; one microsecond before the
baseline time for a baseline's item, so a write at exactly the baseline time, which the
first window holds, always wins). A row changes only for a strictly newer source
record, so applying a window again, or an older window after a newer one, changes
nothing. A window's delete keeps the key as a *tombstone* (``deleted`` true, every
other column NULL) rather than removing the row: without it an older window applied
late would bring the item back. Readers therefore filter ``NOT deleted``. A baseline
purges the tombstones and rows older than itself: records older than a baseline can no
longer be read (``<table>_changes`` follows the newest chain only), so nothing can
resurrect them.

Values are read from the SerDe's ``map<string,string>`` columns (``keys``,
``newimage`` of ``<table>_changes``; ``item`` of ``<table>_latest_raw``), where each
attribute is its typed JSON text, e.g. ``{"N":"2"}``: ``json_extract_scalar`` of the
descriptor gives the value, and an attribute held under another type reads as NULL, as
in ``catalog/schema.py``. Statements are plain text for Athena engine v3 (Trino); DDL uses
Hive's backtick quoting, DML double quotes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from table_exporter.catalog.schema import (
    DECIMAL,
    DELETED,
    ITEM_RAW,
    WRITE_TIMESTAMP,
    Column,
    check_columns,
    glue_table_name,
    quote_identifier,
    sql_string,
    with_keys,
)

CURRENT_SUFFIX = "_current"
CHANGES_SUFFIX = "_changes"
BASELINE_SUFFIX = "_latest_raw"
"""The baseline's items: ``<table>_latest_raw`` points at the newest baseline's
``data/`` folder once it has COMPLETED (``catalog/tables.py``), every attribute as typed JSON."""

TABLE_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("table_type", "ICEBERG"),
    ("format", "parquet"),
    ("write_compression", "zstd"),
)
"""Athena makes an Iceberg table only with ``'table_type'='ICEBERG'`` ("Create Iceberg
tables"); Parquet with zstd is Athena's default for Iceberg, stated so it stays so."""

EXTRA_COLUMNS = (WRITE_TIMESTAMP, DELETED, ITEM_RAW)
"""Columns the statements add after the attribute columns."""

_TARGET = quote_identifier("target")
_SOURCE = quote_identifier("source")

# Hive DDL type (CREATE TABLE) and Trino type (DML casts) of each column type.
_DDL_TYPE = {
    "string": "string",
    "number": "decimal(38,9)",
    "boolean": "boolean",
    "list": "string",
    "map": "string",
    "string_set": "array<string>",
    "number_set": "array<decimal(38,9)>",
    "binary": "binary",
}
_DML_TYPE = {
    "string": "VARCHAR",
    "number": DECIMAL,
    "boolean": "BOOLEAN",
    "list": "VARCHAR",
    "map": "VARCHAR",
    "string_set": "ARRAY(VARCHAR)",
    "number_set": f"ARRAY({DECIMAL})",
    "binary": "VARBINARY",
}
# The typed value from an attribute's typed JSON text ({raw}) at its descriptor ({path}).
_VALUE = {
    "string": "json_extract_scalar({raw}, {path})",
    "number": f"CAST(json_extract_scalar({{raw}}, {{path}}) AS {DECIMAL})",
    "boolean": "CAST(json_extract_scalar({raw}, {path}) AS BOOLEAN)",
    "list": "json_format(json_extract({raw}, {path}))",
    "map": "json_format(json_extract({raw}, {path}))",
    "string_set": "CAST(json_extract({raw}, {path}) AS ARRAY(VARCHAR))",
    "number_set": (
        f"TRANSFORM(CAST(json_extract({{raw}}, {{path}}) AS ARRAY(VARCHAR)), x -> CAST(x AS {DECIMAL}))"
    ),
    "binary": "from_base64(json_extract_scalar({raw}, {path}))",
}


@dataclass(frozen=True)
class CurrentTable:
    """What the statements need to know about one incremental table."""

    database: str
    """The exporter's Glue database."""
    table_name: str
    """The DynamoDB table's name; Glue names derive from it (``glue_table_name``)."""
    key_columns: tuple[Column, ...]
    """Hash key, then range key (``schema.key_columns_of`` on DescribeTable)."""
    location: str
    """The Iceberg table's S3 folder, e.g. ``s3://<bucket>/<prefix>/current/``: apart
    from every folder another Glue table reads."""
    columns: tuple[Column, ...] = field(default=())
    """Declared columns (``schema.columns_from``)."""

    def __post_init__(self) -> None:
        if not (self.location.startswith("s3://") and self.location.endswith("/")):
            raise ValueError(f"location {self.location!r}: must be an s3:// folder ending in '/'")
        taken = {name.lower() for name in EXTRA_COLUMNS}
        for column in self.image:
            if column.field in taken:
                raise ValueError(
                    f"column {column.name!r}: the current table adds a column of that name itself"
                )

    @property
    def image(self) -> tuple[Column, ...]:
        """Keys first, then the declared columns that are not keys."""
        return with_keys(check_columns(self.key_columns), self.columns)

    @property
    def non_keys(self) -> tuple[Column, ...]:
        keys = {k.field for k in self.key_columns}
        return tuple(c for c in self.image if c.field not in keys)

    def glue(self, suffix: str) -> str:
        """``"database"."<table><suffix>"``, quoted for DML."""
        name = glue_table_name(self.table_name, suffix)
        return f"{quote_identifier(self.database)}.{quote_identifier(name)}"

    @property
    def output_names(self) -> list[str]:
        """Every column of the current table, in order."""
        return [*(c.field for c in self.image), *EXTRA_COLUMNS]


@dataclass(frozen=True)
class Window:
    """One COMPLETED incremental export: ``[from_micros, to_micros)``."""

    from_micros: int
    to_micros: int

    def __post_init__(self) -> None:
        if not 0 <= self.from_micros < self.to_micros:
            raise ValueError("a window needs 0 <= from < to")

    @property
    def day(self) -> str:
        """The ``window_day`` partition holding the window's data files: the UTC day it
        starts on (``catalog.window_prefix``)."""
        start = dt.datetime.fromtimestamp(self.from_micros // 1_000_000, tz=dt.timezone.utc)
        return start.strftime("%Y-%m-%d")


# -- expressions -------------------------------------------------------------------------


def _ddl_identifier(name: str) -> str:
    """Hive DDL quotes identifiers with backticks."""
    return "`" + name.replace("`", "``") + "`"


def attribute_value(column: Column, image: str) -> str:
    """The typed value of ``column`` read from a ``map<string,string>`` column holding
    typed JSON text per attribute. ``element_at`` gives NULL for a missing attribute
    (a subscript would fail the query)."""
    raw = f"element_at({quote_identifier(image)}, {sql_string(column.name)})"
    return _VALUE[column.type].format(raw=raw, path=sql_string("$." + column.descriptor))


def item_json(image: str) -> str:
    """Every attribute of the image as one JSON object text (NULL without an image)."""
    return f"json_format(CAST(transform_values({quote_identifier(image)}, (k, v) -> json_parse(v)) AS JSON))"


def _select(expressions: Sequence[tuple[str, str]], source: str, where: Sequence[str] = ()) -> str:
    lines = ",\n".join(f"    {expr} AS {quote_identifier(alias)}" for expr, alias in expressions)
    text = f"  SELECT\n{lines}\n  FROM {source}"
    if where:
        text += "\n  WHERE " + "\n    AND ".join(where)
    return text


def _on(table: CurrentTable) -> str:
    return " AND ".join(
        f"{_TARGET}.{quote_identifier(k.field)} = {_SOURCE}.{quote_identifier(k.field)}"
        for k in table.key_columns
    )


def _newer() -> str:
    stamp = quote_identifier(WRITE_TIMESTAMP)
    return f"{_SOURCE}.{stamp} > {_TARGET}.{stamp}"


def _update_set(table: CurrentTable) -> str:
    names = [*(c.field for c in table.non_keys), *EXTRA_COLUMNS]
    return ",\n    ".join(f"{quote_identifier(n)} = {_SOURCE}.{quote_identifier(n)}" for n in names)


def _insert(table: CurrentTable) -> str:
    names = table.output_names
    into = ", ".join(quote_identifier(n) for n in names)
    values = ", ".join(f"{_SOURCE}.{quote_identifier(n)}" for n in names)
    return f"INSERT ({into})\n  VALUES ({values})"


# -- statements --------------------------------------------------------------------------


def create_sql(table: CurrentTable) -> str:
    """Create ``<table>_current`` unless it exists: Hive DDL, as Athena's CREATE TABLE
    for Iceberg takes it, with the LOCATION its data and metadata go to."""
    columns = [
        *((c.field, _DDL_TYPE[c.type]) for c in table.image),
        (WRITE_TIMESTAMP, "bigint"),
        (DELETED, "boolean"),
        (ITEM_RAW, "string"),
    ]
    body = ",\n".join(f"  {_ddl_identifier(name)} {kind}" for name, kind in columns)
    name = glue_table_name(table.table_name, CURRENT_SUFFIX)
    properties = ", ".join(f"{sql_string(k)}={sql_string(v)}" for k, v in TABLE_PROPERTIES)
    return (
        f"CREATE TABLE IF NOT EXISTS {_ddl_identifier(table.database)}.{_ddl_identifier(name)} (\n"
        f"{body}\n)\n"
        f"LOCATION {sql_string(table.location)}\n"
        f"TBLPROPERTIES ({properties})"
    )


def _changes_source(table: CurrentTable, window: Window) -> str:
    """The window's newest record per key (a window holds one record per item, but the
    day's data folder may also hold a retried export's files)."""
    stamp = f"CAST({quote_identifier('metadata')}.{quote_identifier('writetimestampmicros')}.{quote_identifier('n')} AS BIGINT)"
    records = _select(
        [
            *((attribute_value(k, "keys"), k.field) for k in table.key_columns),
            *((attribute_value(c, "newimage"), c.field) for c in table.non_keys),
            (stamp, WRITE_TIMESTAMP),
            (f"{quote_identifier('newimage')} IS NULL", DELETED),
            (item_json("newimage"), ITEM_RAW),
        ],
        table.glue(CHANGES_SUFFIX),
        [
            f"{quote_identifier('window_day')} = {sql_string(window.day)}",
            f"{stamp} >= {window.from_micros}",
            f"{stamp} < {window.to_micros}",
        ],
    )
    keys = ", ".join(quote_identifier(k.field) for k in table.key_columns)
    rank = quote_identifier("change_rank")
    outputs = ", ".join(quote_identifier(n) for n in table.output_names)
    return (
        f"SELECT {outputs}\n"
        "FROM (\n"
        f"  SELECT *, row_number() OVER (PARTITION BY {keys} "
        f"ORDER BY {quote_identifier(WRITE_TIMESTAMP)} DESC) AS {rank}\n"
        "  FROM (\n"
        f"{_indent(records)}\n"
        '  ) AS "records"\n'
        ') AS "ranked"\n'
        f"WHERE {rank} = 1"
    )


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def merge_window_sql(table: CurrentTable, window: Window) -> str:
    """Apply one COMPLETED window: a row changes only for a strictly newer record, a
    delete leaves a tombstone, an unseen key is inserted (a tombstone too, if the
    window deleted it: an older window applied later must not bring it back)."""
    return (
        f"MERGE INTO {table.glue(CURRENT_SUFFIX)} AS {_TARGET}\n"
        "USING (\n"
        f"{_indent(_changes_source(table, window))}\n"
        f") AS {_SOURCE}\n"
        f"ON {_on(table)}\n"
        f"WHEN MATCHED AND {_newer()} THEN UPDATE SET\n    {_update_set(table)}\n"
        f"WHEN NOT MATCHED THEN {_insert(table)}"
    )


def replace_from_baseline_sql(table: CurrentTable, baseline_micros: int) -> str:
    """Make the table the baseline taken at ``baseline_micros`` in one commit: its items
    (stamped one microsecond earlier) update older rows or are inserted; rows whose key
    it lacks, tombstones included, go if older than it. Rows newer than the baseline (a
    stale replay of this statement after later windows) stay."""
    stamp = f"CAST({baseline_micros - 1} AS BIGINT)"
    baseline = table.glue(BASELINE_SUFFIX)
    items = _select(
        [
            *((attribute_value(c, "item"), c.field) for c in table.image),
            (stamp, WRITE_TIMESTAMP),
            ("FALSE", DELETED),
            (item_json("item"), ITEM_RAW),
        ],
        baseline,
    )
    present = quote_identifier("present")
    in_baseline = " AND ".join(
        f"{attribute_value(k, 'item')} = {present}.{quote_identifier(k.field)}"
        for k in table.key_columns
    )
    absent = _select(
        [
            *((f"{present}.{quote_identifier(k.field)}", k.field) for k in table.key_columns),
            *((f"CAST(NULL AS {_DML_TYPE[c.type]})", c.field) for c in table.non_keys),
            (stamp, WRITE_TIMESTAMP),
            ("TRUE", DELETED),
            ("CAST(NULL AS VARCHAR)", ITEM_RAW),
        ],
        f"{table.glue(CURRENT_SUFFIX)} AS {present}",
        [f"NOT EXISTS (SELECT 1 FROM {baseline} WHERE {in_baseline})"],
    )
    deleted = quote_identifier(DELETED)
    return (
        f"MERGE INTO {table.glue(CURRENT_SUFFIX)} AS {_TARGET}\n"
        "USING (\n"
        f"{items}\n"
        "  UNION ALL\n"
        f"{absent}\n"
        f") AS {_SOURCE}\n"
        f"ON {_on(table)}\n"
        f"WHEN MATCHED AND {_SOURCE}.{deleted} AND {_newer()} THEN DELETE\n"
        f"WHEN MATCHED AND NOT {_SOURCE}.{deleted} AND {_newer()} THEN UPDATE SET\n"
        f"    {_update_set(table)}\n"
        f"WHEN NOT MATCHED AND NOT {_SOURCE}.{deleted} THEN {_insert(table)}"
    )


def statements(
    table: CurrentTable, *, baseline_micros: int, windows: Sequence[Window] = ()
) -> list[str]:
    """Every statement a chain needs, in the order the machine runs them: create,
    replace from the baseline, then one merge per window."""
    return [
        create_sql(table),
        replace_from_baseline_sql(table, baseline_micros),
        *(merge_window_sql(table, w) for w in windows),
    ]
