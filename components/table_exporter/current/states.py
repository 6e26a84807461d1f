"""States that keep ``<table>_current`` through Athena, without Lambda:
``arn:aws:states:::athena:startQueryExecution.sync`` waits for the query and fails the
task when the query ends FAILED ("Run Athena queries with Step Functions").

The statements are built at run time, in JSONata, from the templates ``sql.py``
renders (carried in the definition as plain JSON): the key attributes come from
DescribeTable, the declared columns from the execution input's ``columns``, and JSONata
only fills in and joins, as ``sql.render`` does (``$split`` then ``$join``, so nothing
in the SQL is read as a pattern). The tests compare the two character for character.

    KeepCurrentTable ─▶ ReadCurrentKeys ─▶ CurrentKeysUsable ─┬─▶ MergeCurrentWindow ─────────────┐
                                                              ├─▶ CreateCurrent ─▶ Optimize* ─▶ ReplaceCurrent ─▶ CurrentTableKept
                                                              └─▶ UnusableKeyAttribute ─▶ (failure)

Any failure (a query that ends FAILED, a key attribute whose name cannot be a column)
goes to the caller's failure state with ``{Error, Cause}``.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from table_exporter.catalog.tables import DAY_STAMP, GLUE_NAME, INPUT
from table_exporter.current import grants as on
from table_exporter.current.sql import CURRENT_SUFFIX, KEY, KEY_NAME_RULE, RESERVED, templates
from table_exporter.kernel import fragments
from table_exporter.kernel.asl import Catch, Choice, Pass, State, StateBuilder, Task, jsonata
from table_exporter.kernel.grants import Grant, Resource
from table_exporter.kernel.retries import error_name, retry_for

START_QUERY_SYNC = "arn:{partition}:states:::athena:startQueryExecution.sync"

OPTIMIZERS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("OptimizeCurrentCompaction", "compaction", {}),
    (
        "OptimizeCurrentRetention",
        "retention",
        # Snapshots older than three days expire, the last one always kept; their files go.
        {
            "RetentionConfiguration": {
                "IcebergConfiguration": {
                    "SnapshotRetentionPeriodInDays": 3,
                    "NumberOfSnapshotsToRetain": 1,
                    "CleanExpiredFiles": True,
                }
            }
        },
    ),
    # Orphan file deletion with its default retention (files unreferenced for 3 days).
    ("OptimizeCurrentOrphanFiles", "orphan_file_deletion", {}),
)
"""Glue table optimizers ("Optimizing Iceberg tables", CreateTableOptimizer): Glue
compacts, expires snapshots and removes orphan files itself, as the role passed."""

QUERY_GRANTS = (
    Grant(
        on.QUERIES,
        ("athena:GetQueryExecution", "athena:StartQueryExecution", "athena:StopQueryExecution"),
    ),
    # What Athena does as the caller to run the statements (``grants.py``).
    Grant(on.DATABASE, ("glue:GetDatabase",)),
    Grant(on.SOURCE_TABLES, ("glue:GetTable",)),
    Grant(on.COMMITS, ("glue:CreateTable", "glue:UpdateTable")),
    Grant(on.EXPORT_READS, ("s3:GetObject",)),
    Grant(on.EXPORT_LISTING, ("s3:ListBucket",)),
    Grant(on.RESULTS_BUCKET, ("s3:GetBucketLocation",)),
    Grant(on.TABLE_OBJECTS, ("s3:GetObject", "s3:PutObject")),
    Grant(on.QUERY_RESULTS, ("s3:PutObject",)),
)

# The table's columns: keys (hash, then range) from DescribeTable, then the declared
# columns (Glue members "name:struct<d:type>") that are not keys.
COLUMNS = f"""(
  $defs := $states.result.Table.AttributeDefinitions;
  $keyCols := [$sort($states.result.Table.KeySchema, function($a, $b) {{ $a.KeyType = 'RANGE' }}).(
    $attr := AttributeName;
    {{'name': $lowercase($attr), 'attr': $attr, 'kind': '{KEY}', 'd': $defs[AttributeName = $attr].AttributeType}}
  )];
  $declared := [$map({INPUT}.columns ? {INPUT}.columns : [], function($member) {{ (
    $name := $substringBefore($member, ':');
    {{'name': $name, 'attr': $name, 'kind': $substringBefore($substringAfter($member, 'struct<'), ':'), 'd': ''}}
  ) }})];
  $append($keyCols, [$declared[$not(name in $keyCols.name)]])
)"""

_RESERVED = "[" + ", ".join(f"'{name}'" for name in RESERVED) + "]"
UNUSABLE = (
    f"$currentColumns[kind = '{KEY}' and ($not($contains(attr, /{KEY_NAME_RULE}/))"
    f" or name in {_RESERVED})]"
)
"""Key attributes whose name cannot be a column (a declared column's name was checked
when the exporter was configured)."""


def _fill(statement: str, values: str) -> str:
    """JSONata: ``sql.render`` of the templates' ``statement`` with ``values`` (a JSONata
    object of marker -> text) and ``$currentColumns``."""
    return f"""(
  $T := $currentTemplates;
  $swap := function($text, $marker, $value) {{ $join($split($text, $marker), $value) }};
  $fill := function($t, $c) {{ $swap($swap($swap($t, '{{name}}', $c.name), '{{attr}}', $c.attr), '{{d}}', $c.d) }};
  $part := function($p) {{ (
    $P := $lookup($T.parts, $p);
    $join([$map([$currentColumns[$exists($lookup($P, kind))]], function($c) {{ $fill($lookup($P, $c.kind), $c) }})], $P.sep)
  ) }};
  $values := {values};
  $text := $reduce($keys($values), function($acc, $k) {{ $swap($acc, '<<' & $k & '>>', $lookup($values, $k)) }}, $T.{statement});
  $reduce($keys($T.parts), function($acc, $p) {{ $swap($acc, '<<' & $p & '>>', $part($p)) }}, $text)
)"""


def _micros(time: str, *, minus_one: bool = False) -> str:
    """JSONata: epoch microseconds of an ISO-8601 time as text, built from the
    milliseconds' digits (``$string`` keeps 15 significant digits, microseconds have 16)."""
    if minus_one:
        return f"($string($toMillis({time}) - 1) & '999')"
    return f"($string($toMillis({time})) & '000')"


