"""Change history, as plain data: every write to a table, in S3 within minutes, without
Lambda. ``change_history.ChangeHistory`` turns these into resources; the emulator's
``change_stream`` model runs the same template, prefixes and SQL.

The path (see ``docs/change-history.md`` for why this one):

    table's DynamoDB stream (NEW_AND_OLD_IMAGES, enabled by the table's owner)
      -> EventBridge Pipe (batches; input transformer shapes one JSON line per record)
      -> Amazon Data Firehose (Direct PUT; newline appended; buffers; GZIP)
      -> s3://<bucket>/<prefix>/<table>/history/<yyyy-MM-dd>/<HH>/*.json.gz

Each line carries ``event_id`` (the stream record's ``eventID``), ``event_name``
(``INSERT`` | ``MODIFY`` | ``REMOVE``), ``keys``, ``new_image``, ``old_image`` (typed
DynamoDB JSON, ``null`` where the record has none), ``approximate_creation_time``
(epoch seconds, the precision DynamoDB Streams gives: "rounded down to the closest
second", "StreamRecord") and ``sequence_number`` (the record's ``SequenceNumber``, the
ordering key). Delivery is at least once: readers keep one line per ``event_id`` and
order one item's changes by ``sequence_number`` compared as a number, which for
decimal digit strings without leading zeros is ``(length, text)`` order.

Folders are named after Firehose's arrival time of the oldest record in the object
("Custom prefixes for Amazon S3 objects"), not after the write: a write lands in its
own hour's folder or a later one, never an earlier one. Queries for a time range
therefore read partitions up to a day past its end and filter on
``approximate_creation_time``.

Standard library only, as the rest of the component's builders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from table_exporter.catalog.schema import DECIMAL, Column, glue_table_name, quote_identifier
from table_exporter.catalog.tables import QUERY_NAME_LIMIT, json_storage
from table_exporter.kernel.alarms import AlarmSpec, Subject, any_in_five_minutes, messages_waiting
from table_exporter.kernel.iam import (
    Document,
    allow,
    document,
    region_of,
    service_trust,
    via_service,
)
from table_exporter.kernel.targets import normalise_prefix

HISTORY_FOLDER = "history"
ERRORS_FOLDER = "history-errors"
GLUE_SUFFIX = "_history"
VIEW_TYPE = "NEW_AND_OLD_IMAGES"
"""The stream view type the history needs: both images, so a record is self-contained."""

FIREHOSE_BATCH_LIMIT = 500
"""Records per ``PutRecordBatch`` ("PutRecordBatch", Firehose API reference); a pipe's
batch may not exceed what its target accepts ("Amazon EventBridge Pipes batching and
concurrency")."""

# -- the record ------------------------------------------------------------------------

FIELDS: tuple[tuple[str, str, str], ...] = (
    # (JSON line field, where the Pipes event has it, how it is written)
    ("event_id", "$.eventID", "string"),
    ("event_name", "$.eventName", "string"),
    ("keys", "$.dynamodb.Keys", "json"),
    ("new_image", "$.dynamodb.NewImage", "json"),
    ("old_image", "$.dynamodb.OldImage", "json"),
    ("approximate_creation_time", "$.dynamodb.ApproximateCreationDateTime", "json"),
    ("sequence_number", "$.dynamodb.SequenceNumber", "string"),
    ("size_bytes", "$.dynamodb.SizeBytes", "json"),
)


def input_template() -> str:
    """The pipe's ``InputTemplate``: one JSON object per stream record.

    "Amazon EventBridge Pipes input transformation": placeholders are ``<$.path>``; a
    placeholder for a string goes inside quotes, one for an object, array or number
    does not. Pipes applies the template to each record of a batch separately
    ("Amazon EventBridge Pipes batching and concurrency"). What Pipes writes for a path
    the record lacks (``NewImage`` of a ``REMOVE``, ``OldImage`` of an ``INSERT``) is
    undocumented; readers treat a missing or ``null`` image alike."""
    parts = []
    for name, path, kind in FIELDS:
        value = f'"<{path}>"' if kind == "string" else f"<{path}>"
        parts.append(f'"{name}": {value}')
    return "{" + ", ".join(parts) + "}"


# -- where it goes ---------------------------------------------------------------------


def history_root(prefix: str, table_name: str) -> str:
    """``<prefix>/<table>/history/``: data files only (Athena reads every object)."""
    return f"{normalise_prefix(prefix)}/{table_name}/{HISTORY_FOLDER}/"


def errors_root(prefix: str, table_name: str) -> str:
    """``<prefix>/<table>/history-errors/``: beside the history, never inside it."""
    return f"{normalise_prefix(prefix)}/{table_name}/{ERRORS_FOLDER}/"


def firehose_prefix(prefix: str, table_name: str) -> str:
    """Firehose ``Prefix``: day and hour folders from ``!{timestamp:...}`` (Java
    DateTimeFormatter patterns, UTC; "Custom prefixes for Amazon S3 objects")."""
    return history_root(prefix, table_name) + "!{timestamp:yyyy-MM-dd}/!{timestamp:HH}/"


def firehose_error_prefix(prefix: str, table_name: str) -> str:
    """Firehose ``ErrorOutputPrefix``. A prefix with expressions needs an error prefix
    that names ``!{firehose:error-output-type}`` ("Custom prefixes for Amazon S3
    objects")."""
    return (
        errors_root(prefix, table_name)
        + "!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/!{timestamp:HH}/"
    )


@dataclass(frozen=True)
class HistorySettings:
    """Tunables, each within the range AWS documents for it."""

    batch_size: int = 500
    """Pipe ``BatchSize``: 1-10,000 ("PipeSourceDynamoDBStreamParameters"), and at most
    ``FIREHOSE_BATCH_LIMIT`` for a Firehose target."""
    batching_window_seconds: int = 30
    """Pipe ``MaximumBatchingWindowInSeconds``: 0-300."""
    maximum_retry_attempts: int = 10
    """Pipe ``MaximumRetryAttempts``: -1 (until the record expires) to 10,000. Finite, so
    a batch the target keeps refusing goes to the dead-letter queue (and its alarm)
    while the stream still holds it, rather than blocking its shard for 24 hours."""
    parallelization_factor: int = 1
    """Pipe ``ParallelizationFactor`` 1-10. Records with the same key stay in order
    at any factor; 1 keeps the two-readers-per-shard rule easy to reason about."""
    buffer_seconds: int = 60
    """Firehose ``BufferingInterval``: 0-900 s."""
    buffer_mib: int = 64
    """Firehose ``BufferingSize``: 1-128 MiB (uncompressed, before GZIP)."""

    def __post_init__(self) -> None:
        checks = [
            ("batch_size", self.batch_size, 1, FIREHOSE_BATCH_LIMIT),
            ("batching_window_seconds", self.batching_window_seconds, 0, 300),
            ("maximum_retry_attempts", self.maximum_retry_attempts, -1, 10_000),
            ("parallelization_factor", self.parallelization_factor, 1, 10),
            ("buffer_seconds", self.buffer_seconds, 0, 900),
            ("buffer_mib", self.buffer_mib, 1, 128),
        ]
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise ValueError(f"change history {name}={value}: must be {low}-{high}")


def pipe_source_parameters(settings: HistorySettings, dead_letter_queue_arn: Any) -> dict[str, Any]:
    """``SourceParameters.DynamoDBStreamParameters`` of the pipe (API field names).

    ``TRIM_HORIZON`` so that nothing the stream holds when the pipe starts is skipped;
    ``AUTOMATIC_BISECT`` splits a failing batch so one bad record does not hold back
    the rest; records never age out before the stream drops them (24 hours)."""
    return {
        "DynamoDBStreamParameters": {
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": settings.batch_size,
            "MaximumBatchingWindowInSeconds": settings.batching_window_seconds,
            "MaximumRetryAttempts": settings.maximum_retry_attempts,
            "MaximumRecordAgeInSeconds": -1,
            "OnPartialBatchItemFailure": "AUTOMATIC_BISECT",
            "ParallelizationFactor": settings.parallelization_factor,
            "DeadLetterConfig": {"Arn": dead_letter_queue_arn},
        }
    }


def pipe_target_parameters() -> dict[str, Any]:
    """``TargetParameters``: a Firehose target takes only the input template."""
    return {"InputTemplate": input_template()}


def firehose_s3_configuration(
    *,
    bucket_arn: Any,
    role_arn: Any,
    prefix: str,
    table_name: str,
    settings: HistorySettings,
    kms_key_arn: Any | None = None,
    log_group_name: Any | None = None,
    log_stream_name: Any | None = None,
) -> dict[str, Any]:
    """``ExtendedS3DestinationConfiguration`` (API field names).

    GZIP objects named ``.json.gz``; ``AppendDelimiterToRecord`` puts each record on its
    own line ("Processor", Firehose API reference: no Lambda, no parameters needed);
    with a KMS key the objects are SSE-KMS with it."""
    config: dict[str, Any] = {
        "BucketARN": bucket_arn,
        "RoleARN": role_arn,
        "Prefix": firehose_prefix(prefix, table_name),
        "ErrorOutputPrefix": firehose_error_prefix(prefix, table_name),
        "BufferingHints": {
            "IntervalInSeconds": settings.buffer_seconds,
            "SizeInMBs": settings.buffer_mib,
        },
        "CompressionFormat": "GZIP",
        "FileExtension": ".json.gz",
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [{"Type": "AppendDelimiterToRecord"}],
        },
        "EncryptionConfiguration": (
            {"KMSEncryptionConfig": {"AWSKMSKeyARN": kms_key_arn}}
            if kms_key_arn
            else {"NoEncryptionConfig": "NoEncryption"}
        ),
    }
    if log_group_name is not None:
        config["CloudWatchLoggingOptions"] = {
            "Enabled": True,
            "LogGroupName": log_group_name,
            "LogStreamName": log_stream_name,
        }
    return config


