"""Executed proof of the change-history path (``emulator.change_stream``): every write
reaches S3, exactly once after deduplication by event id, in per-item order; a baseline
export plus the history after it is the live table; injected duplicates, reordering,
refused batches, processing failures and failing S3 puts lose nothing and duplicate
nothing after deduplication. DuckDB reads the files through the component's mapping."""

from __future__ import annotations

import glob
import gzip
import os
import random
import tempfile
from collections import defaultdict
from typing import Any

import boto3
import duckdb
import pytest
from table_exporter.catalog.schema import Column
from table_exporter.history import spec as history
from table_exporter.history.spec import HistorySettings

from emulator import change_log, change_stream, clock, harness, replay
from emulator.change_stream import ChangePath, Faults

from .support import BUCKET

TABLE = "orders"
PREFIX = "exports"
WRITES = 10_000
ITEMS = 400


def _create(aws: dict[str, Any]) -> str:
    harness.create_bucket(aws["s3"], BUCKET)
    aws["dynamodb"].create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    aws["dynamodb"].update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return change_stream.stream_arn_of(aws["dynamodb"], TABLE)


def _workload(ddb: Any, writes: int, seed: int = 7, start: int = 0) -> None:
    """Puts, updates and deletes over ``ITEMS`` items, a few per virtual second; each
    changes its item (a delete only of an item that exists), so each is one record.
    Puts and deletes of distinct items go in batches (BatchWriteItem, up to 25), as a
    busy writer sends them; every request in a batch is still its own write."""
    rng = random.Random(seed)
    present = set(change_log.item_state_at(TABLE, clock.now()))
    batch: list[dict[str, Any]] = []
    batched: set[str] = set()
    pause = 0.0

    def flush() -> None:
        nonlocal pause
        if batch:
            ddb.batch_write_item(RequestItems={TABLE: list(batch)})
            batch.clear()
            batched.clear()
        clock.advance(pause)
        pause = 0.0

    for n in range(start, start + writes):
        pk = {"S": f"item-{rng.randrange(ITEMS):04d}"}
        key = change_log.canonical_key({"pk": pk})
        roll = rng.random()
        if key in batched or len(batch) == 25:
            flush()
        if roll >= 0.85 and key in present:
            batch.append({"DeleteRequest": {"Key": {"pk": pk}}})
            batched.add(key)
            present.discard(key)
        elif roll < 0.45 or key not in present:
            item = {"pk": pk, "n": {"N": str(n)}, "note": {"S": f"put {n}"}}
            batch.append({"PutRequest": {"Item": item}})
            batched.add(key)
            present.add(key)
        else:
            flush()
            ddb.update_item(
                TableName=TABLE,
                Key={"pk": pk},
                UpdateExpression="SET n = :n, tags = :t",
                ExpressionAttributeValues={":n": {"N": str(n)}, ":t": {"SS": [f"t{n % 7}"]}},
            )
        pause += rng.choice((0.05, 0.2, 0.4))
    flush()


def _path(aws: dict[str, Any], stream_arn: str, **kwargs: Any) -> ChangePath:
    """The path with its pipe and delivery stream acting as the roles ChangeHistory makes."""
    path: ChangePath = harness.history_path(
        aws["s3"], table=TABLE, stream_arn=stream_arn, bucket=BUCKET, prefix=PREFIX, **kwargs
    )
    return path


def _changed() -> list[change_log.Change]:
    return [c for c in change_log.changes(TABLE) if c.old != c.new]


def _assert_exactly_once_in_order(lines: list[dict[str, Any]]) -> None:
    changes = _changed()
    unique = change_stream.deduplicated(lines)
    assert len(unique) == len(changes)
    # Per item, the history's new images are the change log's, in the same order.
    logged: dict[str, list[Any]] = defaultdict(list)
    for change in changes:
        logged[change.key_json].append(change.new)
    delivered: dict[str, list[Any]] = defaultdict(list)
    for line in unique:
        delivered[change_log.canonical_key(line["keys"])].append(line["new_image"])
    assert delivered == logged


@pytest.fixture
def sqs() -> Any:
    return boto3.client("sqs", region_name=harness.REGION)


def test_every_write_of_a_10000_write_workload_reaches_s3_once_in_item_order(aws):
    stream_arn = _create(aws)
    _workload(aws["dynamodb"], WRITES)
    report = _path(aws, stream_arn).run()
    lines = change_stream.read_history(aws["s3"], BUCKET, PREFIX, TABLE)

    changes = _changed()
    assert len(change_log.changes(TABLE)) == WRITES  # every request logged one write
    assert report.records == len(changes) == len(lines)  # no faults: no duplicates
    assert report.objects > 1 and report.lost == report.expired == 0
    _assert_exactly_once_in_order(lines)
    assert {line["event_name"] for line in lines} == {"INSERT", "MODIFY", "REMOVE"}
    # Sequence numbers cross from 21 to 22 digits: only numeric order keeps item order.
    assert {len(line["sequence_number"]) for line in lines} == {21, 22}
    # Records carry the precision AWS gives: whole seconds.
    assert all(float(line["approximate_creation_time"]).is_integer() for line in lines)


