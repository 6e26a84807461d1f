"""The change-history path, modelled: a table's writes -> DynamoDB stream records -> an
EventBridge Pipe -> an Amazon Data Firehose buffer -> gzipped JSON lines in (moto's) S3.

moto has neither Pipes nor a Firehose that buffers, processes or partitions, and its
DynamoDB streams are not fed by the change log's virtual time. This module is a model
on top of ``change_log`` (every write, with virtual time) and moto's S3 and SQS, using
the component's own builders (``table_exporter.history.spec``: the input template, the
prefixes, the settings). What it does, and the AWS page each piece follows
("undocumented" where AWS says nothing and the model picks one behaviour):

Stream ("Change data capture for DynamoDB Streams", "StreamRecord")
- one record per write that changed the item: a write leaving the item as it was
  writes no record ("Change data capture for DynamoDB Streams"); ``eventName`` is
  ``INSERT`` (no old item), ``REMOVE`` (no new item) or ``MODIFY``; ``Keys``,
  ``NewImage``, ``OldImage`` as the view type ``NEW_AND_OLD_IMAGES`` gives them;
  ``ApproximateCreationDateTime`` in epoch seconds rounded down ("StreamRecord");
- ``SequenceNumber``: digit strings of 21-40 characters ("StreamRecord"), increasing
  within the shard; one shard per table here (how DynamoDB splits shards is
  undocumented), starting just below 10**21 so a long workload crosses from 21 to 22
  digits and readers must compare them as numbers; ``eventID`` a 32-hex-digit string
  unique per record (its format: undocumented);
- records are kept 24 hours ("Change data capture for DynamoDB Streams"): a record not
  yet read (or re-driven) by then is gone.

Pipe ("Amazon DynamoDB stream as a source for EventBridge Pipes",
"PipeSourceDynamoDBStreamParameters", "Amazon EventBridge Pipes batching and
concurrency", "Amazon EventBridge Pipes error handling and troubleshooting")
- reads the shard in order; a batch closes at ``BatchSize`` records or when
  ``MaximumBatchingWindowInSeconds`` has passed since its first record;
- applies the input template to each record separately; ``<$.path>`` placeholders as
  "Amazon EventBridge Pipes input transformation" describes; a path the record lacks
  becomes ``null`` (undocumented);
- a batch the target refuses is retried up to ``MaximumRetryAttempts`` times (back-off
  of 1 s doubling: undocumented), the whole batch each time, so records a partly
  failed ``PutRecordBatch`` had accepted arrive again (at-least-once delivery; whether
  Pipes resends only the failed records is undocumented). Exhausted, the batch's
  description (shard, first and last sequence number: the records are not included,
  as for Lambda's stream failure destinations; Pipes' message shape is undocumented)
  goes to the dead-letter queue and the pipe moves on. ``redrive`` re-reads such a
  range from the stream, as the runbook in ``docs/change-history.md`` does.

Firehose ("Amazon Data Firehose buffering hints", "Custom prefixes for Amazon S3
objects", "Configure Amazon S3 object name format", "Processor", "Troubleshoot errors
in Amazon Data Firehose")
- appends a newline to each record (``AppendDelimiterToRecord``); buffers until
  ``SizeInMBs`` of incoming data or ``IntervalInSeconds`` after the buffer's first
  record, whichever first; writes one GZIP object per flush named
  ``<evaluated prefix><stream>-1-yyyy-MM-dd-HH-mm-ss-<uuid>.json.gz`` where the
  prefix's ``!{timestamp:...}`` is the arrival time of the oldest record in the object
  (the suffix's time: the same; undocumented which);
- a failed S3 put is retried (every 30 s here: undocumented) for as long as Firehose
  keeps records, 24 hours for Direct PUT, then they are lost;
- a record that fails processing is written under the error prefix with
  ``!{firehose:error-output-type}`` = ``processing-failed`` as Firehose's error record
  (``attemptsMade``, ``arrivalTimestamp``, ``errorCode``, ``errorMessage``,
  ``attemptEndingTimestamp``, ``rawData`` base64), after its retries (the fields as
  "Data transformation failure handling" lists them; which records AWS fails on this
  Lambda-free path is undocumented: the ``Faults`` knob chooses them).

Authorisation ("Grant Firehose access to an Amazon S3 destination", "Amazon EventBridge
Pipes permissions"): when ``authorization.REGISTRY`` knows the role of the pipe
(``pipe_arn``) or of the delivery stream (``delivery_stream_arn``), the pipe's
``firehose:PutRecordBatch`` and ``sqs:SendMessage`` and Firehose's S3 puts (with their
SSE-KMS data key, ``iam_requests.put_requests``) are made as that role. A put into the
stream that is denied is a refused batch (retried, then dead-lettered); an S3 put that
is denied is a failed put (retried until the records expire: Firehose retries S3
errors, "Troubleshoot errors in Amazon Data Firehose"); ``Report.access_denied``
counts both.

Faults (``Faults``) inject duplicates, reordering inside a delivery, refused batches,
processing failures and failing S3 puts. ``Report`` counts what happened.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import gzip
import hashlib
import json
import random
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from table_exporter.history.spec import (
    HistorySettings,
    errors_root,
    firehose_error_prefix,
    firehose_prefix,
    history_root,
    input_template,
)

from . import authorization, change_log, iam_requests

RETENTION_SECONDS = 24 * 3600
SEQUENCE_START = 10**21 - 4_000
"""First sequence number: 22 digits are reached after 4,000 records."""
S3_RETRY_SECONDS = 30.0
MIB = 1024 * 1024


# -- the stream ------------------------------------------------------------------------


def stream_arn_of(ddb: Any, table: str) -> str:
    """The table's ``LatestStreamArn`` (moto gives one when the stream is on)."""
    found = ddb.describe_table(TableName=table)["Table"]
    arn = found.get("LatestStreamArn")
    if not arn:
        raise ValueError(f"table {table}: its stream is off; enable NEW_AND_OLD_IMAGES")
    return str(arn)


