"""Each table's write history in virtual time, and its point-in-time recovery window.

moto keeps only a table's current items, so it cannot export a table "as of" a past
time nor list what changed between two times. This module keeps what AWS's
point-in-time recovery keeps. What it adds to moto, and the AWS page each piece
follows ("undocumented" where AWS says nothing and the module picks one behaviour):

- every successful write made through the DynamoDB API is logged as a ``Change``: the
  writer's virtual time (``clock.now()``; in server mode the caller's clock from
  ``clock.HEADER``), the table, the item's key and the item before and after the write
  (typed DynamoDB JSON, ``None`` where there is no item). PutItem, UpdateItem,
  DeleteItem, BatchWriteItem and TransactWriteItems read the items they name before
  and after the action; the PartiQL actions (ExecuteStatement, ExecuteTransaction,
  BatchExecuteStatement) compare every table before and after. A write that fails
  (failed condition, cancelled transaction) logs nothing. (Test support: AWS keeps
  this history inside point-in-time recovery and does not expose it.);
- a table's history starts the first time it is written through the API or has point-
  in-time recovery enabled. The items it holds at that moment are its *baseline* and
  count as present at every time. Items put into moto without the API (calling the
  backend directly) are not logged; write through boto3 after ``install()``. (Test
  support, no AWS counterpart.);
- enabling point-in-time recovery records when (virtual time): the window opens then
  ("Enable point-in-time recovery in DynamoDB"); disabling forgets it, so a re-enabled
  table restores nothing from before (undocumented). ``DescribeContinuousBackups`` and ``UpdateContinuousBackups`` answer with
  ``EarliestRestorableDateTime = max(enabled at, now - RecoveryPeriodInDays)``
  (``RecoveryPeriodInDays`` 1-35, default 35: "PointInTimeRecoverySpecification",
  "PointInTimeRecoveryDescription") and ``LatestRestorableDateTime = now - 5 minutes``
  ("PointInTimeRecoveryDescription" says it is typically 5 minutes before now; the exact
  lag is undocumented), never earlier than the earliest, so just after enabling both are
  the enable time (undocumented). ``restart_pitr`` moves the enable time, as if recovery
  had been off for a while;
- ``incremental_records`` gives what an incremental export of a window holds; see its
  docstring for what "DynamoDB table export output format" documents and the switch
  ``UNCHANGED_ITEMS`` for a case it does not.

Times are kept as whole microseconds so that a boundary sent as a timestamp compares
exactly with the write it names. A snapshot *at* ``t`` holds every write made at or
before ``t``; a window ``[from, to)`` holds the writes made at or after ``from`` and
before ``to`` ("IncrementalExportSpecification": ExportFromTime inclusive, ExportToTime
exclusive); its old images are the items as they were just before ``from`` and its new
images the items just before ``to``.

The history lives on moto's table object, so it goes when the table (or the mock) goes.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import itertools
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import clock

MICROS = 1_000_000
PITR_LAG_SECONDS = 300
"""How far ``LatestRestorableDateTime`` stays behind the current time."""
DEFAULT_RECOVERY_DAYS = 35

NEW_IMAGE = "NEW_IMAGE"
NEW_AND_OLD_IMAGES = "NEW_AND_OLD_IMAGES"

RECORD_UNCHANGED = "record"
"""An item written in the window but the same at its end as at its start gets a record."""
OMIT_UNCHANGED = "omit"
"""Such an item gets no record, as if it had not been written."""
UNCHANGED_ITEMS = RECORD_UNCHANGED
"""What ``incremental_records`` does with an item that was written inside the window
yet is identical at both ends (updated and changed back, or put again as it was).
Undocumented: "DynamoDB table export output format" describes inserts, updates,
deletes and insert-then-delete only. Tests may set this to ``OMIT_UNCHANGED`` to run
a consumer against the other plausible behaviour."""

_ATTRIBUTE = "_emulator_history"
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_LOCK = threading.RLock()
_sequence = itertools.count()
_installed = False


# -- values -----------------------------------------------------------------------------


def canonical_key(key: dict[str, Any]) -> str:
    """One string per item key (typed DynamoDB JSON), whatever the attribute order."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def to_micros(value: float | int | str | dt.datetime) -> int:
    """Epoch microseconds of a time given as epoch seconds, a datetime (naive means UTC,
    as moto parses request timestamps) or ISO-8601 text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return (value - _UNIX_EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, str):
        try:
            return round(float(value) * MICROS)
        except ValueError:
            return to_micros(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return round(float(value) * MICROS)


def _seconds(micros: int) -> float:
    return micros / MICROS


@dataclass(frozen=True)
class Change:
    """One logged write."""

    micros: int
    """Virtual time of the write, epoch microseconds."""
    seq: int
    """Arrival order, breaking ties between writes at the same time."""
    table: str
    key: dict[str, Any]
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    @property
    def time(self) -> float:
        return _seconds(self.micros)

    @property
    def key_json(self) -> str:
        return canonical_key(self.key)


@dataclass
class History:
    """What point-in-time recovery knows about one table."""

    baseline: dict[str, dict[str, Any]]
    changes: list[Change] = field(default_factory=list)
    """Sorted by (time, arrival)."""
    pitr_enabled_at: int | None = None
    """Microseconds; ``None`` while recovery is off (or not yet observed on)."""


# -- tables -----------------------------------------------------------------------------


def find_table(table: Any) -> Any:
    """moto's table object for a table name or ARN (or the object itself)."""
    if not isinstance(table, str):
        return table
    from moto.dynamodb.models import dynamodb_backends

    found: list[Any] = []
    # dict's own views: BackendDict creates accounts and regions on lookup.
    for regions in list(dict.values(dynamodb_backends)):
        for backend in list(dict.values(regions)):
            found.extend(t for t in list(backend.tables.values()) if table in (t.name, t.table_arn))
    if len(found) != 1:
        raise LookupError(f"{len(found)} tables match {table!r}; pass the table ARN")
    return found[0]


