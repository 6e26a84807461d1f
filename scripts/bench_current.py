"""`make bench`, current state: bytes a current-state query reads, and cost per month.

Compares the two ways of answering "the table as of its watermark" for an incremental
table ([docs/current-state.md](../docs/current-state.md)):

- **saved JSON query** (today): Athena reads the gzipped DynamoDB-JSON baseline plus every
  hourly window exported since, on every query;
- **Iceberg `<table>_current`**: one Parquet (ZSTD) table, kept by a MERGE per window.

Everything about bytes is measured here by writing real files to a temporary folder:
a baseline in the full-export line format (``{"Item": ...}``) and hourly windows in the
incremental-export record format (``Metadata``, ``Keys``, ``NewImage``, ``OldImage``),
one gzipped data file per export as ``emulator/export_model.py`` writes them; the
current items as Parquet written by DuckDB; and, for the MERGE, one window's new rows
and its position-delete file as Parquet. The Step Functions transitions of an hourly
run are counted by executing the real table export definition in the emulator. Prices
are constants in ``PRICES`` below, each with the page it comes from; what the cost table
assumes beyond them is printed with it.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
from bench_support import count_transitions, in_emulator
from bench_support import table as _table

Out = Callable[[str], object]

# -- workload ---------------------------------------------------------------------------

ITEMS = 50_000
"""Items in the measured table. Modest so that 30 days of hourly windows are written
in about half a minute on one core; sizes scale linearly with the item count."""
CHANGE_RATE_PER_HOUR = 0.01
"""Share of the items written each hour: 1 %."""
INSERT_SHARE = DELETE_SHARE = 0.05
"""Of the writes, 5 % insert new items and 5 % delete items (the table keeps its size);
the other 90 % update an item (status, version, timestamp and part of its notes)."""
GZIP_LEVEL = 6
"""zlib's default level. ``export_model`` uses ``gzip.compress``'s default (9); which
level DynamoDB uses is undocumented. The baseline is measured at both."""
MEASURED_DAYS = (1, 30)
"""Windows are generated for every hour of these many days; 365 days is extrapolated."""
EXTRAPOLATED_DAYS = 365
COMPACTION_AFTER_WINDOWS = 50
"""A MERGE adds about two files (new rows, position deletes); the Glue compaction
optimizer starts when a table has more than 100 small files (minInputFiles default
100), so a query may read up to ~50 windows of MERGE output on top of the base file."""
TWO_COLUMNS = ("pk", "status")

# The cost table's workload, per table.
COST_ITEMS_PER_TABLE = 1_000_000
"""Items per table in the cost table: the measured sizes per item, times this."""
COST_QUERIES_PER_DAY = 24
"""Current-state queries per table per day (one an hour)."""
COST_TABLE_COUNTS = (1, 100, 1_000)
DAYS_PER_MONTH = 30
OPTIMIZER_RUNS_PER_DAY = {"compaction": 0.5, "retention": 1, "orphan_file_deletion": 1}
"""Retention and orphan deletion run every 24 h (runRateInHours default 24);
compaction about every two days (100 files at ~2 files a window)."""
OPTIMIZER_DPU_HOURS_PER_RUN = 1 / 60
"""Assumed: one DPU for the 1-minute minimum per run. The DPUs a run uses are not
published; a table optimizer run reports them (``TableOptimizerRun.metrics``)."""
ICEBERG_RETAINED_COPIES = 2.0
"""Storage of ``<table>_current``: the current files plus about one superseded copy kept
by snapshot retention (5 days by default) until expired: an assumption."""
S3_PUTS_PER_EXPORT = 6
"""``_started``, two manifests, two checksums, one data file (at least one per
partition in AWS)."""
S3_PUTS_PER_MERGE = 6
"""Data file, delete file, metadata JSON, manifest list, two manifests (Iceberg)."""


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    url: str
    verified: bool
    """Read on the AWS page named; False where the figure comes from a secondary source
    and should be checked on that page."""


PRICES = {
    "ddb_full_export_gb": Price(
        0.10, "per GB of table size", "https://aws.amazon.com/dynamodb/pricing/on-demand/", False
    ),
    "ddb_incremental_export_gb": Price(
        0.10,
        "per GB of change data processed",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        False,
    ),
    "ddb_incremental_export_min_mb": Price(
        10,
        "MB billed at least per incremental export",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        False,
    ),
    "athena_tb_scanned": Price(
        5.00, "per TB scanned", "https://aws.amazon.com/athena/pricing/", False
    ),
    "athena_min_mb_per_query": Price(
        10, "MB billed at least per query", "https://aws.amazon.com/athena/pricing/", False
    ),
    "s3_standard_gb_month": Price(
        0.023, "per GB-month, first 50 TB", "https://aws.amazon.com/s3/pricing/", False
    ),
    "s3_put_per_1000": Price(
        0.005, "per 1,000 PUT/COPY/POST/LIST", "https://aws.amazon.com/s3/pricing/", False
    ),
    "s3_get_per_1000": Price(
        0.0004, "per 1,000 GET/SELECT", "https://aws.amazon.com/s3/pricing/", False
    ),
    "sfn_per_1000_transitions": Price(
        0.025, "per 1,000 state transitions", "https://aws.amazon.com/step-functions/pricing/", True
    ),
    "glue_optimizer_dpu_hour": Price(
        0.44,
        "per DPU-hour, per second, 1-minute minimum",
        "https://aws.amazon.com/glue/pricing/",
        False,
    ),
}
ZERO_ETL_INGESTION = (
    "Glue zero-ETL ingestion is billed per GB ingested (https://aws.amazon.com/glue/pricing/); "
    "the rate is not recorded here, so it is left out of the "
    "zero-ETL column and the GB ingested are printed for you to multiply."
)

MB = 1_000_000
GB = 1_000_000_000
TB = 1_000_000_000_000

# -- items and records ------------------------------------------------------------------

_WORDS = [
    "pepperoni",
    "margherita",
    "calzone",
    "garlic",
    "basil",
    "olive",
    "mushroom",
    "onion",
    "pepper",
    "cheese",
    "tomato",
    "crust",
    "thin",
    "thick",
    "extra",
    "spicy",
    "mild",
    "delivery",
    "pickup",
    "ring",
    "door",
    "leave",
    "porch",
    "call",
    "arrive",
    "soon",
    "late",
    "quick",
    "hot",
    "cold",
    "box",
    "napkin",
    "fork",
    "knife",
    "sauce",
    "dip",
    "side",
    "salad",
    "soda",
    "water",
    "north",
    "south",
    "east",
    "west",
    "street",
    "avenue",
    "lane",
    "court",
    "floor",
    "flat",
    "gate",
    "buzzer",
    "code",
    "back",
]
_STATUSES = ("PLACED", "BAKING", "OUT", "DELIVERED", "CANCELLED")


def _item(number: int, rng: random.Random, version: int, hour: int) -> dict[str, Any]:
    """One order of about 1 KB in DynamoDB JSON, like the demo's ``orders`` table
    (``pk``, ``menuItem``, ``quantity``, ``customer``) with the attributes a real order
    carries; free text from a small vocabulary plus a random token (less compressible)."""
    notes = " ".join(rng.choice(_WORDS) for _ in range(90))
    return {
        "pk": {"S": f"order-{number:08d}"},
        "customer": {"S": f"customer-{rng.randrange(1_000_000):07d}"},
        "menuItem": {"S": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}"},
        "quantity": {"N": str(rng.randrange(1, 20))},
        "price": {"N": f"{rng.randrange(500, 9000) / 100:.2f}"},
        "status": {"S": rng.choice(_STATUSES)},
        "createdAt": {
            "S": f"2026-01-{1 + number % 28:02d}T{number % 24:02d}:{number % 60:02d}:00.000Z"
        },
        "updatedAt": {"S": f"2026-02-{1 + hour // 24 % 28:02d}T{hour % 24:02d}:00:00.000Z"},
        "version": {"N": str(version)},
        "paymentToken": {"S": f"{rng.getrandbits(128):032x}"},
        "tags": {"SS": sorted({rng.choice(_WORDS) for _ in range(3)})},
        "notes": {"S": notes},
    }


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":")) + "\n"


@dataclass
class Table:
    """The measured table's items, their DynamoDB-JSON text, and what was written."""

    items: dict[str, dict[str, Any]]
    text: dict[str, str]
    next_number: int
    rng: random.Random

    @classmethod
    def create(cls, count: int, seed: int = 7) -> Table:
        rng = random.Random(seed)
        items = {}
        for number in range(count):
            item = _item(number, rng, 0, 0)
            items[item["pk"]["S"]] = item
        text = {pk: json.dumps(item, separators=(",", ":")) for pk, item in items.items()}
        return cls(items=items, text=text, next_number=count, rng=rng)

    def baseline(self) -> bytes:
        """A full export's data, one ``{"Item": ...}`` line per item (uncompressed)."""
        return "".join(f'{{"Item":{self.text[pk]}}}\n' for pk in sorted(self.items)).encode()

    def window(self, hour: int) -> tuple[bytes, int, list[str], list[str]]:
        """One hour of writes applied, and the window's export data (uncompressed),
        NEW_AND_OLD_IMAGES, one record per item, ordered by key as the emulator writes
        them. Also returns the change bytes (new images, or old for deletes), the keys
        updated or deleted (position deletes in Iceberg) and the keys put (new rows)."""
        rng = self.rng
        writes = max(1, round(len(self.items) * CHANGE_RATE_PER_HOUR))
        inserts = round(writes * INSERT_SHARE)
        deletes = round(writes * DELETE_SHARE)
        keys = list(self.items)
        touched = rng.sample(keys, writes - inserts)
        records: dict[str, str] = {}
        change_bytes = 0
        removed: list[str] = []
        written: list[str] = []
        micros = (1_767_225_600 + hour * 3600) * 1_000_000
        for index, pk in enumerate(touched):
            old_text = self.text[pk]
            meta = f'{{"Metadata":{{"WriteTimestampMicros":{{"N":"{micros + index}"}}}},"Keys":{{"pk":{{"S":"{pk}"}}}}'
            removed.append(pk)
            if index < deletes:
                del self.items[pk], self.text[pk]
                records[pk] = f'{meta},"OldImage":{old_text}}}\n'
                change_bytes += len(old_text)
                continue
            item = self.items[pk]
            item["status"] = {"S": rng.choice(_STATUSES)}
            item["version"] = {"N": str(int(item["version"]["N"]) + 1)}
            item["updatedAt"] = {
                "S": f"2026-02-{1 + hour // 24 % 28:02d}T{hour % 24:02d}:30:00.000Z"
            }
            words = item["notes"]["S"].split(" ")
            words[rng.randrange(len(words))] = rng.choice(_WORDS)
            item["notes"] = {"S": " ".join(words)}
            new_text = self.text[pk] = json.dumps(item, separators=(",", ":"))
            records[pk] = f'{meta},"NewImage":{new_text},"OldImage":{old_text}}}\n'
            change_bytes += len(new_text)
            written.append(pk)
        for _ in range(inserts):
            item = _item(self.next_number, rng, 0, hour)
            self.next_number += 1
            pk = item["pk"]["S"]
            self.items[pk] = item
            new_text = self.text[pk] = json.dumps(item, separators=(",", ":"))
            meta = f'{{"Metadata":{{"WriteTimestampMicros":{{"N":"{micros}"}}}},"Keys":{{"pk":{{"S":"{pk}"}}}}'
            records[pk] = f'{meta},"NewImage":{new_text}}}\n'
            change_bytes += len(new_text)
            written.append(pk)
        data = "".join(records[pk] for pk in sorted(records)).encode()
        return data, change_bytes, removed, written


