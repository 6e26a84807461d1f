"""Incremental exports, executed: the generated run, batch and table export machines
keep a chain of a baseline and contiguous windows per table, run after run, through
failures, outages, overlapping runs, point-in-time recovery gaps and abandoned locks.

Every run here is a real execution of the generated definitions in the emulator, on
the virtual clock: the test thread's clock is "now" for the writes it makes and for
the runs it starts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from typing import Any

import pytest
from table_exporter.export.incremental import MAX_WINDOW_MS, MIN_WINDOW_MS

from emulator import change_log, clock, export_model, harness, replay

from .support import BUCKET, rows

MODEL = export_model.MODEL
TABLE = "orders"
STATE_TABLE = "exporter-state"
MINUTE, HOUR, DAY = 60, 3600, 86400
PITR_LAG = change_log.PITR_LAG_SECONDS
MIN_WINDOW = MIN_WINDOW_MS // 1000
MAX_WINDOW = MAX_WINDOW_MS // 1000
EXPORT_SECONDS = 120
"""Export duration for most tests: short, so a run stops once it has caught up."""
NOTHING_TO_DO = "nothing to do yet: the next window is shorter than 15 minutes"
LOCKED = "another run holds this table's lock"


# -- helpers ---------------------------------------------------------------------------


def table_arn(table: str = TABLE) -> str:
    return harness.SCOPE.arn("dynamodb", f"table/{table}")


def iso(seconds: float) -> str:
    """The exporter's timestamp text (UTC, milliseconds) for epoch seconds."""
    value = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stamp(text: str) -> str:
    """A window start as the exporter writes it into S3 prefixes."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d-%H-%M")


def move_to(epoch_seconds: float) -> None:
    """Set this thread's virtual clock (forward only)."""
    assert epoch_seconds >= clock.now()
    clock.advance(epoch_seconds - clock.now())


def latest_restorable() -> float:
    """``LatestRestorableDateTime`` at this thread's clock."""
    return clock.now() - PITR_LAG


def put(ddb: Any, pk: str, qty: int, **extra: str) -> None:
    item = {"pk": {"S": pk}, "qty": {"N": str(qty)}, **{k: {"S": v} for k, v in extra.items()}}
    ddb.put_item(TableName=TABLE, Item=item)


