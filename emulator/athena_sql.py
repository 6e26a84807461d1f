"""An Athena that runs the SQL it is given, on top of moto's Athena, Glue and S3.

moto's Athena answers every StartQueryExecution with SUCCEEDED and no rows, whatever
the text. This module replaces that with an engine: the statement is parsed with
sqlglot in Athena's dialect (DDL in Hive's grammar, DML in Trino's, as Athena engine
v3 takes them), transpiled to DuckDB and executed. What it does, and the AWS page each
behaviour follows ("undocumented" where AWS says nothing and the module picks one):

- a statement that does not parse FAILS the query, ``StateChangeReason`` naming the
  parse error (line, column and sqlglot's description, not Athena's wording), as does
  one sqlglot can only keep as an opaque command, more than one statement, or a kind
  the emulator does not run ("QueryExecutionStatus": ``FAILED`` is terminal, with the
  reason in ``StateChangeReason``; ``AthenaError.ErrorCategory`` 2 is a user error);
- Glue tables come from moto's Glue. A table over JSON files (OpenX or Hive JSON
  SerDe) becomes a DuckDB view over the objects under its ``Location`` in moto's S3
  (gzip when the key ends in ``.gz``); every object under the location is read
  (Athena reads them all, so locations hold data files only). Top-level keys and struct
  members match Glue's names case-insensitively, a nested object read as ``string``
  is its JSON text, a malformed line is a row of NULLs with ``ignore.malformed.json``
  (OpenX SerDe documentation). Map keys keep their spelling (undocumented);
- partition projection ("Partition projection with Amazon Athena"): a ``date``
  partition key whose ``storage.location.template`` names ``${key}``; the partitions are
  the template's folders that exist, whose value parses in ``projection.<key>.format``
  (``yyyy-MM-dd`` only) and lies in ``projection.<key>.range`` (``NOW`` is the
  emulator's clock). A query's ``key = 'value'`` or ``key IN (...)`` conjuncts on the
  table prune the partitions read, so ``DataScannedInBytes`` is what Athena would scan;
- Iceberg tables ("Create Iceberg tables"): ``CREATE TABLE [IF NOT EXISTS]`` with
  ``TBLPROPERTIES ('table_type'='ICEBERG')`` and a ``LOCATION`` creates a DuckDB table,
  kept per account, region and database for as long as moto's Athena backend lives,
  and registers the table in Glue (``Parameters.table_type`` ``ICEBERG``). ``CREATE
  EXTERNAL TABLE`` for Iceberg fails with Athena's "External keyword not supported
  for table type ICEBERG" (same page); other CREATE TABLE forms are not run here;
- ``MERGE INTO`` ("MERGE INTO", Athena engine v3, Iceberg tables only): the target must
  be an Iceberg table; WHEN clauses apply in order, the first that matches wins (DuckDB
  does the same); a target row matched by more than one source row fails the query, as
  the page says ("a user error"), checked before anything is written. Each statement
  is one DuckDB transaction, as an Iceberg commit is all or nothing. INSERT, UPDATE,
  DELETE on Iceberg tables and DROP TABLE of one run too; SELECT results are kept for
  GetQueryResults;
- ``Statistics.DataScannedInBytes`` is the bytes of the S3 objects read (compressed, as
  stored); Iceberg tables live in DuckDB, not in files, and add nothing (not modelled).
  ``EngineExecutionTimeInMillis`` is DuckDB's wall-clock time ("QueryExecutionStatistics");
- queries finish inside StartQueryExecution (Athena runs them asynchronously through
  ``QUEUED`` and ``RUNNING``: "QueryExecutionStatus"); GetQueryExecution sees the end;
- Step Functions' ``arn:aws:states:::athena:startQueryExecution[.sync]`` ("Run Athena
  queries with Step Functions": StartQueryExecution supports request-response and
  ``.sync``): moto lists Athena as unsupported and cannot run ``.sync``. Here the
  request-response form returns StartQueryExecution's answer, ``.sync`` waits for the
  query and returns GetQueryExecution's answer; a query that ends FAILED or CANCELLED
  fails the task with ``States.TaskFailed`` and, as cause, that answer as JSON (as
  moto's Glue ``.sync`` does; the exact shape AWS gives is undocumented). Calls go
  through ``sfn_fidelity.validating_client``: validated, authorised as the machine's
  role.

Where sqlglot's DuckDB output differs from what Trino does, ``_duckdb_fixes`` rewrites
the tree first (each fix is tested): ``transform_values`` (no DuckDB function) and
``json_extract_scalar`` of an object or array (NULL in Trino, the JSON text in DuckDB).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from table_exporter.catalog.schema import quote_identifier

from . import clock, iam_requests
from .authorization import REGISTRY, AccessDenied, Request, current_principal

DIALECT = "athena"
"""sqlglot's Athena dialect parses Hive DDL (backticks, TBLPROPERTIES, LOCATION) and
Trino DML (MERGE INTO); ``trino`` keeps Hive-style CREATE TABLE only as an opaque
command."""
ICEBERG = "ICEBERG"
USER_ERROR = 2
"""``AthenaError.ErrorCategory``: 1 system, 2 user, 3 other ("AthenaError")."""
_JSON_SERDES = ("org.openx.data.jsonserde.JsonSerDe", "org.apache.hive.hcatalog.data.JsonSerDe")
_ATTRIBUTE = "_emulator_athena_sql"
_METADATA = "current.metadata.json"
"""Stands for an Iceberg table's newest metadata file (not written: not modelled)."""