# -- the saved JSON query: baseline + windows ---------------------------------------------


def _write(folder: str, name: str, data: bytes) -> int:
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return os.path.getsize(path)


@dataclass
class JsonSide:
    items: int
    item_bytes: float
    """Mean DynamoDB-JSON item size (uncompressed)."""
    baseline_raw: int
    baseline_gz: int
    baseline_gz9: int
    window_gz: list[int]
    window_raw: list[int]
    change_bytes: list[int]
    seconds: float


def json_side(table: Table, folder: str) -> JsonSide:
    started = time.perf_counter()
    raw = table.baseline()
    baseline_gz = _write(folder, "baseline.json.gz", gzip.compress(raw, GZIP_LEVEL))
    baseline_gz9 = len(gzip.compress(raw, 9))
    items, item_bytes = len(table.items), sum(map(len, table.text.values())) / len(table.text)
    window_gz, window_raw, changes = [], [], []
    os.makedirs(os.path.join(folder, "windows"))
    for hour in range(max(MEASURED_DAYS) * 24):
        data, change_bytes, _, _ = table.window(hour)
        window_raw.append(len(data))
        window_gz.append(
            _write(folder, f"windows/{hour:05d}.json.gz", gzip.compress(data, GZIP_LEVEL))
        )
        changes.append(change_bytes)
    return JsonSide(
        items=items,
        item_bytes=item_bytes,
        baseline_raw=len(raw),
        baseline_gz=baseline_gz,
        baseline_gz9=baseline_gz9,
        window_gz=window_gz,
        window_raw=window_raw,
        change_bytes=changes,
        seconds=time.perf_counter() - started,
    )


