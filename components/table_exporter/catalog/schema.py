"""One column mapping for DynamoDB JSON exports, read by Athena and by DuckDB alike.

A ``Column`` names an attribute and the DynamoDB type it is read as. From the same
columns this module writes the Glue table schema Athena reads an export through (the
OpenX JSON SerDe over ``Item``, or over ``Keys``/``NewImage``/``OldImage`` for
incremental exports) and the SQL that turns those members into typed values in Athena
and in DuckDB, so both engines give the same columns with the same types:

- ``string`` (``S``): ``struct<s:string>``, read as text;
- ``number`` (``N``): ``struct<n:string>``, read as ``DECIMAL(38, 9)``;
- ``boolean`` (``BOOL``): ``struct<bool:boolean>``, read as a boolean;
- ``list`` (``L``) and ``map`` (``M``): ``struct<l:string>`` and ``struct<m:string>``,
  read as JSON (the SerDe hands nested JSON to a string as its text; the values inside
  keep their DynamoDB type descriptors);
- ``string_set`` (``SS``): ``struct<ss:array<string>>``, read as an array of text;
- ``number_set`` (``NS``): ``struct<ns:array<string>>``, read as an array of decimals;
- ``binary`` (``B``): ``struct<b:string>``, base64 text read as bytes.

An item without the attribute, or with it under another type, reads as NULL. Numbers
are cast to ``DECIMAL(38, 9)``: more than 9 decimals are rounded and more than 29
integer digits fail the query, in both engines.

Standard library only: the component builds Glue members from here at deploy time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from table_exporter.catalog.tables import json_storage

ColumnType = Literal[
    "string", "number", "boolean", "list", "map", "string_set", "number_set", "binary"
]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)

DYNAMO_DESCRIPTOR: dict[str, str] = {
    "string": "S",
    "number": "N",
    "boolean": "BOOL",
    "list": "L",
    "map": "M",
    "string_set": "SS",
    "number_set": "NS",
    "binary": "B",
}
"""The type descriptor each column type is stored under in DynamoDB JSON."""

KEY_ATTRIBUTE_TYPES: dict[str, ColumnType] = {"S": "string", "N": "number", "B": "binary"}
"""Column type of each key ``AttributeType`` DescribeTable can report."""

DECIMAL = "DECIMAL(38, 9)"
"""What numbers are cast to: the widest exact type both engines share."""

MAX_NAME_LENGTH = 255
RAW_TABLE_TYPE = "map<string,string>"

ITEM_RAW = "item_raw"
WRITE_TIMESTAMP = "write_timestamp_micros"
DELETED = "deleted"
NEW_IMAGE_RAW = "new_image_raw"
OLD_IMAGE_RAW = "old_image_raw"
_RANK = "change_rank"

_NAME = re.compile(r"[A-Za-z0-9_]+")
_GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")
_NOT_GLUE = re.compile(r"[^a-z0-9_]")


# -- columns ---------------------------------------------------------------------------


def _check_name(name: str) -> None:
    """Glue struct field names are plain identifiers; anything else stays in ``_raw``."""
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise ValueError(
            f"column {name!r}: attribute names are 1-{MAX_NAME_LENGTH} characters long"
        )
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"column {name!r}: only letters, digits and underscores can be a Glue struct "
            "field name (query other attributes through the raw table)"
        )


@dataclass(frozen=True)
class Column:
    """A top-level attribute, read as one DynamoDB type."""

    name: str
    type: ColumnType

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.type not in COLUMN_TYPES:
            raise ValueError(
                f"column {self.name!r}: type {self.type!r} is not one of {', '.join(COLUMN_TYPES)}"
            )

    @property
    def field(self) -> str:
        """The Glue field name: the SerDe matches JSON keys case-insensitively, Glue
        keeps names lowercase."""
        return self.name.lower()

    @property
    def descriptor(self) -> str:
        return DYNAMO_DESCRIPTOR[self.type]


def check_columns(columns: Iterable[Column]) -> tuple[Column, ...]:
    """Columns whose names stay distinct once lowercased, as Glue and the SerDe see them."""
    checked = tuple(columns)
    by_field: dict[str, Column] = {}
    for column in checked:
        other = by_field.setdefault(column.field, column)
        if other is column:
            continue
        if other.name == column.name:
            raise ValueError(f"column {column.name!r}: declared more than once")
        raise ValueError(
            f"column {column.name!r}: differs only by case from column {other.name!r} "
            "(Glue and the JSON SerDe match field names case-insensitively)"
        )
    return checked


def columns_from(declared: Mapping[str, str]) -> tuple[Column, ...]:
    """Columns from settings' ``{name: type}``, checked as a whole."""
    return check_columns(Column(name, kind) for name, kind in declared.items())  # type: ignore[arg-type]