def _event_name(change: change_log.Change) -> str:
    if change.old is None:
        return "INSERT"
    return "REMOVE" if change.new is None else "MODIFY"


def stream_records(
    table: str, stream_arn: str, region: str = "ap-northeast-1"
) -> list[dict[str, Any]]:
    """The stream records of every logged write of ``table``, in shard order."""
    out: list[dict[str, Any]] = []
    for change in change_log.changes(table):
        if change.old == change.new:
            continue  # the write changed nothing: no stream record
        n = len(out)
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": change.micros // change_log.MICROS,
            "Keys": copy.deepcopy(change.key),
            "SequenceNumber": str(SEQUENCE_START + n),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if change.new is not None:
            body["NewImage"] = copy.deepcopy(change.new)
        if change.old is not None:
            body["OldImage"] = copy.deepcopy(change.old)
        body["SizeBytes"] = len(json.dumps(body, separators=(",", ":")))
        out.append(
            {
                "eventID": hashlib.md5(f"{stream_arn}/{n}".encode()).hexdigest(),
                "eventName": _event_name(change),
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": region,
                "dynamodb": body,
                "eventSourceARN": stream_arn,
                "_written_micros": change.micros,  # model bookkeeping, stripped below
            }
        )
    return out


# -- the input transformer -------------------------------------------------------------

_QUOTED = re.compile(r'"<(\$[^<>"]*)>"')
_BARE = re.compile(r"<(\$[^<>\"]*)>")
_MISSING = object()


def _lookup(event: Any, path: str) -> Any:
    value = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def apply_template(template: str, event: dict[str, Any]) -> str:
    """The template with each placeholder replaced: inside quotes by the value's text
    (JSON-escaped), bare by the value as JSON; a missing path by ``null``."""

    def quoted(match: re.Match[str]) -> str:
        value = _lookup(event, match[1])
        if value is _MISSING:
            return "null"
        return json.dumps(value if isinstance(value, str) else json.dumps(value))

    def bare(match: re.Match[str]) -> str:
        value = _lookup(event, match[1])
        return "null" if value is _MISSING else json.dumps(value, separators=(",", ":"))

    return _BARE.sub(bare, _QUOTED.sub(quoted, template))