def json_bytes_at(side: JsonSide, days: int) -> tuple[int, str]:
    """Bytes the saved query reads ``days`` after the baseline, and how they were had."""
    hours = days * 24
    if hours <= len(side.window_gz):
        return side.baseline_gz + sum(side.window_gz[:hours]), "measured"
    mean = sum(side.window_gz) / len(side.window_gz)
    return round(side.baseline_gz + mean * hours), "extrapolated"


# -- the Iceberg table: Parquet written by DuckDB -----------------------------------------

_COLUMNS = """
    pk VARCHAR, customer VARCHAR, menu_item VARCHAR, quantity DECIMAL(38, 9),
    price DECIMAL(38, 9), status VARCHAR, created_at VARCHAR, updated_at VARCHAR,
    version DECIMAL(38, 9), payment_token VARCHAR, tags VARCHAR[], notes VARCHAR
"""


def _flat_rows(table: Table, keys: list[str] | None = None) -> str:
    """The items as flat JSON lines, typed as the Iceberg table's columns (numbers as
    text, read as ``DECIMAL(38, 9)`` like ``schema.py``'s ``number``)."""
    lines = []
    for pk in keys if keys is not None else sorted(table.items):
        item = table.items[pk]
        lines.append(
            _line(
                {
                    "pk": pk,
                    "customer": item["customer"]["S"],
                    "menu_item": item["menuItem"]["S"],
                    "quantity": item["quantity"]["N"],
                    "price": item["price"]["N"],
                    "status": item["status"]["S"],
                    "created_at": item["createdAt"]["S"],
                    "updated_at": item["updatedAt"]["S"],
                    "version": item["version"]["N"],
                    "payment_token": item["paymentToken"]["S"],
                    "tags": item["tags"]["SS"],
                    "notes": item["notes"]["S"],
                }
            )
        )
    return "".join(lines)


