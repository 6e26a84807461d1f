"""Athena SQL that keeps ``<table>_current``, an Apache Iceberg table holding one row
per item of a table, as templates filled in at run time.

Three statements, each one Iceberg commit:

``create``
    ``CREATE TABLE IF NOT EXISTS`` with ``'table_type'='ICEBERG'``: the key attributes
    and declared columns as typed columns, then ``write_timestamp_micros`` and
    ``item_raw`` (every attribute as typed JSON text, so nothing undeclared is lost);
``replace``
    after a full export or a baseline has COMPLETED and ``<table>_latest_raw`` points at
    it: one ``MERGE`` whose source is that export's items plus, flagged ``removed``, the
    rows whose key it lacks, so the table becomes the export in one commit;
``merge``
    after a window has COMPLETED and before the watermark moves: one ``MERGE`` of the
    window's net changes (``<table>_changes``, the window's day partition, write times
    in ``[ExportFromTime, ExportToTime)``), the latest record per key winning. A key
    whose latest record has no ``NewImage`` is DELETEd; there are no tombstones.

**Why a MERGE is applied once and in order.** Every row carries the write time of what
it holds (``Metadata.WriteTimestampMicros`` of a window's record; one microsecond
before the export time for an exported item, so a write at exactly the baseline time,
which the first window holds, wins). A row changes, or goes, only for a strictly newer
record, so applying the same window again changes nothing, and a NOT MATCHED delete
inserts nothing. What the stamps cannot do without tombstones is keep an *older*
window from bringing back an item a *newer* one deleted; the protocol of the table
export machine rules that out instead: (1) one execution per table holds the lock
while it merges; (2) each window starts at the watermark, and the window's MERGE
runs before ``RecordWindow`` moves the watermark, with a write conditioned on the lock
and on the watermark the window started from; (3) so the windows merged are
``[w0, w1)``, ``[w1, w2)``, ... in order, and a run that dies after its MERGE but
before ``RecordWindow`` leaves the watermark at the start of that window: the next
run exports a window from the same start (perhaps reaching further) and merges it
again, which the stamps make harmless. A window is therefore never merged after a
later one. A baseline replaces the table, removing rows older than it whose key it
lacks.

**Run-time columns.** The table export machine is one definition for every table, so
the key attributes (from DescribeTable) and declared columns (from the execution
input's ``columns``) are known only at run time. This module is the single source of
the text: ``templates`` gives statement skeletons with ``<<part>>`` and ``<<value>>``
markers and, per part, a template per column *kind* (``key``, or a declared column's
lowercase DynamoDB descriptor) with ``{name}`` (the lowercase column name), ``{attr}``
(the attribute's name) and ``{d}`` (a key's ``AttributeType``). Filling in means: for
each part, fill its template for each column that has one (keys first), join them with
the part's ``sep``, and put the result, and each value, in place of its marker. The
machine does exactly that in JSONata (``states.py``); ``render`` does it here, and the
tests compare the two character for character. Keys are typed as the DynamoDB text of
the key (``string`` for S, N and B): that keeps one key template and compares keys
exactly (a number key read as a decimal could round two keys into one). Declared
columns are read by their Glue field name, which is all the input carries.

Values are read from the SerDe's ``map<string,string>`` columns (``keys``,
``newimage`` of ``<table>_changes``; ``item`` of ``<table>_latest_raw``), where each
attribute is its typed JSON text, e.g. ``{"N":"2"}``; an attribute held under another
type reads as NULL, as in ``catalog/schema.py``. Statements are plain text for Athena
engine v3 (Trino); the DDL uses Hive's backtick quoting, DML double quotes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from table_exporter.catalog.schema import (
    DECIMAL,
    DYNAMO_DESCRIPTOR,
    ITEM_RAW,
    WRITE_TIMESTAMP,
    Column,
    check_columns,
    glue_table_name,
    quote_identifier,
    sql_string,
)
from table_exporter.catalog.tables import CHANGES_SUFFIX, LATEST_RAW_SUFFIX

CURRENT_SUFFIX = "_current"
BASELINE_SUFFIX = LATEST_RAW_SUFFIX
"""The export's items: ``<table>_latest_raw`` points at the newest full export's (or
baseline's) ``data/`` folder once it has COMPLETED (``catalog/tables.py``)."""
SOURCE_SUFFIXES = (CURRENT_SUFFIX, CHANGES_SUFFIX, BASELINE_SUFFIX)
"""The Glue tables the statements read (``<table>_current`` is also written)."""

TABLE_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("table_type", "ICEBERG"),
    ("format", "parquet"),
    ("write_compression", "zstd"),
)
"""Athena makes an Iceberg table only with ``'table_type'='ICEBERG'`` ("Create Iceberg
tables"); Parquet with zstd is Athena's default for Iceberg, stated so it stays so."""