# -- faults and report -----------------------------------------------------------------


@dataclass
class Faults:
    duplicate_every: int = 0
    """Every Nth record is handed to Firehose twice (0: never)."""
    reorder_seed: int | None = None
    """Shuffle each delivery's records (records then reach Firehose out of order)."""
    refused_batches: dict[int, int] = field(default_factory=dict)
    """Pipe batch number -> how many deliveries of it the target refuses."""
    partial_acceptance: bool = True
    """A refused delivery still has its first half accepted (a partly failed
    ``PutRecordBatch``), so its retry duplicates those records."""
    processing_failures: set[str] = field(default_factory=set)
    """Event ids whose records Firehose fails to process (to the error prefix)."""
    s3_failures: int = 0
    """How many of the next S3 puts fail."""
    oversized: str = "bisect"
    """What Pipes does with a batch Firehose refuses whole for its size (over
    ``PUT_RECORD_BATCH_BYTES`` or ``PUT_RECORD_BATCH_RECORDS``), which AWS does not
    document: ``"split"`` (Pipes sends it in calls that fit), ``"bisect"`` (the batch
    fails and ``AUTOMATIC_BISECT`` halves it until the halves fit) or ``"retry"`` (the
    same batch is retried until it is dead-lettered)."""


PUT_RECORD_BATCH_RECORDS = 500
PUT_RECORD_BATCH_BYTES = 4 * 1024 * 1024
"""Firehose ``PutRecordBatch``: at most 500 records and 4 MiB per call (Amazon Data
Firehose API reference, PutRecordBatch); a larger call is refused whole."""


def _parts_that_fit(
    lines: list[tuple[dict[str, Any], str]],
) -> list[list[tuple[dict[str, Any], str]]]:
    parts: list[list[tuple[dict[str, Any], str]]] = [[]]
    for entry in lines:
        if parts[-1] and not _fits([*parts[-1], entry]):
            parts.append([])
        parts[-1].append(entry)
    return parts


def _fits(lines: list[tuple[dict[str, Any], str]]) -> bool:
    size = sum(len(line.encode("utf-8")) + 1 for _, line in lines)
    return len(lines) <= PUT_RECORD_BATCH_RECORDS and size <= PUT_RECORD_BATCH_BYTES


@dataclass
class Report:
    records: int = 0
    batches: int = 0
    deliveries: int = 0
    duplicates: int = 0
    dead_lettered_batches: int = 0
    objects: int = 0
    error_objects: int = 0
    error_records: int = 0
    s3_retries: int = 0
    access_denied: int = 0
    oversized_calls: int = 0
    lost: int = 0
    expired: int = 0


# -- the path --------------------------------------------------------------------------


def _stamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


_JAVA = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def evaluate_prefix(prefix: str, at: float, error_output_type: str = "") -> str:
    """A Firehose prefix with its ``!{timestamp:...}`` (the date-time patterns this
    project uses) and ``!{firehose:error-output-type}`` expressions evaluated."""

    def timestamp(match: re.Match[str]) -> str:
        pattern = match[1]
        for java, strf in _JAVA.items():
            pattern = pattern.replace(java, strf)
        return _stamp(at).strftime(pattern)

    out = re.sub(r"!\{timestamp:([^}]*)\}", timestamp, prefix)
    return out.replace("!{firehose:error-output-type}", error_output_type)


@dataclass
class _Buffer:
    lines: list[tuple[float, bytes]] = field(default_factory=list)
    size: int = 0

    @property
    def first(self) -> float:
        """Arrival of the oldest record (retried deliveries can arrive out of order)."""
        return min(at for at, _ in self.lines)