def _parquet(db: Any, rows_path: str, out_path: str) -> int:
    columns = (
        "{"
        + ", ".join(
            f"'{name}': '{kind.strip()}'"
            for name, kind in (c.strip().split(" ", 1) for c in _split_columns(_COLUMNS))
        )
        + "}"
    )
    db.execute(
        f"COPY (SELECT * FROM read_json('{rows_path}', format='newline_delimited', "
        f"columns={columns})) TO '{out_path}' (FORMAT parquet, COMPRESSION zstd)"
    )
    return os.path.getsize(out_path)


def _split_columns(spec: str) -> list[str]:
    """Split the column list on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in spec:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in (*parts, current) if p.strip()]


def _footer_bytes(path: str) -> int:
    """A Parquet file ends with the footer's length (4 bytes) and ``PAR1``."""
    with open(path, "rb") as handle:
        handle.seek(-8, os.SEEK_END)
        return int(struct.unpack("<I", handle.read(4))[0]) + 8


def _columns_bytes(db: Any, path: str, columns: tuple[str, ...]) -> int:
    wanted = ", ".join(f"'{c}'" for c in columns)
    found = db.execute(
        f"SELECT sum(total_compressed_size) FROM parquet_metadata('{path}') "
        f"WHERE path_in_schema IN ({wanted})"
    ).fetchone()
    return int(found[0]) + _footer_bytes(path)