def update(ddb: Any, pk: str, expression: str, **values: Any) -> None:
    kwargs: dict[str, Any] = {}
    if values:
        kwargs["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    ddb.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression=expression, **kwargs)


def delete(ddb: Any, pk: str) -> None:
    ddb.delete_item(TableName=TABLE, Key={"pk": {"S": pk}})


def state_item(ddb: Any, table: str = TABLE) -> dict[str, str]:
    """The table's item in the state table, as plain text values ({} if none)."""
    item = ddb.get_item(
        TableName=STATE_TABLE, Key={"pk": {"S": table_arn(table)}}, ConsistentRead=True
    )
    return {name: next(iter(value.values())) for name, value in item.get("Item", {}).items()}


def assert_unlocked(ddb: Any) -> None:
    item = state_item(ddb)
    assert "lockOwner" not in item and "lockedUntil" not in item, item


def watermark_moves(table: str = TABLE) -> list[tuple[str | None, str | None]]:
    """Every change of the table's watermark, from the state table's write log."""
    moves = []
    for change in change_log.changes(STATE_TABLE):
        if change.key != {"pk": {"S": table_arn(table)}}:
            continue
        old = (change.old or {}).get("watermark", {}).get("S")
        new = (change.new or {}).get("watermark", {}).get("S")
        if old != new:
            moves.append((old, new))
    return moves


def keys_written(start: str, end: str) -> int:
    """How many distinct items were written in ``[start, end)``."""
    return len(
        {c.key_json for c in change_log.changes_between(TABLE, seconds(start), seconds(end))}
    )


def table_outputs(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return {t["table"]: t for t in described["tables"]}


def run(ex: harness.Exporter, name: str, table: str = TABLE) -> dict[str, Any]:
    """Run the exporter now (a scheduled run at this thread's clock); the table's result."""
    return table_outputs(ex.run(name, {"scheduledTime": iso(clock.now())}))[table]


def failed_tables(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert described["status"] == "FAILED", described.get("output")
    assert described["error"] == "TableExportsFailed"
    return {f["table"]: f for f in json.loads(described["cause"])["failed"]}


def exports_by_arn(table: str = TABLE) -> dict[str, export_model.Export]:
    return {e.arn: e for e in MODEL.exports_of(table)}


def exported_windows(status: str | None = None) -> list[tuple[float, float]]:
    """``(from, to)`` of every incremental export DynamoDB was asked for (with that
    status, if given), in start order."""
    return sorted(
        window
        for e in MODEL.exports_of(TABLE)
        if (window := e.window) is not None and status in (None, e.status)
    )


def windows_of(output: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in output["exports"] if e["kind"] == "incremental"]


def assert_chain(chain: list[dict[str, Any]]) -> None:
    """A baseline, then windows each starting where the previous export ended, each
    15 minutes to 24 hours long; the emulator's exports agree with what was reported."""
    assert chain[0]["kind"] == "baseline"
    assert all(e["kind"] == "incremental" for e in chain[1:])
    exported = exports_by_arn()
    for previous, window in itertools.pairwise(chain):
        assert window["from"] == previous["to"], (previous, window)
        length = seconds(window["to"]) - seconds(window["from"])
        assert MIN_WINDOW <= length <= MAX_WINDOW, window
    for entry in chain:
        export = exported[entry["exportArn"]]
        assert export.status == "COMPLETED"
        assert entry["itemCount"] == len(export.items)
        if entry["kind"] == "baseline":
            assert export.export_type == "FULL_EXPORT"
            assert export.export_time == seconds(entry["to"])
        else:
            assert export.export_type == "INCREMENTAL_EXPORT"
            assert export.window == (seconds(entry["from"]), seconds(entry["to"]))
            assert entry["itemCount"] == keys_written(entry["from"], entry["to"])
    # What DynamoDB was asked for, independently of the outputs: contiguous windows
    # from the chain's baseline on.
    baseline = exported[chain[0]["exportArn"]]
    assert baseline.export_time is not None
    incremental = [w for w in exported_windows("COMPLETED") if w[0] >= baseline.export_time]
    ends = [baseline.export_time] + [end for _, end in incremental]
    assert [start for start, _ in incremental] == ends[:-1]
    assert all(MIN_WINDOW <= end - start <= MAX_WINDOW for start, end in incremental)


def deploy(aws: dict[str, Any], **kwargs: Any) -> harness.Exporter:
    return harness.deploy(
        aws["stepfunctions"], bucket=BUCKET, tables=[TABLE], incremental=[TABLE], **kwargs
    )



@pytest.fixture
def ddb(aws: dict[str, Any]) -> Any:
    """The bucket, the state table and ``orders`` (3 rows, recovery on) created at the
    clock's start; exports of ``orders`` take two minutes."""
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], TABLE, rows(TABLE, 3))
    harness.create_state_table(aws["dynamodb"])
    MODEL.behave(TABLE, duration_seconds=EXPORT_SECONDS)
    return aws["dynamodb"]


def baseline_run(ex: harness.Exporter, ddb: Any, name: str = "baseline") -> dict[str, Any]:
    """An hour after the table was created, the first run: the chain's baseline."""
    clock.advance(HOUR)
    out = run(ex, name)
    (baseline,) = out["exports"]
    assert baseline["kind"] == "baseline"
    assert baseline["to"] == out["watermark"] == iso(latest_restorable())
    assert state_item(ddb)["watermark"] == out["watermark"]
    return out


# -- the chain -------------------------------------------------------------------------


def test_runs_at_irregular_intervals_export_contiguous_windows(
    aws: dict[str, Any], ddb: Any
) -> None:
    ex = deploy(aws)
    chain = baseline_run(ex, ddb)["exports"]
    writes = 0

    for index, gap in enumerate([40 * MINUTE, 2 * HOUR, 10 * MINUTE, 5 * HOUR, 30 * HOUR, HOUR]):
        before = state_item(ddb)
        requests = len(MODEL.requests)
        for _ in range(2):
            clock.advance(gap / 3)
            writes += 1
            put(ddb, f"w-{writes}", writes)
            update(ddb, "orders-0", "SET qty = :q", q={"N": str(writes)})
        clock.advance(gap / 3)

        out = run(ex, f"run-{index}")

        assert out["mode"] == "incremental"
        assert_unlocked(ddb)
        if gap < MIN_WINDOW:
            # Less than 15 minutes after the last window: nothing is exported.
            assert out["status"] == "UP_TO_DATE"
            assert out["message"] == NOTHING_TO_DO
            assert out["exports"] == []
            assert out["watermark"] == before["watermark"]
            assert len(MODEL.requests) == requests
            assert state_item(ddb) == before
            continue
        assert out["status"] == "COMPLETED"
        windows = windows_of(out)
        assert windows and len(windows) == len(out["exports"])
        assert windows[0]["from"] == before["watermark"]
        assert out["watermark"] == windows[-1]["to"] == state_item(ddb)["watermark"]
        assert out["message"] == f"{len(windows)} export(s); watermark at {out['watermark']}"
        # Caught up: what is left is shorter than a window.
        assert latest_restorable() - seconds(out["watermark"]) < MIN_WINDOW
        if gap > MAX_WINDOW:
            assert len(windows) == 2
            assert seconds(windows[0]["to"]) - seconds(windows[0]["from"]) == MAX_WINDOW
        else:
            assert len(windows) == 1
        chain.extend(windows)

    assert len(chain) == 1 + 6  # the baseline, and the 30-hour gap took two windows
    assert_chain(chain)
    assert len(MODEL.exports_of(TABLE)) == len(chain)
    # The watermark moved once per export, from each window's start to its end.
    assert watermark_moves() == [(None, chain[0]["to"])] + [(w["from"], w["to"]) for w in chain[1:]]
    assert sum(w["itemCount"] for w in chain[1:]) >= writes


def test_failed_window_keeps_the_watermark_and_the_next_run_exports_from_it(
    aws: dict[str, Any], ddb: Any
) -> None:
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)
    put(ddb, "before-failure", 1)
    clock.advance(2 * HOUR)
    before = state_item(ddb)
    MODEL.behave(TABLE, duration_seconds=EXPORT_SECONDS, fail_code="UNKNOWN")

    failed = failed_tables(ex.run("failing", {"scheduledTime": iso(clock.now())}))

    assert failed[TABLE]["error"] == "UNKNOWN"
    after = state_item(ddb)
    # The watermark did not move and the lock is released; the failed window is counted
    # so that the next run asks DynamoDB for a new export of it.
    assert {k: v for k, v in after.items() if k not in ("failedFrom", "failures")} == before
    assert (after["failedFrom"], after["failures"]) == (before["watermark"], "1")
    (lost,) = [e for e in MODEL.exports_of(TABLE) if e.status == "FAILED"]
    assert lost.window == (seconds(before["watermark"]), latest_restorable())

    MODEL.behave(TABLE, duration_seconds=EXPORT_SECONDS)
    put(ddb, "after-failure", 2)
    clock.advance(HOUR)
    out = run(ex, "recovering")

    (window,) = out["exports"]
    assert window["kind"] == "incremental"
    assert window["from"] == before["watermark"] == baseline["watermark"]
    assert window["to"] == out["watermark"] == iso(latest_restorable())
    assert window["itemCount"] == 2  # what the failed export was to carry is not lost
    assert_unlocked(ddb)
    assert_chain(baseline["exports"] + out["exports"])
    assert watermark_moves() == [(None, window["from"]), (window["from"], window["to"])]