def test_objects_are_gzip_json_lines_under_day_and_hour_folders(aws):
    stream_arn = _create(aws)
    _workload(aws["dynamodb"], 300)
    _path(aws, stream_arn).run()
    keys = [
        o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")["Contents"]
    ]
    day = clock.now_datetime().strftime("%Y-%m-%d")
    assert keys and all(k.startswith(f"{PREFIX}/{TABLE}/history/{day}/03/") for k in keys)
    assert all(k.endswith(".json.gz") for k in keys)
    body = gzip.decompress(aws["s3"].get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
    first = body.decode().splitlines()[0]
    import json

    record = json.loads(first)
    assert set(record) == {name for name, _, _ in history.FIELDS}


def test_history_after_a_baseline_export_reproduces_the_live_table(aws):
    stream_arn = _create(aws)
    ddb, s3 = aws["dynamodb"], aws["s3"]
    _workload(ddb, 600, seed=1)
    started = ddb.export_table_to_point_in_time(
        TableArn=ddb.describe_table(TableName=TABLE)["Table"]["TableArn"],
        S3Bucket=BUCKET,
        S3Prefix="baseline",
        ExportFormat="DYNAMODB_JSON",
    )["ExportDescription"]
    export_time = float(started["ExportTime"].timestamp())
    _workload(ddb, 900, seed=2, start=600)  # writes while and after it runs
    clock.advance(600)
    described = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED"
    export_id = started["ExportArn"].rsplit("/", 1)[1]
    items = replay.replay_exports(s3, [f"s3://{BUCKET}/baseline/AWSDynamoDB/{export_id}/"], ["pk"])

    _path(aws, stream_arn, faults=Faults(duplicate_every=13, reorder_seed=3)).run()
    lines = change_stream.read_history(s3, BUCKET, PREFIX, TABLE)
    # Whole seconds: start a second early; overlapping lines carry full images.
    after = [line for line in lines if line["approximate_creation_time"] >= export_time - 1]
    assert len(after) < len(lines)
    change_stream.apply_history(items, after)
    assert items == replay.scan_table(ddb, TABLE)


def test_duplicates_and_reordering_lose_nothing_and_duplicate_nothing(aws):
    stream_arn = _create(aws)
    _workload(aws["dynamodb"], 800, seed=4)
    report = _path(aws, stream_arn, faults=Faults(duplicate_every=7, reorder_seed=11)).run()
    lines = change_stream.read_history(aws["s3"], BUCKET, PREFIX, TABLE)
    assert report.duplicates > 0 and len(lines) == report.records + report.duplicates
    # Really out of order as delivered.
    delivered = [change_stream.order_key(line) for line in lines]
    assert delivered != sorted(delivered)
    _assert_exactly_once_in_order(lines)


def test_a_refused_batch_is_retried_with_duplicates_then_dead_lettered_and_redriven(aws, sqs):
    stream_arn = _create(aws)
    queue = sqs.create_queue(QueueName="history-dlq")["QueueUrl"]
    _workload(aws["dynamodb"], 2_000, seed=5)
    settings = HistorySettings(batch_size=100, maximum_retry_attempts=2)
    faults = Faults(refused_batches={1: 2, 4: 99})  # batch 1 succeeds on its 3rd try
    path = _path(
        aws, stream_arn, settings=settings, faults=faults, sqs=sqs, dead_letter_queue_url=queue
    )
    report = path.run()
    assert report.dead_lettered_batches == 1
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    lines = change_stream.read_history(aws["s3"], BUCKET, PREFIX, TABLE)
    assert len(change_stream.deduplicated(lines)) < len(_changed())  # batch 4 missing...
    assert len(lines) > len(change_stream.deduplicated(lines))  # ...partial retries dup'd

    # The runbook: re-drive the dead-lettered range from the stream within 24 hours.
    redriven = path.redrive(messages[0]["Body"], at=clock.now() + 3600)
    assert redriven == 100
    _assert_exactly_once_in_order(change_stream.read_history(aws["s3"], BUCKET, PREFIX, TABLE))


def test_a_dead_lettered_batch_older_than_the_stream_keeps_is_gone(aws, sqs):
    stream_arn = _create(aws)
    queue = sqs.create_queue(QueueName="history-dlq")["QueueUrl"]
    _workload(aws["dynamodb"], 300, seed=6)
    path = _path(
        aws,
        stream_arn,
        settings=HistorySettings(batch_size=50, maximum_retry_attempts=0),
        faults=Faults(refused_batches={0: 1}, partial_acceptance=False),
        sqs=sqs,
        dead_letter_queue_url=queue,
    )
    path.run()
    message = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    assert path.redrive(message["Body"], at=clock.now() + 25 * 3600) == 0
    assert path.report.expired == 50


def test_failed_processing_lands_in_the_error_prefix_and_failing_puts_are_retried(aws):
    stream_arn = _create(aws)
    _workload(aws["dynamodb"], 400, seed=8)
    records = change_stream.stream_records(TABLE, stream_arn)
    failing = {r["eventID"] for r in records[::50]}
    faults = Faults(processing_failures=failing, s3_failures=5)
    report = _path(aws, stream_arn, faults=faults).run()
    assert report.s3_retries == 5 and report.lost == 0
    assert report.error_records == len(failing)
    history_lines = change_stream.read_history(aws["s3"], BUCKET, PREFIX, TABLE)
    errors = change_stream.read_errors(aws["s3"], BUCKET, PREFIX, TABLE)
    assert {e["event_id"] for e in errors} == failing
    assert not failing & {line["event_id"] for line in history_lines}
    # Nothing lost: the history and the error output together hold every change.
    _assert_exactly_once_in_order(history_lines + errors)
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(k.startswith(f"{PREFIX}/{TABLE}/history-errors/processing-failed/") for k in keys)


def test_duckdb_reads_the_files_through_the_history_mapping(aws):
    stream_arn = _create(aws)
    _workload(aws["dynamodb"], 500, seed=9)
    _path(aws, stream_arn, faults=Faults(duplicate_every=5, reorder_seed=2)).run()
    s3 = aws["s3"]
    with tempfile.TemporaryDirectory() as folder:
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=history.history_root(PREFIX, TABLE))
        for n, entry in enumerate(listing["Contents"]):
            data = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
            with open(os.path.join(folder, f"{n}.json.gz"), "wb") as out:
                out.write(data)
        assert glob.glob(os.path.join(folder, "*.json.gz"))
        sql = history.duckdb_ordered(os.path.join(folder, "*.json.gz"), [Column("pk", "string")])
        rows = duckdb.sql(sql).fetchall()
    changes = _changed()
    assert len(rows) == len(changes)
    expected = sorted(((c.key["pk"]["S"], i) for i, c in enumerate(changes)), key=lambda pair: pair)
    assert [row[4] for row in rows] == [pk for pk, _ in expected]
    # Within each item, DuckDB's order is the write order.
    by_item: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_item[row[4]].append(row[1])
    logged: dict[str, list[str]] = defaultdict(list)
    for c in changes:
        logged[c.key["pk"]["S"]].append(
            "INSERT" if c.old is None else "REMOVE" if c.new is None else "MODIFY"
        )
    assert by_item == logged