@dataclass
class IcebergSide:
    rows: int
    file_bytes: int
    two_column_bytes: int
    window_rows_bytes: int
    window_deletes_bytes: int
    window_two_column_bytes: int


def iceberg_side(table: Table, folder: str, removed: list[str], written: list[str]) -> IcebergSide:
    db = duckdb.connect()
    rows_path = os.path.join(folder, "current.jsonl")
    with open(rows_path, "w") as handle:
        handle.write(_flat_rows(table))
    current = os.path.join(folder, "current.parquet")
    file_bytes = _parquet(db, rows_path, current)
    # One window's MERGE output: its new rows, and position deletes for the rows it
    # replaced or removed (merge-on-read, the only mode Athena writes).
    delta_rows = os.path.join(folder, "window.jsonl")
    with open(delta_rows, "w") as handle:
        handle.write(_flat_rows(table, [pk for pk in written if pk in table.items]))
    window_rows = _parquet(db, delta_rows, os.path.join(folder, "window.parquet"))
    deletes_path = os.path.join(folder, "deletes.parquet")
    data_file = "s3://bucket/warehouse/orders_current/data/00000-0-base.parquet"
    # Positions of the replaced rows in the base file: spread over it, as keys are.
    values = sorted(random.Random(11).sample(range(len(table.items)), len(removed)))
    db.execute("CREATE TABLE deletes (file_path VARCHAR, pos BIGINT)")
    db.executemany("INSERT INTO deletes VALUES (?, ?)", [(data_file, v) for v in values])
    db.execute(f"COPY deletes TO '{deletes_path}' (FORMAT parquet, COMPRESSION zstd)")
    return IcebergSide(
        rows=len(table.items),
        file_bytes=file_bytes,
        two_column_bytes=_columns_bytes(db, current, TWO_COLUMNS),
        window_rows_bytes=window_rows,
        window_deletes_bytes=os.path.getsize(deletes_path),
        window_two_column_bytes=_columns_bytes(
            db, os.path.join(folder, "window.parquet"), TWO_COLUMNS
        )
        + os.path.getsize(deletes_path),
    )


# -- transitions, executed --------------------------------------------------------------


