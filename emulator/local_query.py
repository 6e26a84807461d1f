"""SQL over exports in S3 on this machine, through DuckDB, with the column mapping
Athena's Glue tables use (``table_exporter.schema``), so a query gives here what it
gives in Athena.

An export is named by the location the exporter reports,
``s3://<bucket>/<prefix>/AWSDynamoDB/<id>/`` (its ``data/`` folder is accepted too).
Its gzipped data files are downloaded to a temporary folder and read in place; the
caller's SQL sees them through views:

``items``
    ``schema.duckdb_select`` over a full export: the typed columns and ``item_raw``;
``changes``
    ``schema.duckdb_changes_select`` over incremental exports;
``current_state``
    ``schema.duckdb_current_state_sql``: the newest image per key, deletes dropped,
    starting from a full export when one is given.

Works against AWS and the emulator alike: only ``ListObjectsV2`` and ``GetObject``.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from table_exporter.schema import (
    Column,
    duckdb_changes_select,
    duckdb_current_state_sql,
    duckdb_select,
    quote_identifier,
)

from .replay import split_location

ITEMS = "items"
CHANGES = "changes"
CURRENT_STATE = "current_state"
_FILES = "*.json.gz"


@dataclass(frozen=True)
class QueryResult:
    """What a query returned, with its column names for printing or ``dicts``."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def data_folder(location: str) -> tuple[str, str]:
    """``(bucket, key prefix of the data files)`` of an export location: exports keep
    their items under ``data/`` beside the manifests."""
    bucket, prefix = split_location(location)
    return bucket, prefix if prefix.endswith("data/") else prefix + "data/"


def download_data_files(s3: Any, location: str, directory: Path) -> list[Path]:
    """Download one export's ``data/*.json.gz`` into ``directory``. An export of an empty
    table may have no data file; an empty one stands in so the export still reads."""
    bucket, prefix = data_folder(location)
    directory.mkdir(parents=True, exist_ok=True)
    downloaded = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if "/" in key.removeprefix(prefix) or not key.endswith(".json.gz"):
                continue
            target = directory / key.rsplit("/", 1)[1]
            s3.download_file(bucket, key, str(target))
            downloaded.append(target)
    if not downloaded:
        placeholder = directory / "empty.json.gz"
        placeholder.write_bytes(gzip.compress(b""))
        downloaded.append(placeholder)
    return sorted(downloaded)


def _download_all(s3: Any, locations: Sequence[str], directory: Path) -> str:
    """Each export in its own subfolder (data file names are only unique per export);
    returns the glob that reads them all."""
    for index, location in enumerate(locations):
        download_data_files(s3, location, directory / f"{index:04d}")
    return (directory / "*" / _FILES).as_posix()


def run_query(views: dict[str, str], sql: str) -> QueryResult:
    """Run ``sql`` in a fresh in-memory DuckDB where each view is defined."""
    with duckdb.connect(":memory:") as connection:
        for name, body in views.items():
            connection.execute(f"CREATE VIEW {quote_identifier(name)} AS\n{body}")
        cursor = connection.execute(sql)
        names = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns=names, rows=cursor.fetchall())


def query_export(
    s3: Any, location: str, columns: Sequence[Column], sql: str = f"SELECT * FROM {ITEMS}"
) -> QueryResult:
    """Query a full export through view ``items``, e.g. ``SELECT menu_item,
    SUM(quantity) FROM items GROUP BY menu_item``."""
    with tempfile.TemporaryDirectory(prefix="export-query-") as folder:
        files = _download_all(s3, [location], Path(folder))
        return run_query({ITEMS: duckdb_select(columns, files)}, sql)


def query_changes(
    s3: Any,
    locations: Sequence[str],
    key_columns: Sequence[Column],
    columns: Sequence[Column],
    sql: str = f"SELECT * FROM {CURRENT_STATE}",
    *,
    baseline: str | None = None,
) -> QueryResult:
    """Query incremental exports through views ``changes`` and ``current_state``;
    ``baseline`` is the full export the chain starts from (without it the current state
    holds only the keys changed in ``locations``)."""
    if not locations:
        raise ValueError("at least one incremental export location is needed")
    with tempfile.TemporaryDirectory(prefix="export-query-") as folder:
        root = Path(folder)
        changes = _download_all(s3, locations, root / "changes")
        start = _download_all(s3, [baseline], root / "baseline") if baseline else None
        views = {
            CHANGES: duckdb_changes_select(key_columns, columns, changes),
            CURRENT_STATE: duckdb_current_state_sql(
                key_columns, columns, changes, baseline_glob=start
            ),
        }
        return run_query(views, sql)