def _large_items(ddb: Any, count: int, size: int) -> None:
    for index in range(count):
        ddb.put_item(
            TableName=TABLE,
            Item={"pk": {"S": f"big-{index:03d}"}, "blob": {"S": "x" * size}},
        )
        clock.advance(0.1)


@pytest.mark.parametrize("behaviour", ["split", "bisect"])
def test_a_batch_of_large_items_over_put_record_batch_limits_still_arrives_once(
    aws, sqs, behaviour
):
    """30 items of 300 KB make a 9 MB batch, over PutRecordBatch's 4 MiB; Firehose refuses
    such a call whole. Whether Pipes splits it or bisects it (AUTOMATIC_BISECT) is not
    documented; with either, every change arrives, once."""
    stream_arn = _create(aws)
    queue = sqs.create_queue(QueueName="history-dlq")["QueueUrl"]
    _large_items(aws["dynamodb"], 30, 300_000)
    path = _path(
        aws, stream_arn, faults=Faults(oversized=behaviour), sqs=sqs, dead_letter_queue_url=queue
    )

    report = path.run()

    assert report.oversized_calls >= 1
    assert report.dead_lettered_batches == 0 and report.lost == 0
    _assert_exactly_once_in_order(change_stream.read_history(aws["s3"], BUCKET, PREFIX, TABLE))


def test_a_batch_pipes_keeps_retrying_whole_is_dead_lettered_for_a_redrive(aws, sqs):
    """The third plausible behaviour: the oversized batch fails as it is until its
    retries run out, then goes to the dead-letter queue (alarm history-dead-letters,
    runbook: lower the batch size, re-drive from the stream within 24 hours)."""
    stream_arn = _create(aws)
    queue = sqs.create_queue(QueueName="history-dlq")["QueueUrl"]
    _large_items(aws["dynamodb"], 30, 300_000)
    path = _path(
        aws,
        stream_arn,
        settings=HistorySettings(maximum_retry_attempts=2),
        faults=Faults(oversized="retry"),
        sqs=sqs,
        dead_letter_queue_url=queue,
    )

    report = path.run()

    assert report.dead_lettered_batches == 1 and report.lost == 0
    assert len(sqs.receive_message(QueueUrl=queue)["Messages"]) == 1