def hourly_run_transitions(*, current: bool) -> dict[str, int]:
    """Billed transitions of one scheduled run exporting one hourly window of one
    incremental table: the table export execution (the real definition, in the
    emulator, with the emulator's 4-minute export; with the catalog on and, when
    ``current``, the table's MERGE), the Map item's ``ExportTable`` state, and the run
    machine's own states (shared by every table of the run)."""
    import boto3

    from emulator import clock, harness

    def iso(seconds: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))

    def body(aws: dict[str, Any]) -> dict[str, int]:
        boto3.client("glue", region_name=harness.REGION).create_database(
            DatabaseInput={"Name": "bench"}
        )
        harness.create_workgroup(aws["athena"], "bench", "bench-exports")
        harness.create_table(aws["dynamodb"], "orders", [{"pk": {"S": "o-0"}, "qty": {"N": "1"}}])
        harness.create_state_table(aws["dynamodb"])
        exporter = harness.deploy(
            aws["stepfunctions"],
            bucket="bench-exports",
            tables=["orders"],
            incremental=["orders"],
            catalog_database="bench",
            athena_workgroup="bench",
            current=["orders"] if current else [],
        )
        clock.advance(3600)
        exporter.run("baseline", {"scheduledTime": iso(clock.now())}, timeout=300)
        clock.advance(3600)
        aws["dynamodb"].put_item(TableName="orders", Item={"pk": {"S": "o-1"}, "qty": {"N": "2"}})
        result = exporter.run("window", {"scheduledTime": iso(clock.now())}, timeout=300)
        (table_result,) = result["tables"]
        assert [e["kind"] for e in table_result["exports"]] == ["incremental"], table_result
        child = max(exporter.table_executions(), key=lambda e: e["startDate"])["executionArn"]
        return {
            "table_export": count_transitions(exporter.history(child)) + 1,
            "run_overhead": count_transitions(exporter.history(result["executionArn"])),
        }

    return dict(in_emulator(body))


# -- cost -------------------------------------------------------------------------------


def _p(name: str) -> float:
    return PRICES[name].usd


def _athena(bytes_scanned: float) -> float:
    billed = max(bytes_scanned, _p("athena_min_mb_per_query") * MB)
    return billed / TB * _p("athena_tb_scanned")


@dataclass
class Monthly:
    export: float
    transitions: float
    athena_merge: float
    athena_queries: float
    storage: float
    requests: float
    optimizer: float

    @property
    def total(self) -> float:
        return (
            self.export
            + self.transitions
            + self.athena_merge
            + self.athena_queries
            + self.storage
            + self.requests
            + self.optimizer
        )