# -- Glue and Athena -------------------------------------------------------------------

IMAGE_TYPE = "map<string,string>"
"""Keys and images as a map of attribute name to its typed JSON text, as the
``<table>_changes`` table reads incremental exports."""

GLUE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("event_name", "string"),
    ("keys", IMAGE_TYPE),
    ("new_image", IMAGE_TYPE),
    ("old_image", IMAGE_TYPE),
    ("approximate_creation_time", "double"),
    ("sequence_number", "string"),
    ("size_bytes", "bigint"),
)
DUCKDB_COLUMNS: dict[str, str] = {
    "event_id": "VARCHAR",
    "event_name": "VARCHAR",
    "keys": "JSON",
    "new_image": "JSON",
    "old_image": "JSON",
    "approximate_creation_time": "DOUBLE",
    "sequence_number": "VARCHAR",
    "size_bytes": "BIGINT",
}
"""The same columns for DuckDB's ``read_json``: given explicitly, never detected."""


def history_glue_name(table_name: str) -> str:
    return glue_table_name(table_name, GLUE_SUFFIX)


def glue_table_input(
    *, table_name: str, bucket: str, prefix: str, start_day: str
) -> dict[str, Any]:
    """Glue ``TableInput`` of ``<table>_history``: partition projection over the day
    (``date``, one a day from ``start_day``) and hour (``integer`` 0-23, two digits)
    folders, so there is no crawler and no ``ALTER TABLE`` (Athena "Partition
    projection"); about 8,760 partitions a year, and a query pinning days reads few."""
    location = f"s3://{bucket}/{history_root(prefix, table_name)}"
    return {
        "Name": history_glue_name(table_name),
        "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [
            {"Name": "day", "Type": "string"},
            {"Name": "hour", "Type": "string"},
        ],
        "Parameters": {
            "classification": "json",
            "compressionType": "gzip",
            "projection.enabled": "true",
            "projection.day.type": "date",
            "projection.day.format": "yyyy-MM-dd",
            "projection.day.range": f"{start_day},NOW",
            "projection.day.interval": "1",
            "projection.day.interval.unit": "DAYS",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
            "storage.location.template": location + "${day}/${hour}/",
        },
        "StorageDescriptor": json_storage(
            [{"Name": n, "Type": t} for n, t in GLUE_COLUMNS], location
        ),
    }


