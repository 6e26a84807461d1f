"""SQL over exports in S3 on this machine, through DuckDB, with the column mapping
Athena's Glue tables use (``table_exporter.catalog.schema``), so a query gives here what it
gives in Athena.

An export is named by the location the exporter reports,
``s3://<bucket>/<prefix>/AWSDynamoDB/<id>/``, the folder of its manifests (a full
export's ``<id>/data/`` folder, which Glue tables point at, is accepted too). Its
gzipped data files are the ones its ``manifest-files.json`` lists (``replay.data_files``),
never a folder's listing: incremental exports to one prefix share one data folder
("DynamoDB table export output format"), so a listing would mix exports. They are
downloaded to a temporary folder and read in place; the caller's SQL sees them through
views:

``items``
    ``schema.duckdb_select`` over a full export: the typed columns and ``item_raw``;
``changes``
    ``schema.duckdb_changes_select`` over incremental exports;
``current_state``
    ``schema.duckdb_current_state_sql``: the newest image per key, deletes dropped,
    starting from a full export when one is given.

Works against AWS and the emulator alike: only ``GetObject``.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from table_exporter.catalog.schema import (
    Column,
    duckdb_changes_select,
    duckdb_current_state_sql,
    duckdb_select,
    quote_identifier,
)

from .replay import data_files, manifest_folder

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


def download_data_files(s3: Any, location: str, directory: Path) -> list[Path]:
    """Download the data files one export's ``manifest-files.json`` lists into
    ``directory``. AWS writes at least one (possibly empty) file per export; if a
    manifest lists none, an empty one stands in so the export still reads."""
    bucket, _ = manifest_folder(location)
    directory.mkdir(parents=True, exist_ok=True)
    downloaded = []
    for index, key in enumerate(data_files(s3, location)):
        target = directory / f"{index:04d}-{key.rsplit('/', 1)[-1]}"
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
