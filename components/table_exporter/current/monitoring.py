"""How current tables are watched: Athena's own per-workgroup metrics of the DML queries
(the MERGEs) the table export machine runs ("Monitor Athena query metrics with
CloudWatch": ``TotalExecutionTime`` and ``ProcessedBytes`` per ``WorkGroup``, with
``QueryState`` and ``QueryType``; the workgroup publishes them,
``publish_cloudwatch_metrics_enabled``)."""

from __future__ import annotations

from table_exporter.kernel.alarms import AlarmSpec, any_in_five_minutes
from table_exporter.kernel.metrics import ATHENA


def current_alarm_specs() -> list[AlarmSpec]:
    """A failed merge fails its table's export too (and the run alarms see it); this
    alarm names the cause: Athena refused or could not run a statement. Each query
    reports one ``TotalExecutionTime``, so its sample count counts failed queries."""
    return [
        any_in_five_minutes(
            "current-merge-failed",
            "workgroup",
            "TotalExecutionTime",
            "An Athena DML query in the exporter's workgroup failed: a current table's MERGE "
            "(its table's watermark stays; the next run applies the window again).",
            namespace=ATHENA,
            statistic="SampleCount",
        )
    ]