def _athena_key(column: Column) -> str:
    value = f"json_extract_scalar(element_at(keys, '{column.name}'), '$.{column.descriptor}')"
    return f"CAST({value} AS {DECIMAL})" if column.type == "number" else value


def _duckdb_key(column: Column) -> str:
    value = f"json_extract_string(keys, '$.\"{column.name}\".{column.descriptor}')"
    return f"CAST({value} AS {DECIMAL})" if column.type == "number" else value


def _check_keys(key_columns: Sequence[Column]) -> None:
    if not 1 <= len(key_columns) <= 2 or any(
        c.type not in ("string", "number", "binary") for c in key_columns
    ):
        raise ValueError("key columns: one or two, each string, number or binary")


ORDER = "length(sequence_number), sequence_number"
"""Sequence numbers as numbers: digit strings of 21-40 characters ("StreamRecord"),
wider than any SQL integer type both engines share."""


def _deduplicated(source: str, key_sql: Sequence[tuple[str, str]], images: str) -> str:
    keys = "".join(f",\n    {expr} AS {quote_identifier(alias)}" for expr, alias in key_sql)
    return (
        "SELECT * FROM (\n"
        "  SELECT event_id, event_name, sequence_number, approximate_creation_time"
        f"{keys},\n    {images},\n"
        "    row_number() OVER (PARTITION BY event_id ORDER BY sequence_number) AS copy\n"
        f"  FROM {source}\n"
        ") AS deduplicated WHERE copy = 1"
    )