def key_columns_of(table: Mapping[str, Any]) -> tuple[Column, ...]:
    """The key columns (hash, then range) of a DescribeTable ``Table``: every item has
    them, so they are worth typing without being declared."""
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    schema = sorted(table["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    return check_columns(
        Column(k["AttributeName"], KEY_ATTRIBUTE_TYPES[types[k["AttributeName"]]]) for k in schema
    )


def with_keys(key_columns: Sequence[Column], columns: Sequence[Column]) -> tuple[Column, ...]:
    """Key columns first, then the declared ones not already keys: declaring a key again
    is harmless, declaring it as another type is a mistake."""
    keys = {k.field: k for k in check_columns(key_columns)}
    if not keys:
        raise ValueError("at least one key column is needed")
    for column in check_columns(columns):
        key = keys.get(column.field)
        if key is None or key == column:
            continue
        if key.name != column.name:
            raise ValueError(
                f"column {column.name!r}: differs only by case from key column {key.name!r} "
                "(Glue and the JSON SerDe match field names case-insensitively)"
            )
        raise ValueError(
            f"column {column.name!r}: declared as {column.type} but the key attribute is {key.type}"
        )
    return check_columns([*keys.values(), *(c for c in columns if c.field not in keys)])


def _check_not_reserved(columns: Sequence[Column], reserved: Iterable[str]) -> None:
    """Columns the generated SQL adds itself must not be shadowed by an attribute."""
    taken = {r.lower() for r in reserved}
    for column in columns:
        if column.field in taken:
            raise ValueError(f"column {column.name!r}: the query adds a column of that name itself")


# -- Glue ------------------------------------------------------------------------------


def _glue_value_type(column: Column) -> str:
    if column.type == "boolean":
        return "boolean"
    if column.type in ("string_set", "number_set"):
        return "array<string>"
    return "string"


def glue_member(column: Column) -> str:
    """The member of ``item``'s struct for one column. Numbers stay strings (DynamoDB's
    decimal text) and lists and maps are JSON text, for the query to convert."""
    return f"{column.field}:struct<{column.descriptor.lower()}:{_glue_value_type(column)}>"


def glue_item_type(columns: Sequence[Column]) -> str:
    """The struct type of an item (or image) holding the columns."""
    checked = check_columns(columns)
    if not checked:
        raise ValueError("a Glue struct needs at least one column")
    return "struct<" + ",".join(glue_member(c) for c in checked) + ">"


def glue_columns(columns: Sequence[Column]) -> list[dict[str, str]]:
    """``StorageDescriptor.Columns`` of the typed table over a full export."""
    return [{"Name": "item", "Type": glue_item_type(columns)}]


def glue_raw_columns() -> list[dict[str, str]]:
    """``StorageDescriptor.Columns`` of the raw table: every attribute is reachable, as
    its typed JSON text, whatever its name or type."""
    return [{"Name": "item", "Type": RAW_TABLE_TYPE}]


def glue_table_name(table_name: str, suffix: str = "") -> str:
    """A Glue table name for a DynamoDB table: Athena lowercases names and unquoted SQL
    needs ``[a-z0-9_]``. The table part is shortened so the suffix survives."""
    base, tail = (_NOT_GLUE.sub("_", part.lower()) for part in (table_name, suffix))
    if not base:
        raise ValueError("table name must not be empty")
    if len(tail) >= MAX_NAME_LENGTH:
        raise ValueError(f"suffix {suffix!r}: leaves no room for the table name")
    return base[: MAX_NAME_LENGTH - len(tail)] + tail


def _table_input(
    name: str,
    location: str,
    storage_columns: list[dict[str, str]],
    parameters: Mapping[str, str] | None,
) -> dict[str, Any]:
    """A Glue ``TableInput`` for gzipped JSON lines read by the OpenX SerDe."""
    if not _GLUE_NAME.fullmatch(name):
        raise ValueError(
            f"Glue table name {name!r}: must be 1-255 of a-z 0-9 _ (see glue_table_name)"
        )
    if not (location.startswith("s3://") and location.endswith("/")):
        raise ValueError(
            f"location {location!r}: must be an s3:// folder ending in '/' "
            "(without it Athena also reads neighbouring keys)"
        )
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        # The format parameters come last: the SerDe below depends on them.
        "Parameters": {**(parameters or {}), "classification": "json", "compressionType": "gzip"},
        "StorageDescriptor": json_storage(storage_columns, location),
    }


