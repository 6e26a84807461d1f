"""The exporter's CloudWatch dashboard, as plain data (``DashboardBody`` JSON).

One screen for on-call: runs started, succeeded and failed; table exports running;
how long exports take; throttling; dead letters; watermark lag (when some table is
incremental); and every alarm's state. Every metric it plots is one ``metrics.py``
lists as published for its namespace and dimension, the same list the alarms are
checked against.

Step Functions publishes no "executions running" metric, so exports in flight are
drawn as the running sum of table exports started minus those finished over the
dashboard's time range (``RUNNING_SUM`` metric math): exact when the range begins with
no export running, as it does for a range that starts before a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from table_exporter.kernel.limits import ALARM_WIDGET_LIMIT, WIDGET_METRICS_LIMIT
from table_exporter.kernel.metrics import (
    ATHENA,
    LAG_METRIC,
    METRIC_NAMESPACE,
    athena_dml_dimensions,
)

STATES = "AWS/States"
FINISHED = ("ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")


@dataclass(frozen=True)
class DashboardSpec:
    region: str
    run_machine_arn: str
    table_machine_arn: str
    dead_letter_queue: str
    exporter: str
    alarm_arns: Sequence[str] = ()
    incremental: bool = False
    delivery_streams: Sequence[str] = ()
    """Change-history deliveries (Firehose delivery stream names)."""
    pipes: Sequence[str] = ()
    """Change-history pipes."""
    athena_workgroup: str | None = None
    """Set when some table keeps a current table: its merges run in this workgroup."""


def console_url(region: str, dashboard_name: str) -> str:
    """Where the dashboard opens in the CloudWatch console."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={dashboard_name}"
    )


def _metric(namespace: str, metric: str, dimension: str, value: str, **options: Any) -> list[Any]:
    return (
        [namespace, metric, dimension, value, options]
        if options
        else [
            namespace,
            metric,
            dimension,
            value,
        ]
    )


def _widget(
    title: str, metrics: list[list[Any]], x: int, y: int, **properties: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {"title": title, "metrics": metrics, "view": "timeSeries", **properties},
    }


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive groups of at most ``size``: one widget holds at most so
    many metrics or alarms."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def dashboard_body(spec: DashboardSpec) -> dict[str, Any]:
    """The ``DashboardBody`` for one exporter."""
    run, table = spec.run_machine_arn, spec.table_machine_arn
    common = {"region": spec.region, "period": 300}
    runs = [
        _metric(STATES, name, "StateMachineArn", run, label=label, stat="Sum")
        for name, label in (
            ("ExecutionsStarted", "runs started"),
            ("ExecutionsSucceeded", "runs succeeded"),
            ("ExecutionsFailed", "runs failed"),
        )
    ]
    started = _metric(
        STATES,
        "ExecutionsStarted",
        "StateMachineArn",
        table,
        id="started",
        stat="Sum",
        visible=False,
    )
    finished = [
        _metric(STATES, name, "StateMachineArn", table, id=f"f{i}", stat="Sum", visible=False)
        for i, name in enumerate(FINISHED)
    ]
    in_flight = [
        started,
        *finished,
        [
            {
                "expression": "RUNNING_SUM(started) - RUNNING_SUM("
                + " + ".join(f"FILL(f{i}, 0)" for i in range(len(FINISHED)))
                + ")",
                "label": "table exports running",
                "id": "running",
            }
        ],
    ]
    durations = [
        _metric(
            STATES, "ExecutionTime", "StateMachineArn", table, stat=stat, label=f"export {stat}"
        )
        for stat in ("Average", "p90", "Maximum")
    ]
    throttles = [
        _metric(STATES, "ExecutionThrottled", "StateMachineArn", arn, stat="Sum", label=label)
        for arn, label in ((run, "runs throttled"), (table, "table exports throttled"))
    ]
    dead_letters = [
        _metric(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            spec.dead_letter_queue,
            stat="Maximum",
            label="undeliverable runs",
        )
    ]
    widgets = [
        _widget("Runs", runs, 0, 0, **common),
        _widget("Table exports in flight", in_flight, 12, 0, **common),
        _widget("Table export duration (ms)", durations, 0, 6, **common),
        _widget("Throttling", throttles, 12, 6, **common),
        _widget("Dead letters", dead_letters, 0, 12, **common),
    ]
    if spec.incremental:
        lag = [
            _metric(
                METRIC_NAMESPACE,
                LAG_METRIC,
                "Exporter",
                spec.exporter,
                stat="Maximum",
                label="watermark lag (s)",
            )
        ]
        widgets.append(
            _widget("Incremental watermark lag", lag, 12, 12, region=spec.region, period=3600)
        )
    if spec.athena_workgroup is not None:
        merged = [
            value
            for pair in athena_dml_dimensions(spec.athena_workgroup, "SUCCEEDED").items()
            for value in pair
        ]
        durations = [
            [ATHENA, "TotalExecutionTime", *merged, {"stat": stat, "label": f"merge {stat}"}]
            for stat in ("Average", "Maximum")
        ]
        scanned = [[ATHENA, "ProcessedBytes", *merged, {"stat": "Sum", "label": "bytes scanned"}]]
        widgets.append(_widget("Current tables: merge duration (ms)", durations, 0, 18, **common))
        widgets.append(_widget("Current tables: bytes scanned", scanned, 12, 18, **common))
    if spec.delivery_streams:
        freshness = [
            _metric("AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", stream,
                    stat="Maximum", label=f"{stream} oldest change not in S3 (s)")
            for stream in spec.delivery_streams
        ]  # fmt: skip
        failures = [
            _metric("AWS/EventBridge/Pipes", "ExecutionFailed", "PipeName", pipe, stat="Sum",
                    label=f"{pipe} failed batches")
            for pipe in spec.pipes
        ]  # fmt: skip
        for title, metrics, x in (
            ("Change history: delivery lag", freshness, 0),
            ("Change history: failed batches", failures, 12),
        ):
            parts = _chunks(metrics, WIDGET_METRICS_LIMIT)
            for index, part in enumerate(parts):
                shown = f"{title} ({index + 1}/{len(parts)})" if len(parts) > 1 else title
                widgets.append(_widget(shown, part, x, 24 + 6 * index, **common))
    alarm_parts = _chunks(sorted(spec.alarm_arns), ALARM_WIDGET_LIMIT)
    top = max(30, *(w["y"] + w["height"] for w in widgets))
    for index, part in enumerate(alarm_parts):
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": top + 4 * index,
                "width": 24,
                "height": 4,
                "properties": {
                    "title": f"Alarms ({index + 1}/{len(alarm_parts)})"
                    if len(alarm_parts) > 1
                    else "Alarms",
                    "alarms": part,
                },
            }
        )
    return {"widgets": widgets}


def plotted_metrics(body: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(namespace, metric, dimension name)`` of every metric the dashboard plots."""
    found = []
    for widget in body["widgets"]:
        for entry in widget["properties"].get("metrics", []):
            if isinstance(entry[0], str):
                found.append((entry[0], entry[1], entry[2]))
    return found