def test_three_day_outage_is_caught_up_by_one_run(aws: dict[str, Any], ddb: Any) -> None:
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)
    executions = len(ex.table_executions())
    for step in range(12):  # every six hours for three days
        clock.advance(5 * HOUR + 30 * MINUTE)
        put(ddb, f"outage-{step}", step)
        update(ddb, "orders-1", "ADD qty :one", one={"N": "1"})
        clock.advance(30 * MINUTE)
    assert clock.now() - seconds(baseline["watermark"]) == 72 * HOUR + PITR_LAG

    out = run(ex, "after-outage")

    assert len(ex.table_executions()) == executions + 1  # one execution did it all
    windows = windows_of(out)
    assert len(windows) >= 3 and len(windows) == len(out["exports"])
    lengths = [seconds(w["to"]) - seconds(w["from"]) for w in windows]
    assert lengths[:2] == [MAX_WINDOW, MAX_WINDOW]
    assert sum(lengths) == 72 * HOUR
    assert windows[0]["from"] == baseline["watermark"]
    assert out["watermark"] == windows[-1]["to"] == iso(latest_restorable())
    assert state_item(ddb)["watermark"] == out["watermark"]
    pitr = ddb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    latest = pitr["PointInTimeRecoveryDescription"]["LatestRestorableDateTime"]
    assert out["watermark"] == iso(latest.timestamp())
    assert [w["itemCount"] for w in windows] == [5, 5, 5]  # 4 puts a day, and orders-1
    assert out["message"] == f"{len(windows)} export(s); watermark at {out['watermark']}"
    assert_chain(baseline["exports"] + windows)
    assert_unlocked(ddb)


