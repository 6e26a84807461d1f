"""States that run the current table's statements through Athena, without Lambda:
``arn:aws:states:::athena:startQueryExecution.sync`` waits for the query and fails the
task when the query ends FAILED ("Run Athena queries with Step Functions").

The query text is JSONata that fills the window's times into the text ``sql.py``
builds, so what Athena receives is exactly ``merge_window_sql`` for that window: the
statement is rendered once with marker times, and the markers are replaced at run time
(the tests compare the two). The key columns are those given here; a machine that
reads them from DescribeTable at run time renders this per key schema.
"""

from __future__ import annotations

from table_exporter.current.sql import (
    CurrentTable,
    Window,
    create_sql,
    merge_window_sql,
    replace_from_baseline_sql,
)
from table_exporter.kernel.asl import Catch, Fail, Grant, State, Task, jsonata

START_QUERY_SYNC = "arn:aws:states:::athena:startQueryExecution.sync"
GRANTS = (
    Grant(
        "workgroup",
        ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"),
    ),
)
"""What a ``.sync`` Athena task needs on the workgroup ("Run Athena queries with Step
Functions", IAM policies); Glue and S3 access for the tables it reads come on top."""

# Marker times no real window has (the year 2255): replaced by the window's own.
_FROM = 9_000_000_000_000_000
_TO = _FROM + 86_400_000_000
_DAY_PICTURE = "'[Y0001]-[M01]-[D01]'"


def _literal(text: str) -> str:
    """A JSONata string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _micros(time: str, *, minus_one: bool = False) -> str:
    """JSONata: epoch microseconds of an ISO-8601 time as text. Built from the
    milliseconds' digits: JSONata's ``$string`` keeps 15 significant digits, and
    microseconds since 1970 have 16 (it would print ...300000000 for ...299999999)."""
    if minus_one:
        return f"($string($toMillis({time}) - 1) & '999')"
    return f"($string($toMillis({time})) & '000')"


def merge_window_query(table: CurrentTable, start: str, end: str) -> str:
    """JSONata giving ``merge_window_sql`` for the window ``[start, end)``, two JSONata
    expressions of ISO-8601 times (e.g. ``$pending.from``)."""
    template = merge_window_sql(table, Window(_FROM, _TO))
    marker_day = Window(_FROM, _TO).day
    return (
        f"$replace($replace($replace({_literal(template)},"
        f" {_literal(marker_day)}, $fromMillis($toMillis({start}), {_DAY_PICTURE})),"
        f" '{_FROM}', {_micros(start)}), '{_TO}', {_micros(end)})"
    )


def replace_query(table: CurrentTable, baseline_time: str) -> str:
    """JSONata giving ``replace_from_baseline_sql`` for the baseline taken at
    ``baseline_time`` (an ISO-8601 JSONata expression)."""
    template = replace_from_baseline_sql(table, _FROM + 1)
    return f"$replace({_literal(template)}, '{_FROM}', {_micros(baseline_time, minus_one=True)})"


def create_query(table: CurrentTable) -> str:
    return _literal(create_sql(table))


def query_task(
    name: str, query: str, *, workgroup: str, database: str, failed: State, next_state: State
) -> Task:
    """One ``.sync`` query; any error goes to ``failed`` with the error and cause."""
    return Task(
        name,
        resource=START_QUERY_SYNC,
        arguments={
            # Not asl.jsonata(): it folds whitespace, and that would change the SQL text.
            "QueryString": "{% " + query + " %}",
            "QueryExecutionContext": {"Database": database},
            "WorkGroup": workgroup,
        },
        grants=GRANTS,
        catch=[Catch(["States.ALL"], failed)],
        next=next_state,
        comment="Athena runs the statement; .sync waits until it has SUCCEEDED or FAILED.",
    )


def failure(name: str = "CurrentTableFailed") -> Fail:
    """Fails the execution with the query task's error and cause (JSONata Fail fields
    read the caught error from ``$states.input``)."""
    return Fail(
        name,
        error=jsonata("'CurrentTable.' & $states.input.Error"),
        cause=jsonata("$states.input.Cause"),
        comment="The current table was not brought up to date: the watermark stays.",
    )