class QueryFailed(Exception):
    """The query ends FAILED with this reason."""


@dataclass
class Outcome:
    """How one query ended."""

    state: str
    reason: str | None = None
    scanned_bytes: int = 0
    engine_millis: int = 0
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)


# -- the store: one DuckDB per account and region -------------------------------------------


@dataclass
class _Store:
    connection: duckdb.DuckDBPyConnection
    lock: threading.RLock = field(default_factory=threading.RLock)


def _store(backend: Any) -> _Store:
    """The DuckDB of moto's Athena backend (one per account and region); it goes when
    the backend goes."""
    found = getattr(backend, _ATTRIBUTE, None)
    if found is None:
        connection = duckdb.connect(":memory:")
        # DuckDB 1.5's top-n window elimination fails internally (and invalidates the
        # database) on ``row_number() ... = 1`` over these JSON expressions; without it
        # the plan is the plain one.
        connection.execute("SET disabled_optimizers = 'top_n_window_elimination'")
        found = _Store(connection)
        setattr(backend, _ATTRIBUTE, found)
    return found


def _athena_backend(account: str, region: str) -> Any:
    from moto.athena.models import athena_backends

    return athena_backends[account][region]


def _glue(account: str, region: str) -> Any:
    from moto.glue.models import glue_backends

    return glue_backends[account][region]


def _glue_table(account: str, region: str, database: str, name: str) -> dict[str, Any] | None:
    glue = _glue(account, region)
    found = glue.databases.get(database)
    if found is None or name not in found.tables:
        return None
    return dict(found.tables[name].as_dict())


def _is_iceberg(table: dict[str, Any]) -> bool:
    return str((table.get("Parameters") or {}).get("table_type", "")).upper() == ICEBERG


