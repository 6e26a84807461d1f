"""How current tables are watched: Athena's own per-workgroup metrics of the DML queries
(the MERGEs) the table export machine runs ("Monitor Athena query metrics with
CloudWatch": ``TotalExecutionTime`` and ``ProcessedBytes`` per ``WorkGroup``, with
``QueryState`` and ``QueryType``; the workgroup publishes them,
``publish_cloudwatch_metrics_enabled``)."""

from __future__ import annotations

from table_exporter.kernel.alarms import AlarmSpec
from table_exporter.kernel.metrics import ATHENA


def current_alarm_specs() -> list[AlarmSpec]:
    """A failed merge fails its table's export too (and ``table-export`` alarms see it);
    this alarm names the cause: Athena refused or could not run a statement."""
    return [
        AlarmSpec(
            role="current-merge-failed",
            subject="workgroup",
            namespace=ATHENA,
            metric_name="TotalExecutionTime",
            statistic="SampleCount",
            period_seconds=300,
            evaluation_periods=1,
            comparison="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
            description=(
                "An Athena DML query in the exporter's workgroup failed: a current table's "
                "MERGE (its table's watermark stays; the next run applies the window again)."
            ),
        )
    ]