def glue_table_input(
    name: str,
    location: str,
    columns: Sequence[Column],
    *,
    raw: bool = False,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``TableInput`` of a typed (or, with ``raw``, untyped) table over a full
    export's ``data/`` folder, as CreateTable and UpdateTable take it."""
    storage = glue_raw_columns() if raw else glue_columns(columns)
    return _table_input(name, location, storage, parameters)


# -- SQL shared by both engines ----------------------------------------------------------


def quote_identifier(name: str) -> str:
    """A double-quoted SQL identifier: attribute names may be keywords (``date``)."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _select(expressions: Sequence[tuple[str, str]], source: str) -> str:
    """``SELECT expression AS alias, ... FROM source``, one expression a line."""
    lines = ",\n".join(f"  {expr} AS {quote_identifier(alias)}" for expr, alias in expressions)
    return f"SELECT\n{lines}\nFROM {source}"


def _indent(sql: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in sql.splitlines())


def _current_state(changes: str, key_columns: Sequence[Column], outputs: Sequence[str]) -> str:
    """The newest change per key, unless it deleted the item. ``row_number`` rather than
    DuckDB's ``QUALIFY`` keeps the statement the same in Athena."""
    keys = ", ".join(quote_identifier(k.name) for k in key_columns)
    selected = ", ".join(quote_identifier(name) for name in outputs)
    rank = (
        f"row_number() OVER (PARTITION BY {keys} "
        f"ORDER BY {quote_identifier(WRITE_TIMESTAMP)} DESC) AS {quote_identifier(_RANK)}"
    )
    return (
        f"SELECT {selected}\n"
        "FROM (\n"
        f"  SELECT *, {rank}\n"
        "  FROM (\n"
        f"{_indent(changes)}\n"
        "  ) AS changes\n"
        ") AS ranked\n"
        f"WHERE {quote_identifier(_RANK)} = 1 AND NOT {quote_identifier(DELETED)}"
    )


def _union(first: str, second: str | None) -> str:
    return first if second is None else f"{first}\nUNION ALL\n{second}"


# -- Athena ----------------------------------------------------------------------------

_ATHENA_VALUE = {
    "string": "{}",
    "number": f"CAST({{}} AS {DECIMAL})",
    "boolean": "{}",
    "list": "json_parse({})",
    "map": "json_parse({})",
    "string_set": "{}",
    "number_set": f"TRANSFORM({{}}, x -> CAST(x AS {DECIMAL}))",
    "binary": "from_base64({})",
}


def athena_value(column: Column, root: str = "item") -> str:
    """The typed value of a column read from the struct column ``root``."""
    member = ".".join(
        quote_identifier(part) for part in (root, column.field, column.descriptor.lower())
    )
    return _ATHENA_VALUE[column.type].format(member)


def _athena_source(source: str) -> str:
    """A possibly database-qualified Glue table name, each part quoted."""
    return ".".join(quote_identifier(part) for part in source.split("."))


def athena_select(columns: Sequence[Column], source: str) -> str:
    """Typed columns from a typed Glue table (``glue_columns``); ``source`` is
    ``table`` or ``database.table``."""
    checked = check_columns(columns)
    return _select([(athena_value(c), c.name) for c in checked], _athena_source(source))


# -- DuckDB ----------------------------------------------------------------------------

_DUCKDB_VALUE = {
    "string": "{text}",
    "number": f"CAST({{text}} AS {DECIMAL})",
    "boolean": "CAST({text} AS BOOLEAN)",
    "list": "{json}",
    "map": "{json}",
    "string_set": "CAST({json} AS VARCHAR[])",
    "number_set": f"CAST(CAST({{json}} AS VARCHAR[]) AS {DECIMAL}[])",
    "binary": "from_base64({text})",
}


def duckdb_value(column: Column, root: str = "Item") -> str:
    """The typed value of a column read from the JSON column ``root``. JSON keys are
    case-sensitive in DuckDB, so the attribute's own spelling is used."""
    attribute = f"{root}->{sql_string(column.name)}"
    descriptor = sql_string(column.descriptor)
    return _DUCKDB_VALUE[column.type].format(
        json=f"{attribute}->{descriptor}", text=f"{attribute}->>{descriptor}"
    )


def duckdb_read_json(files_glob: str, fields: Sequence[str]) -> str:
    """``read_json`` over gzipped JSON lines keeping each top-level field as JSON: a
    schema inferred from a sample would differ between exports."""
    columns = ", ".join(f"{sql_string(f)}: 'JSON'" for f in fields)
    return (
        f"read_json({sql_string(files_glob)}, format='newline_delimited', "
        f"compression='gzip', columns={{{columns}}})"
    )


def duckdb_select(columns: Sequence[Column], files_glob: str) -> str:
    """Typed columns, plus the whole item as ``item_raw``, from full export files."""
    checked = check_columns(columns)
    _check_not_reserved(checked, (ITEM_RAW,))
    return _select(
        [*((duckdb_value(c), c.name) for c in checked), ("Item", ITEM_RAW)],
        duckdb_read_json(files_glob, ["Item"]),
    )


_CHANGE_FIELDS = ("Metadata", "Keys", "NewImage", "OldImage")


def _duckdb_change_expressions(
    key_columns: Sequence[Column], columns: Sequence[Column]
) -> list[tuple[str, str]]:
    image = with_keys(key_columns, columns)
    _check_not_reserved(image, (WRITE_TIMESTAMP, DELETED, _RANK, ITEM_RAW))
    keys = {k.field for k in key_columns}
    return [
        ("CAST(Metadata->'WriteTimestampMicros'->>'N' AS BIGINT)", WRITE_TIMESTAMP),
        ("NewImage IS NULL", DELETED),
        *((duckdb_value(k, "Keys"), k.name) for k in key_columns),
        *((duckdb_value(c, "NewImage"), c.name) for c in image if c.field not in keys),
    ]


def duckdb_changes_select(
    key_columns: Sequence[Column], columns: Sequence[Column], files_glob: str
) -> str:
    """One row per change from incremental export files: when, whether it deleted, keys,
    new values, and both images as JSON."""
    _check_not_reserved(with_keys(key_columns, columns), (NEW_IMAGE_RAW, OLD_IMAGE_RAW))
    return _select(
        [
            *_duckdb_change_expressions(key_columns, columns),
            ("NewImage", NEW_IMAGE_RAW),
            ("OldImage", OLD_IMAGE_RAW),
        ],
        duckdb_read_json(files_glob, _CHANGE_FIELDS),
    )


def duckdb_current_state_sql(
    key_columns: Sequence[Column],
    columns: Sequence[Column],
    files_glob: str,
    *,
    baseline_glob: str | None = None,
) -> str:
    """The items as of the newest change (latest write per key, deletes dropped) over
    local incremental files, starting from a full export when given; the result has
    ``duckdb_select``'s columns (keys first), so a replayed chain compares with a full
    export. Athena gets the same rule from the saved query in ``catalog.py``."""
    changes = _select(
        [*_duckdb_change_expressions(key_columns, columns), ("NewImage", ITEM_RAW)],
        duckdb_read_json(files_glob, _CHANGE_FIELDS),
    )
    image = with_keys(key_columns, columns)
    baseline = None
    if baseline_glob is not None:
        baseline = _select(
            [
                ("CAST(0 AS BIGINT)", WRITE_TIMESTAMP),
                ("FALSE", DELETED),
                *((duckdb_value(c), c.name) for c in image),
                ("Item", ITEM_RAW),
            ],
            duckdb_read_json(baseline_glob, ["Item"]),
        )
    outputs = [*(c.name for c in image), ITEM_RAW]
    return _current_state(_union(changes, baseline), key_columns, outputs)