def current_rows(
    database: str, table: str, *, account: str, region: str, order_by: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Every row of an Iceberg table as the emulator's Athena holds it (for tests)."""
    store = _store(_athena_backend(account, region))
    order = ", ".join(quote_identifier(c) for c in order_by)
    sql = f"SELECT * FROM {quote_identifier(database)}.{quote_identifier(table)}" + (f" ORDER BY {order}" if order else "")
    with store.lock:
        cursor = store.connection.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- parsing ---------------------------------------------------------------------------------


def parse(sql: str) -> exp.Expression:
    """One statement in Athena's dialect, or ``QueryFailed`` naming why not."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f"line {first.get('line')}:{first.get('col')}: " if first else ""
        description = first.get("description") or str(error)
        raise QueryFailed(f"{where}{description}") from None
    if len(statements) != 1:
        raise QueryFailed("Only one sql statement is allowed")
    statement = statements[0]
    if isinstance(statement, exp.Command):
        raise QueryFailed(f"line 1:1: cannot parse statement starting {statement.name!r}")
    return statement  # type: ignore[return-value]


# -- Glue types and the JSON SerDe --------------------------------------------------------------


def _hive_type(text: str) -> exp.DataType:
    return exp.DataType.build(text, dialect="hive")


def _serde_value(value: Any, kind: exp.DataType) -> Any:
    """A JSON value as the JSON SerDe hands it to a column of ``kind``."""
    if value is None:
        return None
    this = kind.this
    T = exp.DataType.Type
    if this == T.STRUCT:
        if not isinstance(value, dict):
            return None
        lowered = {str(k).lower(): v for k, v in value.items()}
        out = {}
        for member in kind.expressions:
            name = member.name.lower()
            member_type = member.args.get("kind") or member.expressions[0]
            out[name] = _serde_value(lowered.get(name), member_type)
        return out
    if this == T.MAP:
        if not isinstance(value, dict):
            return None
        value_type = kind.expressions[1]
        return {str(k): _serde_value(v, value_type) for k, v in value.items()}
    if this == T.ARRAY:
        if not isinstance(value, list):
            return None
        return [_serde_value(v, kind.expressions[0]) for v in value]
    if this in (T.VARCHAR, T.TEXT, T.CHAR, T.NVARCHAR):
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if this == T.BOOLEAN:
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False}.get(str(value).lower())
    if this in (T.BIGINT, T.INT, T.SMALLINT, T.TINYINT):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if this in (T.DOUBLE, T.FLOAT, T.DECIMAL):
        try:
            return float(value) if this != T.DECIMAL else str(value)
        except (TypeError, ValueError):
            return None
    return value


def _duckdb_type(kind: exp.DataType) -> str:
    return kind.sql(dialect="duckdb")


# -- reading external tables -------------------------------------------------------------------


def _s3_objects(account: str, location: str) -> list[tuple[str, bytes]]:
    """Every object under an ``s3://`` location in moto's S3, by key. Bucket names are
    global: a bucket of another account is read where it lives (whether the caller may
    read it is the authorisation model's question, asked before this)."""
    from moto.s3.models import s3_backends

    bucket_name, _, prefix = location.removeprefix("s3://").partition("/")
    owner = s3_backends.bucket_accounts.get(bucket_name)
    s3 = s3_backends[owner[1]][owner[0]] if owner else s3_backends[account]["aws"]
    bucket = s3.buckets.get(bucket_name)
    if bucket is None:
        raise QueryFailed(f"HIVE_FILESYSTEM_ERROR: bucket of {location} does not exist")
    out = []
    for key_name in sorted(bucket.keys.keys()):
        if not key_name.startswith(prefix) or key_name.endswith("/"):
            continue
        key = bucket.keys[key_name]
        value = getattr(key, "value", None)
        if value is not None:
            out.append((key_name, bytes(value)))
    return out


_FORMATS = {"yyyy-MM-dd": "%Y-%m-%d"}


def _projected_files(
    account: str, table: dict[str, Any], wanted: set[str] | None
) -> list[tuple[dict[str, str], str, bytes]]:
    """(partition values, key, bytes) of a projected table's files."""
    parameters = table.get("Parameters") or {}
    keys = [k["Name"] for k in table.get("PartitionKeys") or []]
    if len(keys) != 1:
        raise QueryFailed("the emulator projects one partition key only")
    key = keys[0]
    kind = parameters.get(f"projection.{key}.type")
    fmt = _FORMATS.get(parameters.get(f"projection.{key}.format", ""))
    template = parameters.get("storage.location.template", "")
    if kind != "date" or fmt is None or "${" + key + "}" not in template:
        raise QueryFailed(f"the emulator projects date partitions (yyyy-MM-dd) only, not {key}")
    start_text, _, end_text = parameters.get(f"projection.{key}.range", "").partition(",")
    start = dt.datetime.strptime(start_text.strip(), fmt).replace(tzinfo=dt.timezone.utc)
    now = dt.datetime.fromtimestamp(clock.now(), tz=dt.timezone.utc)
    end = now if end_text.strip() == "NOW" else dt.datetime.strptime(end_text.strip(), fmt)
    end = end.replace(tzinfo=dt.timezone.utc)
    head, _, tail = template.partition("${" + key + "}")
    bucket = head.removeprefix("s3://").split("/", 1)[0]
    pattern = re.compile(
        re.escape(head.removeprefix(f"s3://{bucket}/"))
        + "(?P<value>[^/]+)"
        + re.escape(tail)
        + ".+"
    )
    out = []
    for name, body in _s3_objects(account, head):
        match = pattern.fullmatch(name)
        if match is None:
            continue
        value = match["value"]
        try:
            day = dt.datetime.strptime(value, fmt).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            continue
        if not start <= day <= end or (wanted is not None and value not in wanted):
            continue
        out.append(({key: value}, name, body))
    return out


def _lines(name: str, body: bytes) -> Iterable[str]:
    text = gzip.decompress(body) if name.endswith(".gz") else body
    for line in text.decode("utf-8").splitlines():
        if line.strip():
            yield line


def _external_view(
    account: str, table: dict[str, Any], wanted: set[str] | None, folder: Path
) -> tuple[str, list[tuple[dict[str, str], str, int]]]:
    """SQL reading an external JSON table (as DuckDB) and the bytes of files it reads."""
    storage = table.get("StorageDescriptor") or {}
    serde = (storage.get("SerdeInfo") or {}).get("SerializationLibrary")
    if serde not in _JSON_SERDES:
        raise QueryFailed(f"the emulator reads JSON SerDe tables only, not {serde}")
    ignore_malformed = (
        str(((storage.get("SerdeInfo") or {}).get("Parameters") or {}).get("ignore.malformed.json"))
        == "true"
    )
    columns = [(c["Name"].lower(), _hive_type(c["Type"])) for c in storage.get("Columns") or []]
    partitions = [k["Name"].lower() for k in table.get("PartitionKeys") or []]
    if partitions:
        if (table.get("Parameters") or {}).get("projection.enabled") != "true":
            raise QueryFailed("the emulator reads partitioned tables through projection only")
        files = _projected_files(account, table, wanted)
    else:
        files = [({}, n, b) for n, b in _s3_objects(account, storage["Location"])]
    rows = []
    for values, name, body in files:
        for line in _lines(name, body):
            try:
                record = json.loads(line)
            except ValueError:
                if not ignore_malformed:
                    raise QueryFailed(f"HIVE_BAD_DATA: malformed JSON in {name}") from None
                record = {}
            lowered = (
                {str(k).lower(): v for k, v in record.items()} if isinstance(record, dict) else {}
            )
            row = {n: _serde_value(lowered.get(n), kind) for n, kind in columns}
            row.update(values)
            rows.append(row)
    target = folder / f"{len(list(folder.iterdir())):04d}.json"
    target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = ", ".join(
        [f"'{n}': '{_duckdb_type(kind)}'" for n, kind in columns]
        + [f"'{p}': 'VARCHAR'" for p in partitions]
    )
    select = (
        f"SELECT * FROM read_json('{target.as_posix()}', format='newline_delimited', "
        f"columns={{{spec}}})"
    )
    return select, [(values, name, len(body)) for values, name, body in files]


def _pinned_values(table: exp.Table, key: str) -> set[str] | None:
    """Values a query pins a partition key to where it reads ``table``: literal ``=`` or
    ``IN`` conjuncts of that SELECT's WHERE; None when it pins none."""
    select = table.find_ancestor(exp.Select)
    where = select.args.get("where") if select is not None else None
    if where is None:
        return None
    pinned: set[str] | None = None
    condition = where.this
    conjuncts = list(condition.flatten()) if isinstance(condition, exp.And) else [condition]
    for conjunct in conjuncts:
        values: set[str] | None = None
        if isinstance(conjunct, exp.EQ):
            column, literal = conjunct.this, conjunct.expression
            if isinstance(literal, exp.Column):
                column, literal = literal, column
            named = isinstance(column, exp.Column) and column.name.lower() == key
            if named and isinstance(literal, exp.Literal):
                values = {literal.name}
        elif (
            isinstance(conjunct, exp.In)
            and isinstance(conjunct.this, exp.Column)
            and conjunct.this.name.lower() == key
            and all(isinstance(e, exp.Literal) for e in conjunct.expressions)
        ):
            values = {e.name for e in conjunct.expressions}
        if values is not None:
            pinned = values if pinned is None else pinned & values
    return pinned


# -- sqlglot fixes for DuckDB ------------------------------------------------------------------


def _fix_transform_values(node: exp.Expression) -> exp.Expression:
    """Trino's ``transform_values(map, (k, v) -> body)`` has no DuckDB function (sqlglot
    passes the name through): rebuild the map from its entries."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "transform_values"):
        return node
    source, function = node.expressions
    if not isinstance(function, exp.Lambda) or len(function.expressions) != 2:
        return node
    key_name, value_name = (e.name for e in function.expressions)
    entry = exp.to_identifier("__entry")

    def bind(inner: exp.Expression) -> exp.Expression:
        # Lambda parameters appear as bare identifiers (or columns) in the body.
        bare = isinstance(inner, exp.Identifier) and not isinstance(
            inner.parent, exp.Column | exp.Dot
        )
        column = isinstance(inner, exp.Column) and not inner.table
        if (bare or column) and inner.name in (key_name, value_name):
            member = "key" if inner.name == key_name else "value"
            return exp.Dot(this=exp.column(entry), expression=exp.to_identifier(member))
        return inner

    body = function.this.copy().transform(bind)
    pair = exp.Struct(
        expressions=[
            exp.PropertyEQ(
                this=exp.to_identifier("key"),
                expression=exp.Dot(this=exp.column(entry), expression=exp.to_identifier("key")),
            ),
            exp.PropertyEQ(this=exp.to_identifier("value"), expression=body),
        ]
    )
    entries = exp.Anonymous(this="map_entries", expressions=[source])
    mapped = exp.Anonymous(
        this="list_transform", expressions=[entries, exp.Lambda(this=pair, expressions=[entry])]
    )
    return exp.Anonymous(this="map_from_entries", expressions=[mapped])


def _fix_json_extract_scalar(node: exp.Expression) -> exp.Expression:
    """Trino's ``json_extract_scalar`` is NULL when the path names an object or array;
    sqlglot's DuckDB ``->>`` returns its JSON text."""
    if not isinstance(node, exp.JSONExtractScalar) or node.args.get("_fixed"):
        return node
    plain = node.copy()
    plain.set("_fixed", True)
    path = exp.Literal.string(node.expression.sql(dialect=DIALECT).strip("'"))
    kind = exp.Anonymous(this="json_type", expressions=[node.this.copy(), path])
    non_scalar = exp.In(
        this=kind, expressions=[exp.Literal.string("OBJECT"), exp.Literal.string("ARRAY")]
    )
    return exp.Case(ifs=[exp.If(this=non_scalar, true=exp.Null())], default=plain)


_FIXES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _fix_transform_values,
    _fix_json_extract_scalar,
)


def to_duckdb(statement: exp.Expression) -> str:
    """DuckDB text of an Athena statement, with ``_FIXES`` applied."""
    fixed = statement.copy()
    for fix in _FIXES:
        fixed = fixed.transform(fix)
    return fixed.sql(dialect="duckdb")


# -- running -----------------------------------------------------------------------------------


def _table_refs(statement: exp.Expression, database: str) -> list[exp.Table]:
    """Catalog tables the statement names (CTE names excluded), each given its database."""
    ctes = {c.alias_or_name.lower() for c in statement.find_all(exp.CTE)}
    found = []
    for table in statement.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in ctes):
            continue
        if not table.db:
            table.set("db", exp.to_identifier(database))
        found.append(table)
    return found