def monthly_costs(
    json_side_: JsonSide,
    ice: IcebergSide,
    transitions: dict[str, int],
    current_transitions: dict[str, int],
    age_days: int,
) -> dict[str, Monthly]:
    """Cost of one table for a month, COST_ITEMS_PER_TABLE items, ``age_days`` after its
    baseline, for the saved JSON query, the Iceberg table and the zero-ETL integration
    (without its per-GB ingestion fee, see ZERO_ETL_INGESTION)."""
    scale = COST_ITEMS_PER_TABLE / json_side_.items
    windows = DAYS_PER_MONTH * 24
    queries = COST_QUERIES_PER_DAY * DAYS_PER_MONTH
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    window_gz = mean(json_side_.window_gz) * scale
    change = mean(json_side_.change_bytes) * scale
    export_billed = max(change, _p("ddb_incremental_export_min_mb") * MB) / GB
    export = windows * export_billed * _p("ddb_incremental_export_gb")
    run_share = transitions["table_export"] + transitions["run_overhead"]  # one table a run
    current_share = current_transitions["table_export"] + current_transitions["run_overhead"]
    sfn = lambda per_window: windows * per_window / 1000 * _p("sfn_per_1000_transitions")  # noqa: E731
    json_read = json_side_.baseline_gz * scale + window_gz * age_days * 24
    json_files = 1 + age_days * 24
    storage_exports = (json_side_.baseline_gz * scale + window_gz * age_days * 24) / GB
    put = _p("s3_put_per_1000") / 1000
    get = _p("s3_get_per_1000") / 1000
    ice_file = ice.file_bytes * scale
    ice_window = (ice.window_rows_bytes + ice.window_deletes_bytes) * scale
    # Between compactions a query reads on average half the uncompacted windows.
    ice_query = ice_file + ice_window * COMPACTION_AFTER_WINDOWS / 2
    # MERGE: the window's gzipped source, plus the target (whole table, conservative).
    merge = _athena(window_gz + ice_query)
    optimizer_hours = (
        sum(OPTIMIZER_RUNS_PER_DAY.values()) * DAYS_PER_MONTH * OPTIMIZER_DPU_HOURS_PER_RUN
    )
    optimizer = optimizer_hours * _p("glue_optimizer_dpu_hour")
    storage = _p("s3_standard_gb_month")
    saved_json = Monthly(
        export=export,
        transitions=sfn(run_share),
        athena_merge=0.0,
        athena_queries=queries * _athena(json_read),
        storage=storage_exports * storage,
        requests=windows * S3_PUTS_PER_EXPORT * put + queries * json_files * get,
        optimizer=0.0,
    )
    iceberg = Monthly(
        export=export,
        transitions=sfn(current_share),
        athena_merge=windows * merge,
        athena_queries=queries * _athena(ice_query),
        storage=(storage_exports + ice_file * ICEBERG_RETAINED_COPIES / GB) * storage,
        requests=windows * (S3_PUTS_PER_EXPORT + S3_PUTS_PER_MERGE) * put
        + queries * (1 + COMPACTION_AFTER_WINDOWS) * get,
        optimizer=optimizer,
    )
    zero_etl = Monthly(
        export=export,
        transitions=0.0,
        athena_merge=0.0,
        athena_queries=queries * _athena(ice_query),
        storage=ice_file * ICEBERG_RETAINED_COPIES / GB * storage,
        requests=queries * (1 + COMPACTION_AFTER_WINDOWS) * get,
        optimizer=optimizer,
    )
    return {
        "saved JSON query": saved_json,
        "Iceberg _current": iceberg,
        "zero-ETL (no ingest fee)": zero_etl,
    }


# -- printing ---------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value / MB:,.2f}"