def key_of(table: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of an item (or of a ``Key``) for ``table``."""
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: attributes[name] for name in names}


def _current(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(DynamoType(key[table.hash_key_attr]), range_value)
    return None if item is None else copy.deepcopy(item.to_json()["Attributes"])


def _all_items(table: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for item in table.all_items():
        attributes = copy.deepcopy(item.to_json()["Attributes"])
        out[canonical_key(key_of(table, attributes))] = attributes
    return out


def history(table: Any) -> History:
    """The table's history, started (with its current items as baseline) if need be."""
    table = find_table(table)
    with _LOCK:
        found = getattr(table, _ATTRIBUTE, None)
        if found is None:
            found = History(baseline=_all_items(table))
            setattr(table, _ATTRIBUTE, found)
        return found


def _record(
    table: Any, key: dict[str, Any], old: dict[str, Any] | None, new: dict[str, Any] | None
) -> None:
    if old is None and new is None:
        return
    change = Change(
        micros=to_micros(clock.now()),
        seq=next(_sequence),
        table=table.name,
        key=copy.deepcopy(key),
        old=old,
        new=new,
    )
    bisect.insort(history(table).changes, change, key=lambda c: (c.micros, c.seq))


# -- reading the history ----------------------------------------------------------------


def _replay(found: History, until: int, inclusive: bool) -> dict[str, dict[str, Any]]:
    state = dict(found.baseline)
    for change in found.changes:
        if change.micros > until or (change.micros == until and not inclusive):
            break
        if change.new is None:
            state.pop(change.key_json, None)
        else:
            state[change.key_json] = change.new
    return copy.deepcopy(state)


def item_state_at(
    table: Any, at: float | str | dt.datetime, *, inclusive: bool = True
) -> dict[str, dict[str, Any]]:
    """The table's items at ``at``, keyed by ``canonical_key``: every write made at or
    before ``at`` (only before it with ``inclusive=False``)."""
    with _LOCK:
        return _replay(history(table), to_micros(at), inclusive)


def changes(table: Any) -> list[Change]:
    """Every logged write of the table, in time order."""
    with _LOCK:
        return list(history(table).changes)


def changes_between(
    table: Any, from_time: float | str | dt.datetime, to_time: float | str | dt.datetime
) -> list[Change]:
    """The writes made at or after ``from_time`` and before ``to_time``, in time order."""
    start, end = to_micros(from_time), to_micros(to_time)
    return [c for c in changes(table) if start <= c.micros < end]


def incremental_records(
    table: Any,
    from_time: float | str | dt.datetime,
    to_time: float | str | dt.datetime,
    view_type: str = NEW_AND_OLD_IMAGES,
) -> list[dict[str, Any]]:
    """What an incremental export of ``[from_time, to_time)`` writes, ordered by key.

    Follows the DynamoDB developer guide page "DynamoDB table export output format"
    (incremental export output): a window holds each item's *net* change, one record
    per item, comparing the item just before ``from_time`` with the item just before
    ``to_time``, not one record per write:

    - insert (absent at the start, present at the end): ``Keys`` and ``NewImage``;
    - update (present at both ends): ``Keys``, ``NewImage`` and, with
      ``NEW_AND_OLD_IMAGES``, ``OldImage``;
    - delete (present at the start, absent at the end): ``Keys`` and, with
      ``NEW_AND_OLD_IMAGES``, ``OldImage``; with ``NEW_IMAGE`` only ``Keys``;
    - an item inserted and deleted inside the window (absent at both ends): no record.

    Undocumented, and chosen here:

    - an item present at both ends with the same image although it was written in the
      window: a record like an update (``UNCHANGED_ITEMS = RECORD_UNCHANGED``, the
      default) or none (``OMIT_UNCHANGED``); which one AWS does is not documented;
    - ``Metadata.WriteTimestampMicros`` is the time of the item's last write inside the
      window, typed ``{"N": "<micros>"}`` as this project's schema reads it;
    - the order of records in a data file (here: by key).
    """
    start, end = to_micros(from_time), to_micros(to_time)
    with _LOCK:
        found = history(table)
        latest: dict[str, Change] = {}
        for change in found.changes:
            if start <= change.micros < end:
                latest[change.key_json] = change
        if not latest:
            return []
        before = _replay(found, start, inclusive=False)
        after = _replay(found, end, inclusive=False)
    records = []
    for key_json in sorted(latest):
        old, new = before.get(key_json), after.get(key_json)
        if old is None and new is None:
            continue  # inserted and deleted inside the window: nothing is exported
        if old == new and UNCHANGED_ITEMS == OMIT_UNCHANGED:
            continue
        change = latest[key_json]
        record: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(change.micros)}},
            "Keys": copy.deepcopy(change.key),
        }
        if new is not None:
            record["NewImage"] = new
        if view_type == NEW_AND_OLD_IMAGES and old is not None:
            record["OldImage"] = old
        records.append(record)
    return records