EXTRA_COLUMNS = (WRITE_TIMESTAMP, ITEM_RAW)
"""Columns the statements add after the attribute columns."""
RESERVED = (*EXTRA_COLUMNS, "removed", "change_rank")
"""Names no column may take: the statements use them themselves."""
KEY_TYPES = ("S", "N", "B")
"""Key ``AttributeType`` values DescribeTable reports."""
KEY_NAME_RULE = "^[A-Za-z0-9_]+$"
"""What a key attribute's name must match to be a column (Glue and SQL identifiers)."""

KEY = "key"
NAME, ATTR, DESCRIPTOR = "{name}", "{attr}", "{d}"

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
KINDS: dict[str, str] = {d.lower(): t for t, d in DYNAMO_DESCRIPTOR.items()}
"""Declared column kind (its descriptor, lowercase, as in a Glue member) -> column type."""


def _ddl(name: str) -> str:
    """Hive DDL quotes identifiers with backticks."""
    return "`" + name.replace("`", "``") + "`"


_TARGET, _SOURCE, _PRESENT = quote_identifier("target"), quote_identifier("source"), quote_identifier("present")
_STAMP, _RAW, _REMOVED = quote_identifier(WRITE_TIMESTAMP), quote_identifier(ITEM_RAW), quote_identifier("removed")
_COLUMN = quote_identifier(NAME)


def _raw(image: str) -> str:
    return f"element_at({quote_identifier(image)}, '{ATTR}')"


def _key_value(image: str) -> str:
    return f"json_extract_scalar({_raw(image)}, '$.{DESCRIPTOR}')"


def _declared_value(kind: str, image: str) -> str:
    column_type = KINDS[kind]
    return _VALUE[column_type].format(raw=_raw(image), path=f"'$.{kind.upper()}'")


def _per_kind(key: str | None, declared: Any, sep: str) -> dict[str, str]:
    """One part: a template for keys (None: keys have none) and per declared kind
    (``declared(kind)``, or None: declared columns have none)."""
    part: dict[str, str] = {"sep": sep}
    if key is not None:
        part[KEY] = key
    if declared is not None:
        part.update({kind: declared(kind) for kind in KINDS})
    return part


_INDENT = "    "
PARTS: dict[str, dict[str, str]] = {
    "ddl": _per_kind(
        f"  {_ddl(NAME)} string", lambda k: f"  {_ddl(NAME)} {_DDL_TYPE[KINDS[k]]}", ",\n"
    ),
    "window_values": _per_kind(
        f"{_INDENT * 2}{_key_value('keys')} AS {_COLUMN}",
        lambda k: f"{_INDENT * 2}{_declared_value(k, 'newimage')} AS {_COLUMN}",
        ",\n",
    ),
    "export_values": _per_kind(
        f"{_INDENT}{_key_value('item')} AS {_COLUMN}",
        lambda k: f"{_INDENT}{_declared_value(k, 'item')} AS {_COLUMN}",
        ",\n",
    ),
    "absent_values": _per_kind(
        f"{_INDENT}{_PRESENT}.{_COLUMN} AS {_COLUMN}",
        lambda k: f"{_INDENT}CAST(NULL AS {_DML_TYPE[KINDS[k]]}) AS {_COLUMN}",
        ",\n",
    ),
    "in_export": _per_kind(f"{_key_value('item')} = {_PRESENT}.{_COLUMN}", None, " AND "),
    "on": _per_kind(f"{_TARGET}.{_COLUMN} = {_SOURCE}.{_COLUMN}", None, " AND "),
    "key_names": _per_kind(_COLUMN, None, ", "),
    # Declared columns only, each ending in its separator: there may be none.
    "update": _per_kind(None, lambda k: f"{_COLUMN} = {_SOURCE}.{_COLUMN},\n{_INDENT}", ""),
    "names": _per_kind(_COLUMN, lambda k: _COLUMN, ", "),
    "values": _per_kind(f"{_SOURCE}.{_COLUMN}", lambda k: f"{_SOURCE}.{_COLUMN}", ", "),
}
"""Per part: ``sep`` and a template per column kind that takes part."""