# A run that starts while another holds the lock skips the table. Exports take long
# enough that the first run is still polling when the second one starts, and less than
# the 15-minute minimum window so the first run stops once caught up (see
# test_run_exports_no_further_than_where_it_started_when_exports_are_slow).
OVERLAP_EXPORT_SECONDS = 14 * MINUTE


def test_runs_started_together_export_each_window_once(aws: dict[str, Any], ddb: Any) -> None:
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)
    for step in range(6):
        clock.advance(5 * HOUR)
        put(ddb, f"busy-{step}", step)
    MODEL.behave(TABLE, duration_seconds=OVERLAP_EXPORT_SECONDS)
    requests = len(MODEL.requests)

    first = ex.start("together-a", {"scheduledTime": iso(clock.now())})
    second = ex.start("together-b", {"scheduledTime": iso(clock.now() + 1)})
    outs = [table_outputs(ex.wait(arn))[TABLE] for arn in (first, second)]

    (done,) = [o for o in outs if o["status"] == "COMPLETED"]
    (skipped,) = [o for o in outs if o["status"] == "SKIPPED"]
    assert skipped["message"] == LOCKED and skipped["mode"] == "incremental"
    assert "exports" not in skipped
    windows = windows_of(done)
    assert len(windows) == 2  # 30 hours behind: 24 hours, then the rest
    exported = exported_windows()
    assert exported == [(seconds(w["from"]), seconds(w["to"])) for w in windows]
    assert len(set(exported)) == len(exported)  # no window exported twice
    assert len(MODEL.requests) - requests == len(windows)  # the skipped run asked for nothing
    assert_chain(baseline["exports"] + windows)
    assert watermark_moves()[1:] == [(w["from"], w["to"]) for w in windows]
    assert state_item(ddb)["watermark"] == done["watermark"] == windows[-1]["to"]
    assert_unlocked(ddb)


def test_pitr_gap_takes_a_new_baseline_replacing_the_old_watermark(
    aws: dict[str, Any], ddb: Any
) -> None:
    ex = deploy(aws)
    chain = baseline_run(ex, ddb)["exports"]
    put(ddb, "early", 1)
    clock.advance(2 * HOUR)
    chain += run(ex, "window")["exports"]
    assert_chain(chain)
    old = state_item(ddb)

    put(ddb, "unrecoverable", 2)  # written after the watermark, before recovery restarts
    clock.advance(10 * MINUTE)
    change_log.restart_pitr(TABLE)  # recovery was off: nothing before now can be exported
    update(ddb, "early", "SET qty = :q", q={"N": "3"})
    delete(ddb, "orders-2")
    clock.advance(2 * HOUR)

    out = run(ex, "after-gap")

    assert out["status"] == "COMPLETED"
    (baseline,) = out["exports"]
    assert baseline["kind"] == "baseline"
    assert baseline["replaces"] == old["watermark"]
    assert baseline["to"] == out["watermark"] == iso(latest_restorable())
    assert out["message"] == f"1 export(s); watermark at {out['watermark']}"
    now = state_item(ddb)
    assert now["baselineTime"] == now["watermark"] == baseline["to"] != old["baselineTime"]
    assert now["baselineExportArn"] == now["lastExportArn"] == baseline["exportArn"]
    assert_unlocked(ddb)
    # No window was asked for across the gap; the new baseline holds every item.
    assert exported_windows() == [(seconds(chain[1]["from"]), seconds(chain[1]["to"]))]
    restored = replay.replay_exports(aws["s3"], [baseline["s3Location"]], ["pk"])
    assert restored == replay.scan_table(ddb, TABLE)
    assert "unrecoverable" in {json.loads(k)["pk"]["S"] for k in restored}

    # The chain goes on from the new baseline.
    put(ddb, "later", 4)
    clock.advance(HOUR)
    (window,) = run(ex, "next")["exports"]
    assert window["from"] == baseline["to"]
    assert_chain([baseline, window])