# -- point-in-time recovery -------------------------------------------------------------


def _pitr(table: Any) -> dict[str, Any]:
    return dict(table.continuous_backups["PointInTimeRecoveryDescription"])


def pitr_enabled(table: Any) -> bool:
    return bool(_pitr(find_table(table))["PointInTimeRecoveryStatus"] == "ENABLED")


def _window_micros(table: Any, now: int) -> tuple[int, int] | None:
    table = find_table(table)
    description = _pitr(table)
    if description["PointInTimeRecoveryStatus"] != "ENABLED":
        return None
    with _LOCK:
        found = history(table)
        if found.pitr_enabled_at is None:  # enabled some other way: first seen now
            found.pitr_enabled_at = now
        enabled_at = found.pitr_enabled_at
    days = int(description.get("RecoveryPeriodInDays") or DEFAULT_RECOVERY_DAYS)
    earliest = max(enabled_at, now - days * 86400 * MICROS)
    latest = max(earliest, now - PITR_LAG_SECONDS * MICROS)
    return earliest, latest


def pitr_window(table: Any, now: float | None = None) -> tuple[float, float] | None:
    """``(EarliestRestorableDateTime, LatestRestorableDateTime)`` in epoch seconds at
    ``now`` (default: this thread's clock), or ``None`` while recovery is off."""
    window = _window_micros(table, to_micros(clock.now() if now is None else now))
    return None if window is None else (_seconds(window[0]), _seconds(window[1]))


def restart_pitr(table: Any, at: float | None = None) -> None:
    """Make point-in-time recovery look enabled since ``at`` (default: now), as if it had
    been disabled and enabled again: nothing before ``at`` can be exported any more."""
    table = find_table(table)
    if not pitr_enabled(table):
        raise ValueError(f"point-in-time recovery is not enabled on {table.name}")
    with _LOCK:
        history(table).pitr_enabled_at = to_micros(clock.now() if at is None else at)


def continuous_backups(table: Any) -> dict[str, Any]:
    """The ``ContinuousBackupsDescription`` AWS would answer now."""
    table = find_table(table)
    out = copy.deepcopy(table.continuous_backups)
    window = _window_micros(table, to_micros(clock.now()))
    if window is not None:
        pitr = out["PointInTimeRecoveryDescription"]
        pitr["EarliestRestorableDateTime"] = _seconds(window[0])
        pitr["LatestRestorableDateTime"] = _seconds(window[1])
        pitr.setdefault("RecoveryPeriodInDays", DEFAULT_RECOVERY_DAYS)
    return out


# -- patching moto ----------------------------------------------------------------------

Target = tuple[str, dict[str, Any]]
"""(table name, item key)"""