def athena_deduplicated(database: str, table_name: str, key_columns: Sequence[Column]) -> str:
    """One row per change (duplicate deliveries dropped), keys typed."""
    _check_keys(key_columns)
    return _deduplicated(
        f"{database}.{history_glue_name(table_name)}",
        [(_athena_key(c), c.name) for c in key_columns],
        "new_image, old_image, day, hour",
    )


def item_history_sql(database: str, table_name: str, key_columns: Sequence[Column]) -> str:
    """Saved query 'history of one item': every change of the item whose key values
    are the query's parameters (``?``, in key order: hash, then range), oldest first.
    Run with ``ExecutionParameters`` (StartQueryExecution)."""
    where = " AND ".join(
        f"{quote_identifier(c.name)} = " + (f"CAST(? AS {DECIMAL})" if c.type == "number" else "?")
        for c in key_columns
    )
    return (
        f"WITH changes AS (\n{athena_deduplicated(database, table_name, key_columns)}\n)\n"
        f"SELECT * FROM changes WHERE {where}\nORDER BY {ORDER}"
    )


def time_range_sql(database: str, table_name: str, key_columns: Sequence[Column]) -> str:
    """Saved query 'changes in a time range': every change written at or after the first
    parameter and before the second (ISO-8601 timestamps), in stream order per item.
    Folders are by arrival, so the partitions read run to a day past the range's end."""
    return (
        "WITH bounds AS (SELECT from_iso8601_timestamp(?) AS t0, "
        "from_iso8601_timestamp(?) AS t1),\n"
        f"changes AS (\n{athena_deduplicated(database, table_name, key_columns)}\n)\n"
        "SELECT changes.* FROM changes CROSS JOIN bounds\n"
        "WHERE day BETWEEN date_format(t0, '%Y-%m-%d') "
        "AND date_format(t1 + INTERVAL '1' DAY, '%Y-%m-%d')\n"
        "  AND approximate_creation_time >= to_unixtime(t0)"
        " AND approximate_creation_time < to_unixtime(t1)\n"
        f"ORDER BY {', '.join(quote_identifier(c.name) for c in key_columns)}, {ORDER}"
    )


def query_names(table_name: str) -> dict[str, str]:
    """Athena named-query names, each within ``QUERY_NAME_LIMIT``."""
    base = history_glue_name(table_name)
    out = {}
    for role, suffix in (("item", "_item_history"), ("range", "_time_range")):
        keep = QUERY_NAME_LIMIT - len(suffix)
        out[role] = base[:keep] + suffix
    return out


def duckdb_read(files_glob: str) -> str:
    columns = ", ".join(f"'{n}': '{t}'" for n, t in DUCKDB_COLUMNS.items())
    return (
        f"read_json('{files_glob}', format='newline_delimited', compression='gzip', "
        f"columns={{{columns}}})"
    )


def duckdb_deduplicated(files_glob: str, key_columns: Sequence[Column]) -> str:
    """What ``athena_deduplicated`` gives, over local files, through the same mapping
    (images as JSON text; no partition columns: the files are named directly)."""
    _check_keys(key_columns)
    return _deduplicated(
        duckdb_read(files_glob),
        [(_duckdb_key(c), c.name) for c in key_columns],
        "new_image, old_image",
    )


def duckdb_ordered(files_glob: str, key_columns: Sequence[Column]) -> str:
    """Every change, deduplicated, per item in stream order."""
    keys = ", ".join(quote_identifier(c.name) for c in key_columns)
    return f"{duckdb_deduplicated(files_glob, key_columns)}\nORDER BY {keys}, {ORDER}"