# -- what the chain adds up to ---------------------------------------------------------


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_baseline_and_windows_replay_to_the_current_table(
    aws: dict[str, Any], ddb: Any, view: str
) -> None:
    s3 = aws["s3"]
    ex = deploy(aws, view_type=view)
    locations: list[str] = []

    def run_and_replay(name: str) -> dict[str, Any]:
        out = run(ex, name)
        locations.extend(e["s3Location"] for e in out["exports"])
        # Every prefix of the chain is the table as it was just before the watermark.
        assert replay.replay_exports(s3, locations, ["pk"]) == change_log.item_state_at(
            TABLE, seconds(out["watermark"]), inclusive=False
        )
        return out

    put(ddb, "n-0", 0, note="before the baseline")
    baseline = baseline_run(ex, ddb)
    locations.append(baseline["exports"][0]["s3Location"])

    # Window 1: puts, updates, a delete, and an item created and deleted again.
    clock.advance(20 * MINUTE)
    put(ddb, "n-1", 1, note="new")
    put(ddb, "n-2", 2)
    update(ddb, "orders-0", "SET qty = :q, tag = :t", q={"N": "10"}, t={"S": "hot"})
    delete(ddb, "orders-1")
    clock.advance(20 * MINUTE)
    put(ddb, "brief", 1)
    clock.advance(MINUTE)
    delete(ddb, "brief")
    clock.advance(HOUR)
    first = run_and_replay("window-1")
    assert len(windows_of(first)) == 1

    # Windows 2 and 3 (30 hours: 24 hours, then the rest), with writes on their boundary.
    boundary = seconds(first["watermark"]) + MAX_WINDOW
    clock.advance(2 * HOUR)
    update(ddb, "n-1", "REMOVE note")
    update(ddb, "orders-2", "ADD qty :n", n={"N": "5"})
    delete(ddb, "n-2")
    move_to(boundary - 1)
    update(ddb, "orders-2", "SET note = :s", s={"S": "just before the boundary"})
    move_to(boundary)
    put(ddb, "orders-1", 7, note="back again")  # deleted in window 1, exactly on the boundary
    update(ddb, "n-0", "SET qty = :q", q={"N": "99"})
    clock.advance(3 * HOUR)
    update(ddb, "orders-2", "ADD qty :n", n={"N": "1"})
    put(ddb, "n-3", 3)
    move_to(seconds(first["watermark"]) + 30 * HOUR + PITR_LAG)
    second = run_and_replay("windows-2-3")
    assert [w["to"] for w in windows_of(second)][:1] == [iso(boundary)]
    assert len(windows_of(second)) == 2

    # Window 4: deletes of baseline items, updates of new ones.
    clock.advance(HOUR)
    delete(ddb, "orders-0")
    delete(ddb, "n-0")
    update(
        ddb, "n-3", "SET qty = :q, extra = :m", q={"N": "4"}, m={"M": {"k": {"L": [{"S": "v"}]}}}
    )
    put(ddb, "n-4", 4)
    clock.advance(2 * HOUR)
    run_and_replay("window-4")

    assert len(locations) == 1 + 4
    for location in locations[1:]:
        summary = replay.read_summary(s3, location)
        assert summary["exportType"] == "INCREMENTAL_EXPORT"
        assert summary["outputView"] == view
    current = replay.scan_table(ddb, TABLE)
    assert replay.replay_exports(s3, locations, ["pk"]) == current
    assert {json.loads(k)["pk"]["S"] for k in current} == {
        "orders-1",
        "orders-2",
        "n-1",
        "n-3",
        "n-4",
    }
    _, records = replay.read_export(s3, locations[1])
    old_images = [r for r in records if "OldImage" in r]
    assert bool(old_images) == (view == "NEW_AND_OLD_IMAGES")