def _name(table: exp.Table) -> tuple[str, str]:
    return table.db.lower(), table.name.lower()


class _Run:
    """One query: resolves its tables, executes it, reports what it read."""

    def __init__(
        self,
        account: str,
        region: str,
        database: str,
        *,
        query_id: str = "query",
        output_location: str | None = None,
        authorize: Callable[[list[Request]], None] | None = None,
    ) -> None:
        self.account, self.region, self.database = account, region, database
        self.store = _store(_athena_backend(account, region))
        self.scanned = 0
        self.views: list[str] = []
        self.query_id, self.output_location = query_id, output_location
        self.authorize = authorize
        self.requests: list[Request] = []

    # -- what Athena asks IAM for, as the caller (see ``on_behalf``) --

    def glue(self, action: str, database: str, table: str | None = None) -> None:
        arns = [
            f"arn:aws:glue:{self.region}:{self.account}:catalog",
            f"arn:aws:glue:{self.region}:{self.account}:database/{database}",
        ]
        if table is not None:
            arns.append(f"arn:aws:glue:{self.region}:{self.account}:table/{database}/{table}")
        self.requests.extend(Request(action, arn) for arn in arns)

    def reads(self, table: dict[str, Any], read: list[tuple[dict[str, str], str, int]]) -> None:
        """An external table: its location (each partition's) listed, its objects read."""
        storage = table.get("StorageDescriptor") or {}
        bucket, _, prefix = storage.get("Location", "").removeprefix("s3://").partition("/")
        template = (table.get("Parameters") or {}).get("storage.location.template")
        listed = {prefix}
        if template:
            listed = set()
            for values, _, _ in read:
                folder = template
                for name, value in values.items():
                    folder = folder.replace("${" + name + "}", value)
                listed.add(folder.removeprefix(f"s3://{bucket}/"))
        for folder in sorted(listed):
            self.requests.append(iam_requests.list_request(bucket, {"Prefix": folder}))
        for _, name, _ in read:
            self.requests.extend(iam_requests.read_requests(bucket, name, self.region, True))

    def iceberg_metadata(self, how: str, table: dict[str, Any]) -> None:
        """An Iceberg table: its metadata read, or new data and metadata files written
        (the files themselves are not modelled: the table lives in DuckDB)."""
        location = ((table.get("StorageDescriptor") or {}).get("Location") or "").rstrip("/")
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if how == "read":
            key = f"{prefix}/metadata/{_METADATA}"
            self.requests.extend(iam_requests.read_requests(bucket, key, self.region, True))
            return
        for key in (f"{prefix}/data/{self.query_id}.parquet", f"{prefix}/metadata/{_METADATA}"):
            self.requests.extend(iam_requests.put_requests(bucket, key, self.region, {}))

    def results(self, select: bool) -> None:
        """The query's results in the workgroup's output location."""
        if not self.output_location:
            return
        bucket, _, prefix = self.output_location.removeprefix("s3://").partition("/")
        self.requests.append(iam_requests.s3_request("s3:GetBucketLocation", bucket))
        name = f"{prefix}{self.query_id}" + (".csv" if select else ".txt")
        self.requests.extend(iam_requests.put_requests(bucket, name, self.region, {}))

    def check(self) -> None:
        if self.authorize is not None:
            self.authorize(self.requests)

    @property
    def db(self) -> duckdb.DuckDBPyConnection:
        return self.store.connection

    def _schema(self, database: str) -> None:
        self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(database)}")

    def _glue_or_fail(self, database: str, name: str) -> dict[str, Any]:
        table = _glue_table(self.account, self.region, database, name)
        if table is None:
            raise QueryFailed(
                f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{name}' does not exist"
            )
        return table

    def _iceberg_table(self, database: str, name: str, table: dict[str, Any]) -> None:
        """A DuckDB table for an Iceberg table Glue knows (empty if created elsewhere)."""
        self._schema(database)
        columns = ", ".join(
            f"{quote_identifier(c['Name'].lower())} {_duckdb_type(_hive_type(c['Type']))}"
            for c in (table.get("StorageDescriptor") or {}).get("Columns") or []
        )
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{quote_identifier(name)} ({columns})")

    def bind(self, refs: list[exp.Table], folder: Path) -> None:
        """Make every table the statement reads resolvable in DuckDB (each read from
        Glue once, however often the statement names it)."""
        wanted: dict[tuple[str, str], set[str] | None] = {}
        tables: dict[tuple[str, str], dict[str, Any]] = {}
        for ref in refs:
            key = _name(ref)
            if key not in tables:
                tables[key] = self._glue_or_fail(*key)
            table = tables[key]
            partitions = [k["Name"].lower() for k in table.get("PartitionKeys") or []]
            pinned = _pinned_values(ref, partitions[0]) if len(partitions) == 1 else None
            if key in wanted:
                previous = wanted[key]
                wanted[key] = None if previous is None or pinned is None else previous | pinned
            else:
                wanted[key] = pinned
        for key, table in tables.items():
            self.glue("glue:GetTable", *key)
            if _is_iceberg(table):
                self.iceberg_metadata("read", table)
                self._iceberg_table(*key, table)
                continue
            select, read = _external_view(self.account, table, wanted[key], folder)
            self.scanned += sum(size for _, _, size in read)
            self.reads(table, read)
            self._schema(key[0])
            view = f"{quote_identifier(key[0])}.{quote_identifier(key[1])}"
            self.db.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
            self.views.append(view)

    def unbind(self) -> None:
        for view in self.views:
            self.db.execute(f"DROP VIEW IF EXISTS {view}")

    # -- statements --

    def create(self, statement: exp.Create) -> None:
        if statement.kind != "TABLE" or statement.expression is not None:
            raise QueryFailed("the emulator runs CREATE TABLE for Iceberg tables only (no CTAS)")
        properties = {}
        location = None
        external = False
        for prop in (statement.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.LocationProperty):
                location = prop.this.name
            elif isinstance(prop, exp.ExternalProperty):
                external = True
            elif isinstance(prop, exp.Property):
                properties[prop.name.lower()] = prop.args["value"].name
        if properties.get("table_type", "").upper() != ICEBERG:
            raise QueryFailed("the emulator runs CREATE TABLE with 'table_type'='ICEBERG' only")
        if external:
            raise QueryFailed("External keyword not supported for table type ICEBERG")
        if location is None:
            raise QueryFailed("Iceberg tables need a LOCATION")
        schema = statement.this
        table = schema.this
        database, name = (table.db or self.database).lower(), table.name.lower()
        self.glue("glue:GetTable", database, name)
        if _glue_table(self.account, self.region, database, name) is not None:
            if statement.args.get("exists"):
                self.check()
                return
            raise QueryFailed(f"Table awsdatacatalog.{database}.{name} already exists")
        glue = _glue(self.account, self.region)
        if database not in glue.databases:
            raise QueryFailed(f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist")
        self.glue("glue:CreateTable", database, name)
        self.iceberg_metadata("write", {"StorageDescriptor": {"Location": location}})
        self.check()
        definitions = [c for c in schema.expressions if isinstance(c, exp.ColumnDef)]
        columns = [
            {"Name": c.name.lower(), "Type": c.args["kind"].sql(dialect="hive").lower()}
            for c in definitions
        ]
        glue.create_table(
            database,
            name,
            {
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {**properties, "table_type": ICEBERG},
                "StorageDescriptor": {"Columns": columns, "Location": location},
            },
        )
        self.db.execute(f"DROP TABLE IF EXISTS {quote_identifier(database)}.{quote_identifier(name)}")
        self._iceberg_table(
            database, name, _glue_table(self.account, self.region, database, name) or {}
        )

    def drop(self, statement: exp.Drop) -> None:
        if statement.kind != "TABLE":
            raise QueryFailed("the emulator runs DROP TABLE only")
        tables = statement.args.get("tables") or [statement.this]
        if len(tables) != 1 or not isinstance(tables[0], exp.Table):
            raise QueryFailed("the emulator drops one table at a time")
        table = tables[0]
        database, name = (table.db or self.database).lower(), table.name.lower()
        if _glue_table(self.account, self.region, database, name) is None:
            if statement.args.get("exists"):
                return
            raise QueryFailed(f"Table awsdatacatalog.{database}.{name} does not exist")
        _glue(self.account, self.region).delete_table(database, name)
        self.db.execute(f"DROP TABLE IF EXISTS {quote_identifier(database)}.{quote_identifier(name)}")

    def check_merge_cardinality(self, statement: exp.Merge) -> None:
        """Fail as Athena does when one target row matches several source rows. The
        source is materialised first (DuckDB cannot join some of these subqueries
        directly); the MERGE itself still runs as written."""
        target, source, on = statement.this, statement.args["using"], statement.args["on"]
        if isinstance(source, exp.Subquery):
            rows, alias = source.this, source.alias_or_name
        else:
            rows, alias = exp.select("*").from_(source.copy()), source.alias_or_name
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE __merge_source AS {to_duckdb(rows)}")
        try:
            materialised = exp.to_table("__merge_source").as_(alias)
            probe = exp.select(exp.Count(this=exp.Star())).from_(target.copy())
            probe = probe.join(materialised, on=on.copy())
            probe = probe.group_by(exp.column("rowid", table=target.alias_or_name))
            found = self.db.execute(to_duckdb(probe.having("COUNT(*) > 1"))).fetchall()
        finally:
            self.db.execute("DROP TABLE IF EXISTS __merge_source")
        if found:
            raise QueryFailed(
                "MERGE_TARGET_ROW_MULTIPLE_MATCHES: One MERGE target table row matched more "
                "than one source row"
            )

    def execute(
        self, statement: exp.Expression
    ) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
        self.glue("glue:GetDatabase", self.database)
        self.results(isinstance(statement, exp.Query))
        if isinstance(statement, exp.Create):
            self.create(statement)
            return [], []
        if isinstance(statement, exp.Drop):
            self.drop(statement)
            return [], []
        writes = (exp.Merge, exp.Insert, exp.Update, exp.Delete)
        if not isinstance(statement, (*writes, exp.Query)):
            raise QueryFailed(f"the emulator does not run {statement.key.upper()} statements")
        refs = _table_refs(statement, self.database)
        target: tuple[str, str] | None = None
        if isinstance(statement, writes):
            ref = (
                statement.this
                if isinstance(statement.this, exp.Table)
                else statement.find(exp.Table)
            )
            assert isinstance(ref, exp.Table)
            target = _name(ref)
            found = self._glue_or_fail(*target)
            if not _is_iceberg(found):
                raise QueryFailed(
                    f"NOT_SUPPORTED: {statement.key.upper()} is supported only for Iceberg tables"
                )
        with tempfile.TemporaryDirectory(prefix="athena-sql-") as folder:
            try:
                self.bind(refs, Path(folder))
                if target is not None:
                    self.glue("glue:UpdateTable", *target)
                    self.iceberg_metadata("write", found)
                self.check()
                if isinstance(statement, exp.Merge):
                    self.check_merge_cardinality(statement)
                self.db.execute("BEGIN TRANSACTION")
                try:
                    cursor = self.db.execute(to_duckdb(statement))
                    columns = [(d[0], str(d[1])) for d in cursor.description or ()]
                    rows = cursor.fetchall() if isinstance(statement, exp.Query) else []
                    self.db.execute("COMMIT")
                except Exception:
                    self.db.execute("ROLLBACK")
                    raise
                return columns, rows
            finally:
                self.unbind()


def run(
    sql: str,
    *,
    account: str,
    region: str,
    database: str | None,
    query_id: str = "query",
    output_location: str | None = None,
    principal: str | None = None,
) -> Outcome:
    """Run one query as the emulator's Athena does; never raises for a bad query. With
    ``principal``, what the query does is authorised as that caller first (``on_behalf``)."""
    started = time.monotonic()
    runner = _Run(
        account,
        region,
        (database or "default").lower(),
        query_id=query_id,
        output_location=output_location,
        authorize=None if principal is None else on_behalf(principal),
    )
    with runner.store.lock:
        try:
            statement = parse(sql)
            columns, rows = runner.execute(statement)
            state, reason = "SUCCEEDED", None
        except QueryFailed as error:
            state, reason, columns, rows = "FAILED", str(error), [], []
        except duckdb.Error as error:
            state, reason, columns, rows = "FAILED", f"GENERIC_USER_ERROR: {error}", [], []
    return Outcome(
        state=state,
        reason=reason,
        scanned_bytes=runner.scanned,
        engine_millis=int((time.monotonic() - started) * 1000),
        columns=columns,
        rows=rows,
    )


# -- authorisation: what Athena does as the caller ---------------------------------------------


def on_behalf(principal: str) -> Callable[[list[Request]], None]:
    """Athena runs a query with the caller's permissions ("Identity-based policies for
    Athena", "Access to Amazon S3", "Use Apache Iceberg tables" in the Athena user
    guide): Glue ``GetDatabase`` on the query's database and ``GetTable`` on each table
    it names (and ``CreateTable`` for a new table, ``UpdateTable`` to commit to an
    Iceberg table), S3 ``ListBucket`` on each location (partition) it reads and
    ``GetObject`` on each object, the Iceberg table's files read and written, and
    ``GetBucketLocation`` and ``PutObject`` for its results in the workgroup's output
    location; SSE-KMS objects also need the key, through S3. Partition projection
    needs no ``GetPartitions`` ("Partition projection with Amazon Athena"). A denied
    request fails the query before anything is changed, its reason naming the request
    (Athena's wording differs)."""

    def authorize(requests: list[Request]) -> None:
        try:
            REGISTRY.check(principal, requests)
        except AccessDenied as error:
            raise QueryFailed(f"Access denied: {error}") from None

    return authorize


def _output_location(execution: Any) -> str | None:
    """The workgroup's output location when it enforces its configuration, else the
    query's own ("Workgroup settings override client-side settings")."""
    workgroup = getattr(execution, "workgroup", None)
    configuration = getattr(workgroup, "configuration", None) or {}
    location = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
    own = (getattr(execution, "config", None) or {}).get("OutputLocation")
    chosen = location if configuration.get("EnforceWorkGroupConfiguration") or not own else own
    if chosen and not chosen.endswith("/"):
        chosen += "/"
    return chosen or None


# -- patching moto -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)


def _results(outcome: Outcome) -> Any:
    from moto.athena.models import QueryResults

    header = {"Data": [{"VarCharValue": name} for name, _ in outcome.columns]}
    rows = [{"Data": [{"VarCharValue": _text(v)} for v in row]} for row in outcome.rows]
    info = [
        {"Name": name, "Label": name, "Type": kind.lower(), "CatalogName": "hive"}
        for name, kind in outcome.columns
    ]
    return QueryResults(rows=[header, *rows] if outcome.columns else [], column_info=info)


_installed = False


def install() -> None:
    """Run queries in moto's Athena and let Step Functions call it (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.athena import models, responses

    original_start = models.AthenaBackend.start_query_execution

    def start_query_execution(self: Any, query: str, context: Any, **kwargs: Any) -> str:
        exec_id: str = original_start(self, query, context, **kwargs)
        execution = self.executions[exec_id]
        database = context.get("Database") if isinstance(context, dict) else None
        outcome = run(
            query,
            account=self.account_id,
            region=self.region_name,
            database=database,
            query_id=exec_id,
            output_location=_output_location(execution),
            principal=current_principal(),
        )
        execution.outcome = outcome
        execution._transitions = [(outcome.state, outcome.state)]
        execution.status = outcome.state
        execution.end_time = time.time()
        if outcome.state == "SUCCEEDED":
            self.query_results[exec_id] = _results(outcome)
        return exec_id

    original_get = responses.AthenaResponse.get_query_execution

    def get_query_execution(self: Any) -> str:
        answer = json.loads(original_get(self))
        execution = self.athena_backend.executions[self._get_param("QueryExecutionId")]
        outcome: Outcome | None = getattr(execution, "outcome", None)
        if outcome is not None:
            status = answer["QueryExecution"]["Status"]
            if outcome.reason is not None:
                status["StateChangeReason"] = outcome.reason
                status["AthenaError"] = {
                    "ErrorCategory": USER_ERROR,
                    "ErrorMessage": outcome.reason,
                    "Retryable": False,
                }
            statistics = answer["QueryExecution"]["Statistics"]
            statistics["DataScannedInBytes"] = outcome.scanned_bytes
            statistics["EngineExecutionTimeInMillis"] = outcome.engine_millis
            statistics["TotalExecutionTimeInMillis"] = outcome.engine_millis
        return json.dumps(answer)

    models.AthenaBackend.start_query_execution = start_query_execution  # type: ignore[method-assign,assignment]
    responses.AthenaResponse.get_query_execution = get_query_execution  # type: ignore[method-assign]
    _install_step_functions()
    _installed = True


def _install_step_functions() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        state_task_factory,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_factory as factory,
    )

    original = factory.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "athena":
            return _athena_service()
        return original(service_name)

    factory.state_task_service_for = state_task_service_for
    state_task_factory.state_task_service_for = state_task_service_for  # type: ignore[attr-defined]


_TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
_SYNC_POLL_SECONDS = 0.02
_API_ACTIONS = {
    "startqueryexecution": {
        "QueryString",
        "ClientRequestToken",
        "QueryExecutionContext",
        "ResultConfiguration",
        "WorkGroup",
        "ExecutionParameters",
        "ResultReuseConfiguration",
    },
    "stopqueryexecution": {"QueryExecutionId"},
    "getqueryexecution": {"QueryExecutionId"},
    "getqueryresults": {"QueryExecutionId", "NextToken", "MaxResults"},
}


def _athena_service() -> Any:
    """Step Functions' optimised Athena integration: request-response for the four APIs,
    ``.sync`` for StartQueryExecution ("Run Athena queries with Step Functions")."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    from .sfn_fidelity import _timestamps_to_text, validating_client

    class StateTaskServiceAthena(StateTaskServiceCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(supported_integration_patterns={ResourceCondition.Sync})  # type: ignore[arg-type]

        def _get_supported_parameters(self) -> set[str] | None:
            return _API_ACTIONS.get(self.resource.api_action.lower())

        def _validate_service_integration_is_supported(self) -> None:
            super()._validate_service_integration_is_supported()
            sync = self.resource.condition == ResourceCondition.Sync
            if sync and self.resource.api_action.lower() != "startqueryexecution":
                raise ValueError(
                    f"{self.resource.resource_arn}: only startQueryExecution has .sync"
                )

        def _client(self, runtime: Any, credentials: Any) -> Any:
            return validating_client(runtime.region, "athena", credentials)

        def _eval_service_task(
            self,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> None:
            client = self._client(resource_runtime_part, state_credentials)
            action = getattr(client, self._get_boto_service_action())
            response = action(**normalised_parameters)
            response.pop("ResponseMetadata", None)
            env.stack.append(_timestamps_to_text(response))

        def _eval_integration_pattern(
            self,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> None:
            # moto's own loop assumes a task-token endpoint that only waitForTaskToken
            # integrations have (it fails with 'NoneType ... interrupt_all'): poll here.
            resolve = self._build_sync_resolver(
                env, resource_runtime_part, normalised_parameters, state_credentials
            )
            while env.is_running():
                outcome = resolve()
                if outcome is not None:
                    env.stack.append(outcome)
                    return
                time.sleep(_SYNC_POLL_SECONDS)

        def _build_sync_resolver(
            self,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> Any:
            started = env.stack.pop()
            client = self._client(resource_runtime_part, state_credentials)
            execution_id = started["QueryExecutionId"]

            def resolve() -> Any:
                answer = client.get_query_execution(QueryExecutionId=execution_id)
                answer.pop("ResponseMetadata", None)
                answer = _timestamps_to_text(answer)
                state = answer["QueryExecution"]["Status"]["State"]
                if state not in _TERMINAL:
                    return None
                if state == "SUCCEEDED":
                    return answer
                failed = StatesErrorNameType.StatesTaskFailed
                raise FailureEventException(
                    FailureEvent(
                        env=env,
                        error_name=StatesErrorName(typ=failed),
                        event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(  # type: ignore[typeddict-item]
                            taskFailedEventDetails=TaskFailedEventDetails(
                                resource=self._get_sfn_resource(),
                                resourceType=self._get_sfn_resource_type(),
                                error=failed.to_name(),
                                cause=to_json_str(answer),
                            )
                        ),
                    )
                )

            return resolve

    return StateTaskServiceAthena()