# -- alarms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryAlarm:
    """An ``AlarmSpec`` and the dimension its metric is reported under."""

    spec: AlarmSpec
    dimension: str
    """``DeliveryStreamName`` | ``PipeName`` | ``QueueName``."""


def _subject(name: str) -> Subject:
    # alarms.Subject names the exporter's own subjects; these are the history's.
    return cast(Subject, name)


DEFAULT_START_DAY = "2026-01-01"
"""The Glue projection's first day: a fixed date before the first release that wrote
change history, so no record ever falls outside the projection (a range relative to
now, such as ``NOW-1YEARS``, silently drops older days from every query) and previews
never drift (a date of deployment would change at every preview). Day/hour folders add
about 8,760 partitions a year for a query that pins no day; the saved queries pin days
(``docs/change-history.md``)."""


def alarm_specs(settings: HistorySettings) -> list[HistoryAlarm]:
    """Metric names from "Monitoring Amazon Data Firehose with CloudWatch metrics"
    (``AWS/Firehose``, dimension ``DeliveryStreamName``) and "Logging and monitoring
    Amazon EventBridge Pipes" (``AWS/EventBridge/Pipes``, dimension ``PipeName``).
    Pipes publishes no iterator-age metric: a stalled pipe shows as failures, as dead
    letters and, downstream, as Firehose receiving nothing (which no metric alarms on
    without knowing the write rate)."""
    # Firehose's advice: alarm when freshness exceeds the buffering limit (15 minutes).
    freshness = max(900, 2 * settings.buffer_seconds + 300)
    return [
        HistoryAlarm(
            AlarmSpec(
                role="history-delivery-failing",
                subject=_subject("delivery_stream"),
                namespace="AWS/Firehose",
                metric_name="DeliveryToS3.Success",
                statistic="Minimum",
                period_seconds=300,
                evaluation_periods=3,
                comparison="LessThanThreshold",
                threshold=1,
                # Reported only while Firehose delivers: no writes, no datapoints.
                treat_missing_data="notBreaching",
                description="Firehose is failing to put change-history objects into S3 (it keeps retrying for up to 24 hours).",
            ),
            "DeliveryStreamName",
        ),
        HistoryAlarm(
            AlarmSpec(
                role="history-delivery-behind",
                subject=_subject("delivery_stream"),
                namespace="AWS/Firehose",
                metric_name="DeliveryToS3.DataFreshness",
                statistic="Maximum",
                period_seconds=300,
                evaluation_periods=1,
                comparison="GreaterThanThreshold",
                threshold=freshness,
                # No records in the stream, no age: not a breach.
                treat_missing_data="notBreaching",
                description=f"The oldest change not yet in S3 is more than {freshness} s old.",
            ),
            "DeliveryStreamName",
        ),
        HistoryAlarm(
            any_in_five_minutes(
                "history-pipe-failed",
                _subject("pipe"),
                "ExecutionFailed",
                "The change-history pipe failed to hand a batch to Firehose; it retries, then dead-letters the batch.",
                namespace="AWS/EventBridge/Pipes",
            ),
            "PipeName",
        ),
        HistoryAlarm(
            any_in_five_minutes(
                "history-pipe-partially-failing",
                _subject("pipe"),
                "ExecutionPartiallyFailed",
                "Some records of a change-history batch failed at Firehose; the pipe retries them, then dead-letters them.",
                namespace="AWS/EventBridge/Pipes",
            ),
            "PipeName",
        ),
        HistoryAlarm(
            any_in_five_minutes(
                "history-target-failing",
                _subject("pipe"),
                "TargetStageFailed",
                "Firehose refused whole change-history batches; a pipe failing like this for long may be disabled by Pipes.",
                namespace="AWS/EventBridge/Pipes",
            ),
            "PipeName",
        ),
        HistoryAlarm(
            messages_waiting(
                "history-dead-letters",
                "A change-history batch was dead-lettered: re-drive it from the stream within 24 hours (docs/change-history.md).",
            ),
            "QueueName",
        ),
    ]


# -- IAM -------------------------------------------------------------------------------


def pipes_trust_policy(account_id: str, pipe_arn_pattern: str) -> Document:
    """Only EventBridge Pipes, acting for this account's pipe, may assume the role."""
    return service_trust("PipesForThisPipe", "pipes.amazonaws.com", account_id, pipe_arn_pattern)