_NEWER = f"{_SOURCE}.{_STAMP} > {_TARGET}.{_STAMP}"
_APPLY = (
    "ON <<on>>\n"
    f"WHEN MATCHED AND {_SOURCE}.{_REMOVED} AND {_NEWER} THEN DELETE\n"
    f"WHEN MATCHED AND NOT {_SOURCE}.{_REMOVED} AND {_NEWER} THEN UPDATE SET\n"
    f"{_INDENT}<<update>>{_STAMP} = {_SOURCE}.{_STAMP},\n"
    f"{_INDENT}{_RAW} = {_SOURCE}.{_RAW}\n"
    f"WHEN NOT MATCHED AND NOT {_SOURCE}.{_REMOVED} THEN INSERT (<<names>>, {_STAMP}, {_RAW})\n"
    f"  VALUES (<<values>>, {_SOURCE}.{_STAMP}, {_SOURCE}.{_RAW})"
)


def _item_json(image: str) -> str:
    """Every attribute of the image as one JSON object text (NULL without an image)."""
    return f"json_format(CAST(transform_values({quote_identifier(image)}, (k, v) -> json_parse(v)) AS JSON))"


def _glue(database: str, suffix: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier('<<table>>' + suffix)}"


def templates(database: str) -> dict[str, Any]:
    """The statement skeletons (for ``database``) and ``PARTS``: JSON the machine
    carries, and ``render`` fills in. Markers: ``<<table>>`` (the Glue name of the
    DynamoDB table), ``<<location>>`` (already a SQL string's content), ``<<stamp>>``
    (the export's stamp), ``<<day>>``, ``<<from>>``, ``<<to>>`` (a window's)."""
    properties = ", ".join(f"{sql_string(k)}={sql_string(v)}" for k, v in TABLE_PROPERTIES)
    create = (
        f"CREATE TABLE IF NOT EXISTS {_ddl(database)}.{_ddl('<<table>>' + CURRENT_SUFFIX)} (\n"
        "<<ddl>>,\n"
        f"  {_ddl(WRITE_TIMESTAMP)} bigint,\n"
        f"  {_ddl(ITEM_RAW)} string\n"
        ")\n"
        "LOCATION '<<location>>'\n"
        f"TBLPROPERTIES ({properties})"
    )
    current, raw = _glue(database, CURRENT_SUFFIX), _glue(database, BASELINE_SUFFIX)
    stamp = "CAST(<<stamp>> AS BIGINT)"
    replace = (
        f"MERGE INTO {current} AS {_TARGET}\n"
        "USING (\n"
        "  SELECT\n"
        "<<export_values>>,\n"
        f"{_INDENT}{stamp} AS {_STAMP},\n"
        f"{_INDENT}{_item_json('item')} AS {_RAW},\n"
        f"{_INDENT}FALSE AS {_REMOVED}\n"
        f"  FROM {raw}\n"
        "  UNION ALL\n"
        "  SELECT\n"
        "<<absent_values>>,\n"
        f"{_INDENT}{stamp} AS {_STAMP},\n"
        f"{_INDENT}CAST(NULL AS VARCHAR) AS {_RAW},\n"
        f"{_INDENT}TRUE AS {_REMOVED}\n"
        f"  FROM {current} AS {_PRESENT}\n"
        f"  WHERE NOT EXISTS (SELECT 1 FROM {raw} WHERE <<in_export>>)\n"
        f") AS {_SOURCE}\n" + _APPLY
    )
    written = f"CAST({quote_identifier('metadata')}.{quote_identifier('writetimestampmicros')}.{quote_identifier('n')} AS BIGINT)"
    rank = quote_identifier("change_rank")
    merge = (
        f"MERGE INTO {current} AS {_TARGET}\n"
        "USING (\n"
        f"  SELECT <<names>>, {_STAMP}, {_RAW}, {_REMOVED}\n"
        "  FROM (\n"
        f"    SELECT *, row_number() OVER (PARTITION BY <<key_names>> ORDER BY {_STAMP} DESC) AS {rank}\n"
        "    FROM (\n"
        "      SELECT\n"
        "<<window_values>>,\n"
        f"{_INDENT * 2}{written} AS {_STAMP},\n"
        f"{_INDENT * 2}{quote_identifier('newimage')} IS NULL AS {_REMOVED},\n"
        f"{_INDENT * 2}{_item_json('newimage')} AS {_RAW}\n"
        f"      FROM {_glue(database, CHANGES_SUFFIX)}\n"
        f"      WHERE {quote_identifier('window_day')} = '<<day>>'\n"
        f"        AND {written} >= <<from>>\n"
        f"        AND {written} < <<to>>\n"
        '    ) AS "records"\n'
        '  ) AS "ranked"\n'
        f"  WHERE {rank} = 1\n"
        f") AS {_SOURCE}\n" + _APPLY
    )
    return {"parts": PARTS, "create": create, "replace": replace, "merge": merge}