def test_s3_prefixes_name_the_table_the_mode_the_chain_and_the_window_day(
    aws: dict[str, Any], ddb: Any
) -> None:
    s3 = aws["s3"]
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)["exports"][0]
    clock.advance(2 * HOUR + 7 * MINUTE + 30)
    first = run(ex, "first")["exports"][0]
    clock.advance(20 * HOUR)
    second = run(ex, "second")["exports"][0]

    assert stamp(baseline["to"]) == "2026-01-05-03-55"
    assert stamp(first["from"]) == "2026-01-05-03-55"
    assert (
        second["from"] == "2026-01-05T06:02:30.000Z" and stamp(second["to"]) == "2026-01-06-02-02"
    )
    # Windows go under their chain (the baseline's time) and the day they start on, so
    # windows of one day share DynamoDB's data folder for that prefix.
    chain = f"exports/{TABLE}/incremental/2026-01-05-03-55"
    expected = {
        baseline["exportArn"]: f"exports/{TABLE}/baseline/2026-01-05-03-55",
        first["exportArn"]: f"{chain}/2026-01-05",
        second["exportArn"]: f"{chain}/2026-01-05",
    }
    exported = exports_by_arn()
    assert {arn: exported[arn].request["S3Prefix"] for arn in expected} == expected
    for entry in (baseline, first, second):
        export = exported[entry["exportArn"]]
        assert entry["s3Location"] == (
            f"s3://{BUCKET}/{expected[entry['exportArn']]}/AWSDynamoDB/{export.export_id}/"
        )
        assert replay.read_summary(s3, entry["s3Location"])["exportArn"] == export.arn
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    exported_keys = [k for k in keys if not k.startswith("run-reports/")]
    assert exported_keys and all(
        key.startswith(tuple(f"{p}/" for p in expected.values())) for key in exported_keys
    )


# -- locks -----------------------------------------------------------------------------


def test_lock_left_by_a_crashed_run_holds_until_it_expires(aws: dict[str, Any], ddb: Any) -> None:
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)
    put(ddb, "while-locked", 1)
    clock.advance(2 * HOUR)
    crashed = (
        f"arn:aws:states:{harness.REGION}:{harness.ACCOUNT}:execution:exporter-table-export:crashed"
    )
    locked_until = round((clock.now() + HOUR) * 1000)
    ddb.update_item(
        TableName=STATE_TABLE,
        Key={"pk": {"S": table_arn()}},
        UpdateExpression="SET lockOwner = :owner, lockedUntil = :until",
        ExpressionAttributeValues={
            ":owner": {"S": crashed},
            ":until": {"N": str(locked_until)},
        },
    )
    locked = state_item(ddb)
    requests = len(MODEL.requests)

    out = run(ex, "while-locked")

    assert out["status"] == "SKIPPED" and out["message"] == LOCKED
    assert state_item(ddb) == locked  # the lock is not ours to release
    assert len(MODEL.requests) == requests

    clock.advance(HOUR - 1)  # still locked a second before it expires
    assert run(ex, "almost-expired")["status"] == "SKIPPED"
    clock.advance(2)

    out = run(ex, "after-expiry")

    assert out["status"] == "COMPLETED"
    (window,) = out["exports"]
    assert window["from"] == baseline["watermark"]
    assert window["to"] == iso(latest_restorable())
    assert window["itemCount"] == 1
    assert_unlocked(ddb)
    assert state_item(ddb)["watermark"] == window["to"]


# -- mixed modes -----------------------------------------------------------------------