def firehose_trust_policy(account_id: str, delivery_stream_arn_pattern: str) -> Document:
    """Only Firehose, acting for this account's delivery stream, may assume the role."""
    return service_trust(
        "FirehoseForThisDeliveryStream",
        "firehose.amazonaws.com",
        account_id,
        delivery_stream_arn_pattern,
    )


def pipe_role_policy(
    *,
    table_arn: str,
    delivery_stream_arn: str,
    dead_letter_queue_arn: str,
    kms_key_arn: str | None = None,
) -> Document:
    """Read the one stream, put into the one delivery stream, dead-letter into the one
    queue ("Event source permissions for Amazon EventBridge Pipes": DescribeStream,
    GetRecords, GetShardIterator, ListStreams; ``sqs:SendMessage`` for the DLQ).
    ``dynamodb:ListStreams`` takes no resource ("*" is its only form). The stream is
    named ``<table ARN>/stream/*``: a stream's label holds colons, which IAM's ARN
    matching (and parliament) split on, and a re-enabled stream keeps the grant."""
    statements = [
        allow(
            "ReadTheTablesStream",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            [f"{table_arn}/stream/*"],
        ),
        allow("ListStreams", ["dynamodb:ListStreams"], ["*"]),
        allow(
            "PutIntoTheDeliveryStream",
            ["firehose:PutRecord", "firehose:PutRecordBatch"],
            [delivery_stream_arn],
        ),
        allow("DeadLetterFailedBatches", ["sqs:SendMessage"], [dead_letter_queue_arn]),
    ]
    if kms_key_arn:
        statements.append(
            allow(
                "EncryptDeadLetters",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [kms_key_arn],
                Condition={"StringEquals": via_service("sqs", region_of(kms_key_arn))},
            )
        )
    return document(*statements)


def firehose_role_policy(
    *,
    bucket_arn: str,
    prefix: str,
    table_name: str,
    kms_key_arn: str | None = None,
    log_stream_arn: str | None = None,
) -> Document:
    """Write objects under the history and error folders only (the S3 actions
    "Grant Firehose access to an Amazon S3 destination" lists), with the key when set
    (``kms:ViaService`` S3 in the key's region). The encryption context ``aws:s3:arn`` is
    an object under those folders, or the bucket itself: with S3 Bucket Keys, which the
    bucket the component creates uses, S3 asks KMS with the bucket's ARN ("Reducing the
    cost of SSE-KMS with Amazon S3 Bucket Keys")."""
    objects = [
        f"{bucket_arn}/{history_root(prefix, table_name)}*",
        f"{bucket_arn}/{errors_root(prefix, table_name)}*",
    ]
    statements = [
        allow(
            "LocateTheBucket",
            ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            [bucket_arn],
        ),
        allow(
            "WriteHistoryObjects",
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            objects,
        ),
    ]
    if kms_key_arn:
        statements.append(
            allow(
                "EncryptHistoryObjects",
                ["kms:Decrypt", "kms:GenerateDataKey"],
                [kms_key_arn],
                Condition={
                    "StringEquals": via_service("s3", region_of(kms_key_arn)),
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, *objects]},
                },
            )
        )
    if log_stream_arn:
        statements.append(allow("LogDeliveryErrors", ["logs:PutLogEvents"], [log_stream_arn]))
    return document(*statements)


# -- cost and capacity -----------------------------------------------------------------


@dataclass(frozen=True)
class CostEstimate:
    """USD per million writes, from list prices (us-east-1) that ``docs/change-history.md``
    names and dates; check the pricing pages before relying on them."""

    stream_reads: float
    pipes: float
    firehose: float

    @property
    def total(self) -> float:
        return self.stream_reads + self.pipes + self.firehose


def cost_per_million_writes(record_bytes: int = 1024, batch_size: int = 500) -> CostEstimate:
    """Streams read request units: one per GetRecords call ($0.02 per 100,000);
    Pipes: $0.40 per million requests, each 64 KB of a record one request; Firehose
    Direct PUT ingestion: $0.029 per GB, each record rounded up to 5 KB."""
    reads = 1_000_000 / max(1, batch_size) * 0.02 / 100_000
    pipe_requests = 1_000_000 * max(1, -(-record_bytes // 65_536))
    pipes = pipe_requests * 0.40 / 1_000_000
    billed = max(5 * 1024, -(-record_bytes // 5120) * 5120)
    firehose = 1_000_000 * billed / 1024**3 * 0.029
    return CostEstimate(round(reads, 4), round(pipes, 4), round(firehose, 4))