def render(skeleton: str, columns: Sequence[Mapping[str, str]], values: Mapping[str, str]) -> str:
    """Fill a skeleton in, as the machine's JSONata does: values first, then each part."""
    text = skeleton
    for marker, value in values.items():
        text = value.join(text.split(f"<<{marker}>>"))
    for part, kinds in PARTS.items():
        filled = [
            kinds[c["kind"]]
            .replace(NAME, c["name"])
            .replace(ATTR, c["attr"])
            .replace(DESCRIPTOR, c["d"])
            for c in columns
            if c["kind"] in kinds
        ]
        text = kinds["sep"].join(filled).join(text.split(f"<<{part}>>"))
    return text


# -- the statements for one table, in Python ------------------------------------------------


@dataclass(frozen=True)
class CurrentTable:
    """What the statements need to know about one table."""

    database: str
    """The exporter's Glue database."""
    table_name: str
    """The DynamoDB table's name; Glue names derive from it (``glue_table_name``)."""
    key_columns: tuple[Column, ...]
    """Hash key, then range key (``schema.key_columns_of`` on DescribeTable)."""
    location: str
    """The Iceberg table's S3 folder, ``s3://<bucket>/<table prefix>/current/``: apart
    from every folder another Glue table reads."""
    columns: tuple[Column, ...] = field(default=())
    """Declared columns (``schema.columns_from``)."""

    def __post_init__(self) -> None:
        if not (self.location.startswith("s3://") and self.location.endswith("/")):
            raise ValueError(f"location {self.location!r}: must be an s3:// folder ending in '/'")
        if not 1 <= len(self.key_columns) <= 2:
            raise ValueError("a table has a hash key and at most one range key")
        check_columns(self.key_columns)
        check_columns(self.columns)  # a declared key column gives way to the key
        for column in (*self.key_columns, *self.columns):
            if column.field in RESERVED:
                raise ValueError(
                    f"column {column.name!r}: the current table uses a column of that name itself"
                )
        for key in self.key_columns:
            if key.descriptor not in KEY_TYPES:
                raise ValueError(f"key column {key.name!r}: keys are S, N or B")

    @property
    def column_specs(self) -> list[dict[str, str]]:
        """Keys, then declared columns that are not keys, as the machine lists them."""
        keys = [
            {"name": k.field, "attr": k.name, "kind": KEY, "d": k.descriptor}
            for k in self.key_columns
        ]
        taken = {k.field for k in self.key_columns}
        declared = [
            {"name": c.field, "attr": c.field, "kind": c.descriptor.lower(), "d": ""}
            for c in self.columns
            if c.field not in taken
        ]
        return keys + declared

    @property
    def output_names(self) -> list[str]:
        """Every column of the current table, in order."""
        return [c["name"] for c in self.column_specs] + list(EXTRA_COLUMNS)

    def _render(self, statement: str, **values: str) -> str:
        skeleton = templates(self.database)[statement]
        table = glue_table_name(self.table_name)
        location = self.location.replace("'", "''")
        return render(skeleton, self.column_specs, {"table": table, "location": location, **values})


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


def create_sql(table: CurrentTable) -> str:
    """Create ``<table>_current`` unless it exists, with the LOCATION its data and
    metadata go to."""
    return table._render("create")


def replace_sql(table: CurrentTable, stamp_micros: int) -> str:
    """Make the table the export ``<table>_latest_raw`` points at, in one commit; its
    items carry ``stamp_micros``: rows older than that are updated or, when the export
    lacks their key, deleted; rows newer stay."""
    return table._render("replace", stamp=str(stamp_micros))


def replace_from_baseline_sql(table: CurrentTable, baseline_micros: int) -> str:
    """``replace_sql`` for an export taken at ``baseline_micros``: its items are stamped
    one microsecond earlier, so a write at exactly that time (the next window's) wins."""
    return replace_sql(table, baseline_micros - 1)


def merge_window_sql(table: CurrentTable, window: Window) -> str:
    """Apply one COMPLETED window: the latest record per key wins over an older row, a
    record without a new image deletes the row, an unseen key is inserted."""
    return table._render(
        "merge", day=window.day, **{"from": str(window.from_micros), "to": str(window.to_micros)}
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