def _expression(text: str) -> str:
    """A JSONata field whose whitespace is kept (``asl.jsonata`` folds it)."""
    return "{% " + text + " %}"


def location(current_bucket: str) -> str:
    """JSONata: the table's Iceberg folder, ``s3://<current bucket>/<table prefix>/``."""
    return f"'s3://{current_bucket}/' & {INPUT}.prefix & '/'"


def build(
    builder: StateBuilder,
    *,
    database: str,
    workgroup: str,
    location: str,
    optimizer_role_arn: str | None,
    tables: Resource[Any],
    key: Grant | None,
    export_time: str,
    window: tuple[str, str] | None,
    merge_when: str | None,
    failed: State,
) -> tuple[Task, list[Task]]:
    """The states; returns ``ReadCurrentKeys`` and the states a kept table goes on from
    (the caller links them on). ``export_time`` is JSONata of the replacing export's
    time; ``window`` JSONata of the merged window's start and end, merged instead of
    replacing when ``merge_when`` holds; ``failed`` gets ``{Error, Cause}``. ``tables``
    is the caller's resource for DescribeTable on the exported table; ``key`` its grant
    on the bucket's key, when there is one (Athena reads and writes the objects with the
    caller's rights)."""
    states = _States(
        builder,
        database=database,
        workgroup=workgroup,
        optimizer_role_arn=optimizer_role_arn,
        grants=QUERY_GRANTS if key is None else (*QUERY_GRANTS, key),
        failed=failed,
    )
    read = states.read_keys(tables)
    usable = read.then(states.keys_usable())
    kept: list[Task] = []
    if window is not None and merge_when is not None:
        merge = states.merge(window)
        # After the unusable-key rule: choices are tried in order.
        usable.when(jsonata(merge_when), merge)
        kept.append(merge)
    kept.append(states.replace(usable, location, export_time))
    return read, kept


# The values each statement's template is filled in with (JSONata objects): the table
# name from the execution input unless ``table`` says otherwise.


def create_values(location: str, table: str = GLUE_NAME) -> str:
    """``location`` (JSONata) quoted for a SQL string."""
    quoted = f'$join($split({location}, "\'"), "\'\'")'
    return f"{{'table': {table}, 'location': {quoted}}}"


def replace_values(export_time: str, table: str = GLUE_NAME) -> str:
    return f"{{'table': {table}, 'stamp': {_micros(export_time, minus_one=True)}}}"


def merge_values(window: tuple[str, str], table: str = GLUE_NAME) -> str:
    start, end = window
    return (
        f"{{'table': {table}, 'day': $fromMillis($toMillis({start}), {DAY_STAMP}), "
        f"'from': {_micros(start)}, 'to': {_micros(end)}}}"
    )