def test_full_and_incremental_tables_share_one_exporter(aws: dict[str, Any], ddb: Any) -> None:
    harness.create_table(aws["dynamodb"], "events", rows("events", 2))
    MODEL.behave("events", duration_seconds=EXPORT_SECONDS)
    ex = harness.deploy(
        aws["stepfunctions"], bucket=BUCKET, tables=[TABLE, "events"], incremental=[TABLE]
    )
    clock.advance(HOUR)

    first = table_outputs(ex.run("first", {"scheduledTime": "2026-01-05T04:00:00Z"}))
    put(ddb, "between", 1)
    clock.advance(2 * HOUR)
    second = table_outputs(ex.run("second", {"scheduledTime": "2026-01-05T06:00:00Z"}))

    assert [first[TABLE]["mode"], second[TABLE]["mode"]] == ["incremental"] * 2
    assert [first["events"]["mode"], second["events"]["mode"]] == ["full"] * 2
    assert all(o[t]["status"] == "COMPLETED" for o in (first, second) for t in (TABLE, "events"))
    assert [e["kind"] for e in first[TABLE]["exports"] + second[TABLE]["exports"]] == [
        "baseline",
        "incremental",
    ]
    assert second[TABLE]["exports"][0]["itemCount"] == 1
    for out in (first, second):
        assert out["events"]["itemCount"] == 2
        assert out["events"]["s3Location"].startswith(
            f"s3://{BUCKET}/exports/events/full/2026-01-05/"
        )
    events = MODEL.exports_of("events")
    assert [e.export_type for e in events] == ["FULL_EXPORT"] * 2
    assert all("IncrementalExportSpecification" not in e.request for e in events)
    assert state_item(ddb, "events") == {}  # full exports keep no watermark
    assert state_item(ddb)["watermark"] == second[TABLE]["watermark"]


# -- point-in-time recovery off ----------------------------------------------------------


def test_table_without_pitr_fails_as_pitr_unavailable_and_releases_its_lock(
    aws: dict[str, Any], ddb: Any
) -> None:
    harness.create_table(aws["dynamodb"], "legacy", rows("legacy", 1), pitr=False)
    ex = harness.deploy(
        aws["stepfunctions"], bucket=BUCKET, tables=["legacy"], incremental=["legacy"]
    )
    clock.advance(HOUR)

    failed = failed_tables(ex.run("no-pitr", {"scheduledTime": iso(clock.now())}))

    assert state_item(ddb, "legacy") == {"pk": table_arn("legacy")}  # no watermark, no lock
    assert MODEL.exports_of("legacy") == []
    assert failed["legacy"]["error"] == "DynamoDb.PointInTimeRecoveryUnavailableException"
    assert failed["legacy"]["cause"] == "Point in time recovery is not enabled for table legacy"


# -- retries and slow exports --------------------------------------------------------------


def test_failed_24_hour_window_is_exported_again_by_the_next_run(
    aws: dict[str, Any], ddb: Any
) -> None:
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)
    put(ddb, "in-the-first-day", 1)
    clock.advance(30 * HOUR)  # far enough behind that the first window is capped at 24 hours
    MODEL.behave(TABLE, duration_seconds=EXPORT_SECONDS, fail_code="UNKNOWN")
    failed_tables(ex.run("failing", {"scheduledTime": iso(clock.now())}))
    MODEL.behave(TABLE, duration_seconds=EXPORT_SECONDS)
    clock.advance(HOUR)

    described = ex.run("retrying", {"scheduledTime": iso(clock.now())})

    windows = exported_windows()
    start = seconds(baseline["watermark"])
    assert windows[:2] == [(start, start + MAX_WINDOW)] * 2, "no second export of the window"
    assert described["status"] == "SUCCEEDED"


def test_run_exports_no_further_than_where_it_started_when_exports_are_slow(
    aws: dict[str, Any], ddb: Any
) -> None:
    ex = deploy(aws)
    baseline = baseline_run(ex, ddb)
    clock.advance(3 * HOUR)
    target = latest_restorable()
    slow = MODEL.behave(TABLE, duration_seconds=HOUR)

    execution = ex.start("slow", {"scheduledTime": iso(clock.now())})
    # Deny further exports once a second window has started, rather than let the chase
    # run to MAX_WINDOWS_PER_RUN hour-long exports.
    deadline = time.monotonic() + 60
    while ex.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        if len(exported_windows()) >= 2:
            slow.denied = True
        assert time.monotonic() < deadline
        time.sleep(0.02)

    windows = exported_windows()
    assert windows == [(seconds(baseline["watermark"]), target)]
    assert ex.wait(execution)["status"] == "SUCCEEDED"