def _usd(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.01 or value == 0 else f"{value:.4f}"


def run(out: Out = print) -> None:
    """Measure and print the current-state section of ``make bench``."""

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-current-") as folder:
        table = Table.create(ITEMS)
        side = json_side(table, folder)
        _, _, removed, written = table.window(max(MEASURED_DAYS) * 24)
        ice = iceberg_side(table, folder, removed, written)
    transitions = hourly_run_transitions(current=False)
    current_transitions = hourly_run_transitions(current=True)
    minimum = PRICES["athena_min_mb_per_query"].usd * MB

    out(
        f"\n== Current state: bytes read per query, {ITEMS:,} items (~{side.item_bytes:,.0f} B each "
        f"in DynamoDB JSON), {CHANGE_RATE_PER_HOUR:.0%} of items written per hour, hourly windows"
    )
    out(
        f"baseline: {_mb(side.baseline_raw)} MB raw, {_mb(side.baseline_gz)} MB gzip -{GZIP_LEVEL} "
        f"({_mb(side.baseline_gz9)} MB at -9); one window: {_mb(sum(side.window_raw) / len(side.window_raw))} MB raw, "
        f"{_mb(sum(side.window_gz) / len(side.window_gz))} MB gzip (mean of {len(side.window_gz)}); "
        f"written in {side.seconds:.1f} s"
    )
    rows = []
    for days in (*MEASURED_DAYS, EXTRAPOLATED_DAYS):
        json_bytes, how = json_bytes_at(side, days)
        rows.append(
            {
                "days since baseline": days,
                "JSON files read": 1 + days * 24,
                "JSON MB read (SELECT * or 2 columns)": _mb(json_bytes),
                "JSON how": how,
                "Iceberg MB, SELECT * (compacted)": _mb(ice.file_bytes),
                f"Iceberg MB, {'+'.join(TWO_COLUMNS)} (compacted)": _mb(ice.two_column_bytes),
                f"Iceberg MB, SELECT * (+{COMPACTION_AFTER_WINDOWS} windows uncompacted)": _mb(
                    ice.file_bytes
                    + COMPACTION_AFTER_WINDOWS * (ice.window_rows_bytes + ice.window_deletes_bytes)
                ),
            }
        )
    out(_table(rows))
    out(
        f"Iceberg: one Parquet file (DuckDB {duckdb.__version__}, ZSTD, Athena's default codec for "
        f"Iceberg), {ice.rows:,} rows; a window's MERGE adds {ice.window_rows_bytes / 1000:,.1f} kB of rows and "
        f"{ice.window_deletes_bytes / 1000:,.1f} kB of position deletes. Athena bills at least "
        f"{minimum / MB:.0f} MB a query: every Iceberg figure above is billed as {minimum / MB:.0f} MB."
    )

    out(
        f"\n== Cost per month (us-east-1), {COST_ITEMS_PER_TABLE:,} items a table (sizes above scaled), "
        f"{CHANGE_RATE_PER_HOUR:.0%}/h written, {DAYS_PER_MONTH * 24} hourly windows, "
        f"{COST_QUERIES_PER_DAY} current-state queries a day"
    )
    out(
        f"Step Functions, executed: {transitions['table_export']} transitions per table per hourly run "
        f"(+{transitions['run_overhead']} per run for the run machine, counted here as if one table a run); "
        f"with a current table (the window's MERGE included): {current_transitions['table_export']}."
    )
    cost_rows = []
    for age in (30, EXTRAPOLATED_DAYS):
        per_table = monthly_costs(side, ice, transitions, current_transitions, age)
        for label, cost in per_table.items():
            if age != 30 and label != "saved JSON query":
                continue  # the Iceberg table and zero-ETL do not grow with the chain's age
            row: dict[str, Any] = {"approach": label, "baseline age (days)": age}
            row.update(
                {
                    "export": _usd(cost.export),
                    "SFN": _usd(cost.transitions),
                    "Athena MERGE": _usd(cost.athena_merge),
                    "Athena queries": _usd(cost.athena_queries),
                    "S3 storage": _usd(cost.storage),
                    "S3 requests": _usd(cost.requests),
                    "Glue optimizers": _usd(cost.optimizer),
                }
            )
            for count in COST_TABLE_COUNTS:
                row[f"{count:,} table{'s' if count > 1 else ''}"] = _usd(cost.total * count)
            cost_rows.append(row)
    out(_table(cost_rows))
    scale = COST_ITEMS_PER_TABLE / side.items
    ingested = (
        side.baseline_raw * scale / 12
        + sum(side.change_bytes) / len(side.change_bytes) * scale * 720
    ) / GB
    out(
        f"Per-table figures are USD a month. zero-ETL: the same exports (PITR full + incremental), no "
        f"Step Functions; ~{ingested:,.2f} GB ingested a table a month (changes, plus the initial "
        f"load spread over a year). {ZERO_ETL_INGESTION}"
    )
    out(
        "Assumptions: incremental export billed on the changed items' size, at least "
        f"{PRICES['ddb_incremental_export_min_mb'].usd:.0f} MB an export; MERGE scans the window's "
        "gzipped files plus the whole target table (column pruning would lower it); optimizer runs "
        f"at {OPTIMIZER_DPU_HOURS_PER_RUN * 60:.0f} DPU-minute each, {sum(OPTIMIZER_RUNS_PER_DAY.values())} "
        "runs a day; S3 storage counts the exports kept since the baseline."
    )
    out("Prices:")
    for name, price in PRICES.items():
        mark = "" if price.verified else " (from a secondary source; check on the AWS page)"
        amount = f"{price.usd:g}" if price.unit.startswith("MB") else f"${price.usd:g}"
        out(f"  {name}: {amount} {price.unit}, {price.url}{mark}")
    out(f"(current-state section: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    run(print)