class _States:
    """Builds the current table's states in the order an execution meets them."""

    def __init__(
        self,
        builder: StateBuilder,
        *,
        database: str,
        workgroup: str,
        optimizer_role_arn: str | None,
        grants: tuple[Grant, ...],
        failed: State,
    ) -> None:
        self.builder = builder
        self.database = database
        self.workgroup = workgroup
        self.optimizer_role_arn = optimizer_role_arn
        self.grants = grants
        self.failed = failed
        self.sync = START_QUERY_SYNC.format(partition=builder.sdk.split(":")[1])

    def read_keys(self, tables: Resource[Any]) -> Task:
        return self.builder.task(
            "ReadCurrentKeys",
            "dynamodb",
            "describeTable",
            grants=(Grant(tables, ("dynamodb:DescribeTable",)),),
            comment="The key schema types the current table's key columns.",
            arguments={"TableName": jsonata(f"{INPUT}.tableArn")},
            assign={
                "currentColumns": jsonata(COLUMNS),
                # A JSONata literal (JSON is one), not a JSON value: the text keeps its newlines.
                "currentTemplates": _expression(json.dumps(templates(self.database))),
            },
            catch=fragments.catch_all(self.failed),
        )

    def keys_usable(self) -> Choice:
        """``CurrentKeysUsable``: a key attribute whose name cannot be a column fails the
        table; the other ways on are the caller's."""
        return self.builder.add(
            Choice("CurrentKeysUsable").when(
                jsonata(f"$count({UNUSABLE}) > 0"),
                self.builder.add(
                    Pass(
                        "UnusableKeyAttribute",
                        output={
                            "Error": "CurrentTable.UnusableKeyAttribute",
                            "Cause": jsonata(
                                f"'key attribute ' & $join({UNUSABLE}.('\"' & attr & '\"'), ', ') & "
                                f"' cannot be a column of ' & {GLUE_NAME} & '{CURRENT_SUFFIX}: a key attribute "
                                f"name must match {KEY_NAME_RULE} and not be one of ' & $join({_RESERVED}, ', ')"
                            ),
                        },
                        next=self.failed,
                    )
                ),
            )
        )

    def merge(self, window: tuple[str, str]) -> Task:
        return self.query(
            "MergeCurrentWindow",
            "merge",
            merge_values(window),
            "One MERGE of the window's net changes, before the watermark moves.",
        )

    def replace(self, usable: Choice, location: str, export_time: str) -> Task:
        """``CreateCurrent`` ─▶ ``Optimize*`` ─▶ ``ReplaceCurrent``, the way on from
        ``usable`` by default; returns the last, whose way on is the caller's."""
        create = self.query(
            "CreateCurrent",
            "create",
            create_values(location),
            "CREATE TABLE IF NOT EXISTS: the Iceberg table, typed by the key schema.",
        )
        usable.otherwise(create)
        optimizers = [
            self.optimizer(name, kind, extra)
            for name, kind, extra in (OPTIMIZERS if self.optimizer_role_arn else ())
        ]
        replace = self.query(
            "ReplaceCurrent",
            "replace",
            replace_values(export_time),
            "One MERGE: the table becomes the export <table>_latest_raw points at.",
        )
        for step, after in itertools.pairwise([create, *optimizers, replace]):
            step.then(after)
            if step is not create:
                # An optimizer already there (an earlier run made it) is not an error.
                step.on_error([error_name("glue", "AlreadyExistsException")], after)
                step.catch += fragments.catch_all(self.failed)
        return replace

    def query(self, name: str, statement: str, values: str, comment: str) -> Task:
        """``statement`` of the templates, filled in with ``values``, run and waited for."""
        return self.builder.add(
            Task(
                name,
                resource=self.sync,
                comment=comment,
                arguments={
                    # The SQL text is in $currentTemplates: whitespace in the code may fold.
                    "QueryString": jsonata(_fill(statement, values)),
                    "QueryExecutionContext": {"Database": self.database},
                    "WorkGroup": self.workgroup,
                },
                output={},
                grants=self.grants,
                # Athena's quota of running queries frees up as queries finish.
                retry=retry_for("athena", "startQueryExecution"),
                catch=[Catch(["States.ALL"], self.failed, jsonata(QUERY_FAILURE))],
            )
        )

    def optimizer(self, name: str, kind: str, extra: dict[str, Any]) -> Task:
        """A Glue table optimizer of ``kind``; its ways on are added once the next state
        is made (``replace``)."""
        return self.builder.task(
            name,
            "glue",
            "createTableOptimizer",
            grants=(
                Grant(on.OPTIMIZERS, ("glue:CreateTableOptimizer",)),
                Grant(on.OPTIMIZER_ROLE, ("iam:PassRole",)),
            ),
            comment="Already there (an earlier run made it): nothing to do.",
            arguments={
                "CatalogId": jsonata("$split($states.context.StateMachine.Id, ':')[4]"),
                "DatabaseName": self.database,
                "TableName": jsonata(f"{GLUE_NAME} & '{CURRENT_SUFFIX}'"),
                "Type": kind,
                "TableOptimizerConfiguration": {
                    "RoleArn": self.optimizer_role_arn,
                    "Enabled": True,
                    **extra,
                },
            },
        )


QUERY_FAILURE = """(
  $c := $states.errorOutput.Cause;
  $q := ($type($c) = 'string' and $substring($c, 0, 1) = '{') ? $parse($c) : {};
  $reason := $q.QueryExecution.Status.StateChangeReason;
  {'Error': 'CurrentTable.QueryFailed',
   'Cause': $reason ? 'query ' & $q.QueryExecution.QueryExecutionId & ' ended '
     & $q.QueryExecution.Status.State & ': ' & $reason : $c}
)"""
"""A failed query's ``{Error, Cause}``: the cause is Athena's reason when the ``.sync``
failure carries the query execution (how it does is undocumented), else the cause."""