def _put_targets(backend: Any, body: dict[str, Any]) -> list[Target]:
    table = backend.get_table(body["TableName"])
    return [(table.name, key_of(table, body["Item"]))]


def _key_targets(backend: Any, body: dict[str, Any]) -> list[Target]:
    table = backend.get_table(body["TableName"])
    return [(table.name, key_of(table, body["Key"]))]


def _batch_targets(backend: Any, body: dict[str, Any]) -> list[Target]:
    out = []
    for name, requests in body["RequestItems"].items():
        table = backend.get_table(name)
        for request in requests:
            if "PutRequest" in request:
                out.append((table.name, key_of(table, request["PutRequest"]["Item"])))
            elif "DeleteRequest" in request:
                out.append((table.name, key_of(table, request["DeleteRequest"]["Key"])))
    return out


def _transact_targets(backend: Any, body: dict[str, Any]) -> list[Target]:
    out = []
    for entry in body["TransactItems"]:
        for kind, operation in entry.items():
            if kind not in ("Put", "Update", "Delete"):
                continue
            table = backend.get_table(operation["TableName"])
            attributes = operation["Item"] if kind == "Put" else operation["Key"]
            out.append((table.name, key_of(table, attributes)))
    return out


def _every_table(backend: Any, body: dict[str, Any]) -> None:
    return None


TargetsOf = Callable[[Any, dict[str, Any]], "list[Target] | None"]


def _logged_write(original: Callable[[Any], Any], targets_of: TargetsOf) -> Callable[[Any], Any]:
    def action(handler: Any) -> Any:
        clock.adopt_header(handler.headers)
        backend = handler.dynamodb_backend
        with _LOCK:
            try:
                targets = targets_of(backend, handler.body)
            except Exception:  # malformed request: let moto answer it, watch everything
                targets = None
            if targets is None:
                return _diffing(backend, lambda: original(handler))
            before = {}
            for name, key in targets:
                table = backend.tables[name]
                history(table)
                before[(name, canonical_key(key))] = (key, _current(table, key))
            result = original(handler)
            for (name, _), (key, old) in before.items():
                table = backend.tables.get(name)
                if table is not None:
                    _record(table, key, old, _current(table, key))
            return result

    return action


def _diffing(backend: Any, run: Callable[[], Any]) -> Any:
    tables = list(backend.tables.values())
    before = {}
    for table in tables:
        history(table)
        before[table.name] = _all_items(table)
    result = run()
    for name, old_items in before.items():
        table = backend.tables.get(name)
        if table is None:
            continue
        new_items = _all_items(table)
        for key_json in sorted(set(old_items) | set(new_items)):
            old, new = old_items.get(key_json), new_items.get(key_json)
            if old != new:
                _record(table, json.loads(key_json), old, new)
    return result


def _write_actions() -> Iterable[tuple[str, TargetsOf]]:
    yield "put_item", _put_targets
    yield "update_item", _key_targets
    yield "delete_item", _key_targets
    yield "batch_write_item", _batch_targets
    yield "transact_write_items", _transact_targets
    yield "execute_statement", _every_table
    yield "execute_transaction", _every_table
    yield "batch_execute_statement", _every_table


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import TableNotFoundException
    from moto.dynamodb.responses import DynamoHandler

    for name, targets_of in _write_actions():
        setattr(DynamoHandler, name, _logged_write(getattr(DynamoHandler, name), targets_of))

    original_update = DynamoHandler.update_continuous_backups

    def table_named(handler: Any) -> Any:
        try:
            return handler.dynamodb_backend.get_table(handler.body["TableName"])
        except Exception:
            raise TableNotFoundException(handler.body["TableName"]) from None

    def update_continuous_backups(self: Any) -> Any:
        clock.adopt_header(self.headers)
        with _LOCK:
            was_enabled = pitr_enabled(table_named(self))
            original_update(self)
            table = table_named(self)
            if not pitr_enabled(table):
                history(table).pitr_enabled_at = None
            elif not was_enabled:
                history(table).pitr_enabled_at = to_micros(clock.now())
            return ActionResult({"ContinuousBackupsDescription": continuous_backups(table)})

    def describe_continuous_backups(self: Any) -> Any:
        clock.adopt_header(self.headers)
        return ActionResult({"ContinuousBackupsDescription": continuous_backups(table_named(self))})

    DynamoHandler.update_continuous_backups = update_continuous_backups  # type: ignore[method-assign]
    DynamoHandler.describe_continuous_backups = describe_continuous_backups  # type: ignore[method-assign]
    _installed = True