class ChangePath:
    """One table's change history path, from its stream to S3."""

    def __init__(
        self,
        *,
        s3: Any,
        table: str,
        stream_arn: str,
        bucket: str,
        prefix: str,
        settings: HistorySettings | None = None,
        faults: Faults | None = None,
        sqs: Any = None,
        dead_letter_queue_url: str | None = None,
        kms_key_arn: str | None = None,
        delivery_stream_name: str = "history",
        pipe_arn: str | None = None,
        delivery_stream_arn: str | None = None,
        region: str = "ap-northeast-1",
    ) -> None:
        self.s3, self.sqs = s3, sqs
        self.table, self.stream_arn, self.bucket = table, stream_arn, bucket
        self.prefix = prefix
        self.settings = settings or HistorySettings()
        self.faults = faults or Faults()
        self.dead_letter_queue_url = dead_letter_queue_url
        self.kms_key_arn = kms_key_arn
        self.delivery_stream_name = delivery_stream_name
        self.pipe_arn, self.delivery_stream_arn, self.region = pipe_arn, delivery_stream_arn, region
        self.template = input_template()
        self.report = Report()
        self._read = 0  # shard position
        self._batch_number = 0
        self._sent = 0
        self._buffers = {"data": _Buffer(), "errors": _Buffer()}
        self._rng = random.Random(self.faults.reorder_seed)

    # stream -> pipe ------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        return stream_records(self.table, self.stream_arn)

    def run(self) -> Report:
        """Deliver every record the stream holds that the pipe has not read yet, and
        flush Firehose's buffers once their interval has passed."""
        records = self.records()
        pending = records[self._read :]
        self._read = len(records)
        self.report.records += len(pending)
        for batch, closes in self._batches(pending):
            self._invoke(batch, closes)
        self._flush_all()
        return self.report

    def _batches(
        self, records: Sequence[dict[str, Any]]
    ) -> Iterable[tuple[list[dict[str, Any]], float]]:
        size, window = self.settings.batch_size, self.settings.batching_window_seconds
        batch: list[dict[str, Any]] = []
        opened = 0.0
        for record in records:
            written = record["_written_micros"] / change_log.MICROS
            if batch and written > opened + window:
                yield batch, opened + window
                batch = []
            if not batch:
                opened = written
            batch.append(record)
            if len(batch) == size:
                yield batch, written
                batch = []
        if batch:
            yield batch, opened + window

    def _invoke(self, batch: list[dict[str, Any]], at: float) -> None:
        number = self._batch_number
        self._batch_number += 1
        self.report.batches += 1
        live = [
            r for r in batch if at - r["_written_micros"] / change_log.MICROS < RETENTION_SECONDS
        ]
        self.report.expired += len(batch) - len(live)
        if not live:
            return
        lines = [(r, apply_template(self.template, _public(r))) for r in live]
        if not _fits(lines):
            self.report.oversized_calls += 1
            if self.faults.oversized == "split":
                for part in _parts_that_fit(lines):
                    self._to_firehose(part, at)
                return
            if self.faults.oversized == "bisect" and len(live) > 1:
                half = len(live) // 2
                self.report.deliveries += 1
                self._invoke(live[:half], at + 1)
                self._invoke(live[half:], at + 1)
                return
            self.report.deliveries += max(0, self.settings.maximum_retry_attempts) + 1
            self._dead_letter(live, at)
            return
        refusals = self.faults.refused_batches.get(number, 0)
        attempts = max(0, self.settings.maximum_retry_attempts) + 1
        if self.settings.maximum_retry_attempts < 0:
            attempts = 10**9
        delay = 1.0
        for attempt in range(attempts):
            self.report.deliveries += 1
            if not self._pipe_may("firehose:PutRecordBatch", self.delivery_stream_arn):
                self.report.access_denied += 1
                at += delay
                delay *= 2
                continue
            if attempt < refusals:
                if self.faults.partial_acceptance:
                    self._to_firehose(lines[: len(lines) // 2], at)
                at += delay
                delay *= 2
                continue
            self._to_firehose(lines, at)
            return
        self._dead_letter(live, at)

    def _role(self, resource_arn: str | None) -> str | None:
        if resource_arn is None or not authorization.REGISTRY.enabled:
            return None
        return authorization.REGISTRY.services.get(resource_arn)

    def _pipe_may(self, action: str, resource: str | None) -> bool:
        role = self._role(self.pipe_arn)
        if role is None or resource is None:
            return True
        return authorization.REGISTRY.allows(role, authorization.Request(action, resource))

    def _firehose_may_put(self, key: str, extra: dict[str, Any]) -> bool:
        role = self._role(self.delivery_stream_arn)
        if role is None:
            return True
        try:
            authorization.REGISTRY.check(
                role, iam_requests.put_requests(self.bucket, key, self.region, extra)
            )
        except authorization.AccessDenied:
            return False
        return True

    def _dead_letter(self, batch: list[dict[str, Any]], at: float) -> None:
        self.report.dead_lettered_batches += 1
        if self.sqs is None or self.dead_letter_queue_url is None:
            raise RuntimeError("a batch was dead-lettered but the path has no queue")
        queue = self.dead_letter_queue_url.rstrip("/").rsplit("/", 2)
        queue_arn = f"arn:aws:sqs:{self.region}:{queue[-2]}:{queue[-1]}"
        if not self._pipe_may("sqs:SendMessage", queue_arn):
            self.report.access_denied += 1
            self.report.lost += len(batch)
            return
        first, last = batch[0], batch[-1]
        body = {
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000000000000000001-00000001",
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _stamp(
                    first["_written_micros"] / 1e6
                ).isoformat(),
                "approximateArrivalOfLastRecord": _stamp(last["_written_micros"] / 1e6).isoformat(),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
            "timestamp": _stamp(at).isoformat(),
        }
        self.sqs.send_message(QueueUrl=self.dead_letter_queue_url, MessageBody=json.dumps(body))

    def redrive(self, message_body: str, at: float) -> int:
        """Re-read the records a dead-letter message names from the stream, at ``at``,
        and send them through the pipe again; returns how many were still kept."""
        info = json.loads(message_body)["DDBStreamBatchInfo"]
        low, high = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        wanted = [r for r in self.records() if low <= int(r["dynamodb"]["SequenceNumber"]) <= high]
        kept = [r for r in wanted if at - r["_written_micros"] / 1e6 < RETENTION_SECONDS]
        self.report.expired += len(wanted) - len(kept)
        if kept:
            self._to_firehose([(r, apply_template(self.template, _public(r))) for r in kept], at)
            self._flush_all()
        return len(kept)

    # pipe -> firehose ----------------------------------------------------------------

    def _to_firehose(self, lines: list[tuple[dict[str, Any], str]], at: float) -> None:
        delivered = list(lines)
        every = self.faults.duplicate_every
        if every:
            extra = []
            for record, line in delivered:
                self._sent += 1
                if self._sent % every == 0:
                    extra.append((record, line))
            self.report.duplicates += len(extra)
            delivered += extra
        if self.faults.reorder_seed is not None:
            self._rng.shuffle(delivered)
        for record, line in delivered:
            data = (line + "\n").encode("utf-8")  # AppendDelimiterToRecord
            if record["eventID"] in self.faults.processing_failures:
                self._append("errors", at, self._error_record(data, at))
            else:
                self._append("data", at, data)

    def _error_record(self, data: bytes, at: float) -> bytes:
        millis = int(at * 1000)
        record = {
            "attemptsMade": 4,
            "arrivalTimestamp": millis,
            "errorCode": "ProcessingFailed",
            "errorMessage": "Injected processing failure (emulator fault).",
            "attemptEndingTimestamp": millis,
            "rawData": base64.b64encode(data).decode("ascii"),
        }
        return (json.dumps(record) + "\n").encode("utf-8")

    def _append(self, kind: str, at: float, data: bytes) -> None:
        buffer = self._buffers[kind]
        if buffer.lines and at >= buffer.first + self.settings.buffer_seconds:
            self._flush(kind, buffer.first + self.settings.buffer_seconds)
            buffer = self._buffers[kind]
        buffer.lines.append((at, data))
        buffer.size += len(data)
        if buffer.size >= self.settings.buffer_mib * MIB:
            self._flush(kind, at)

    def _flush_all(self) -> None:
        for kind, buffer in self._buffers.items():
            if buffer.lines:
                self._flush(kind, buffer.first + self.settings.buffer_seconds)

    def _flush(self, kind: str, at: float) -> None:
        buffer = self._buffers[kind]
        self._buffers[kind] = _Buffer()
        oldest = buffer.first
        if kind == "data":
            prefix = evaluate_prefix(firehose_prefix(self.prefix, self.table), oldest)
        else:
            prefix = evaluate_prefix(
                firehose_error_prefix(self.prefix, self.table), oldest, "processing-failed"
            )
        suffix = _stamp(oldest).strftime("%Y-%m-%d-%H-%M-%S")
        key = f"{prefix}{self.delivery_stream_name}-1-{suffix}-{uuid.uuid4()}.json.gz"
        body = gzip.compress(b"".join(data for _, data in buffer.lines))
        extra: dict[str, Any] = {}
        if self.kms_key_arn:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_arn}
        allowed = self._firehose_may_put(key, extra)
        if not allowed:
            self.report.access_denied += 1
        started = at
        while self.faults.s3_failures > 0 or not allowed:
            if allowed:
                self.faults.s3_failures -= 1
            self.report.s3_retries += 1
            at += S3_RETRY_SECONDS
            if at - started >= RETENTION_SECONDS:
                self.report.lost += len(buffer.lines)
                return
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        if kind == "data":
            self.report.objects += 1
        else:
            self.report.error_objects += 1
            self.report.error_records += len(buffer.lines)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


# -- reading it back -------------------------------------------------------------------


def _keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def _lines(data: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(data).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_history(s3: Any, bucket: str, prefix: str, table: str) -> list[dict[str, Any]]:
    """Every line under the table's history folder, as delivered (duplicates kept)."""
    out = []
    for key in _keys_under(s3, bucket, history_root(prefix, table)):
        out.extend(_lines(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return out


def read_errors(s3: Any, bucket: str, prefix: str, table: str) -> list[dict[str, Any]]:
    """The history lines Firehose put under the error prefix (its ``rawData``)."""
    out: list[dict[str, Any]] = []
    for key in _keys_under(s3, bucket, errors_root(prefix, table)):
        for error in _lines(s3.get_object(Bucket=bucket, Key=key)["Body"].read()):
            raw = base64.b64decode(error["rawData"]).decode("utf-8")
            out.extend(json.loads(line) for line in raw.splitlines() if line.strip())
    return out


def order_key(line: dict[str, Any]) -> tuple[int, str]:
    sequence = str(line["sequence_number"])
    return len(sequence), sequence


def deduplicated(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per ``event_id``, in stream order (sequence numbers as numbers)."""
    seen: dict[str, dict[str, Any]] = {}
    for line in lines:
        seen.setdefault(line["event_id"], line)
    return sorted(seen.values(), key=order_key)


def apply_history(items: dict[str, dict[str, Any]], lines: Iterable[dict[str, Any]]) -> None:
    """Apply history lines (deduplicated, in order) to items keyed by ``canonical_key``:
    each line's new image replaces the item; a ``REMOVE`` deletes it. Each line carries
    the whole new item, so applying a line whose write the items already hold is
    harmless: a baseline may overlap the history."""
    for line in deduplicated(lines):
        key = change_log.canonical_key(line["keys"])
        if line["event_name"] == "REMOVE" or not line.get("new_image"):
            items.pop(key, None)
        else:
            items[key] = line["new_image"]
