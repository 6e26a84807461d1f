"""`make bench`: the scale and polling figures in the README, measured on this machine.

1. Program evaluation under Pulumi mocks for 1, 10, 100 and 1,000 tables: resources
   registered, wall time, IAM policy and definition sizes.
2. Execution history sizes for 1,000 tables: the run executed in the emulator (its
   Distributed Map runs each table as a child workflow), and one table export whose
   export runs 24 hours (virtual time).
3. Exports in flight for each ``maxConcurrency``: the most exports started and not yet
   seen COMPLETED at once, while a run exports more tables than that.
4. Polling: billed state transitions and completion-detection lag per export duration,
   for the exporter's proportional polling and for fixed 15 s and 600 s polling, all by
   executing the table export definition in the emulator with a modelled duration.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import bench_current
from bench_support import count_transitions, in_emulator, table
from table_exporter.export.policies import granted_tables
from table_exporter.export.table_machine import (
    Destination,
    TableExportSpec,
    table_export_definition,
)
from table_exporter.kernel.polling import PollPolicy

from emulator import export_model, harness
from emulator.stack import capture_stack, stack_config

HISTORY_LIMIT = 25_000


def table_names(count: int) -> list[str]:
    return [f"tenant-{i:04d}-orders" for i in range(count)]


def program_scale() -> list[dict[str, Any]]:
    rows = []
    for count in (1, 10, 100, 1000):
        config = {
            **stack_config("prd"),
            "exporter:tables": json.dumps([{"table": t} for t in table_names(count)]),
            "exporter:tableAccess": "prefix",
        }
        started = time.perf_counter()
        stack = capture_stack("prd", config=config)
        elapsed = time.perf_counter() - started
        policy = json.loads(
            stack.resource("aws:iam/rolePolicy:RolePolicy", "exporter-table-export-policy")[
                "policy"
            ]
        )
        granted = granted_tables(policy)
        definition_sizes = {
            role: len(json.dumps(stack.state_machine(role)[1])) for role in ("run", "table-export")
        }
        schedule = stack.resource("aws:scheduler/schedule:Schedule", "exporter-schedule")
        rows.append(
            {
                "tables": count,
                "resources": len(stack.mocks.resources),
                "seconds": round(elapsed, 2),
                "table_policy_chars": len(json.dumps(policy, separators=(",", ":"))),
                "table_grant": "exact"
                if len(granted) == 2 * count
                else f"{len(granted)} prefix patterns",
                "largest_definition_bytes": max(definition_sizes.values()),
                "schedule_input_bytes": len(schedule["target"]["input"]),
            }
        )
    return rows


STAND_IN_TABLE_EXPORT = {
    "Comment": "Stand-in child for history counting: a child's own states never appear in its parent's history.",
    "QueryLanguage": "JSONata",
    "StartAt": "Exported",
    "States": {
        "Exported": {
            "Type": "Succeed",
            "Output": {
                "table": "{% $substringAfter($states.input.tableArn, ':table/') %}",
                "tableArn": "{% $states.input.tableArn %}",
                "mode": "full",
                "status": "COMPLETED",
                "exportArn": "{% $states.input.tableArn & '/export/01700000000000-abcdef01' %}",
                "itemCount": 0,
                "billedSizeBytes": 0,
                "s3Location": "{% 's3://bench-exports/' & $states.input.s3Prefix & '/AWSDynamoDB/01700000000000-abcdef01/' %}",
            },
        }
    },
}


def history_sizes() -> dict[str, Any]:
    def body(aws: dict[str, Any]) -> dict[str, Any]:
        tables = table_names(1000)
        # The run, exactly as generated, over 1,000 tables. Its history does not depend
        # on what a child does inside or for how long, so the table export here is a
        # stand-in that completes at once.
        definitions = {
            name: definition
            for name, definition in harness.definitions(
                bucket="bench-exports", tables=tables, name="scale", max_concurrency=300
            ).items()
        }
        definitions["scale-table-export"] = STAND_IN_TABLE_EXPORT
        exporter = harness.deploy_definitions(aws["stepfunctions"], "scale", definitions)
        started = time.perf_counter()
        result = exporter.run("bench-1000", {"scheduledTime": "2026-11-23T04:00:00Z"}, timeout=1800)
        elapsed = time.perf_counter() - started
        run_events = len(exporter.history(result["executionArn"]))
        # One real table export whose export runs 24 hours.
        export_model.MODEL.behave(tables[0], duration_seconds=24 * 3600)
        table_arn = harness.create_table(aws["dynamodb"], tables[0])
        real = harness.deploy(
            aws["stepfunctions"], bucket="bench-exports", tables=[tables[0]], name="long"
        )
        child = aws["stepfunctions"].start_execution(
            stateMachineArn=real.table_arn,
            name="export-24h",
            input=json.dumps(
                {"tableArn": table_arn, "s3Prefix": "exports/long", "clientToken": "long"}
            ),
        )["executionArn"]
        long_result = real.wait(child, timeout=600)
        long_events = len(real.history(child))
        return {
            "run_status": result["status"],
            "run_seconds": round(elapsed, 1),
            "tables": len(tables),
            "table_executions_started": len(exporter.table_executions()),
            "run_history_events": run_events,
            "run_report_tables": len(result["tables"]),
            "table_export_24h_status": long_result["status"],
            "table_export_24h_history_events": long_events,
            "largest_history_events": max(run_events, long_events),
            "half_of_limit": HISTORY_LIMIT // 2,
        }

    return in_emulator(body)


def exports_in_flight(concurrencies: list[int]) -> list[dict[str, Any]]:
    """For each maxConcurrency, a run over more tables than that, and the most exports
    started and not yet seen COMPLETED by their poll at any one moment."""

    def body(aws: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        model = export_model.MODEL
        start, describe = model.start, model.describe
        running: set[str] = set()
        most = [0]

        def counted_start(backend: Any, request: dict[str, Any]) -> dict[str, Any]:
            described = start(backend, request)
            running.add(described["ExportArn"])
            most[0] = max(most[0], len(running))
            return described

        def counted_describe(backend: Any, export_arn: str) -> dict[str, Any]:
            described = describe(backend, export_arn)
            if described["ExportStatus"] != "IN_PROGRESS":
                running.discard(export_arn)
            return described

        model.start, model.describe = counted_start, counted_describe  # type: ignore[method-assign]
        model.default = export_model.Behaviour(duration_seconds=600)
        try:
            for concurrency in concurrencies:
                name = f"c{concurrency}"
                tables = [f"{name}-t{i:03d}" for i in range(concurrency + 5)]
                for t in tables:
                    harness.create_table(aws["dynamodb"], t)
                exporter = harness.deploy(
                    aws["stepfunctions"],
                    bucket="bench-exports",
                    tables=tables,
                    name=name,
                    max_concurrency=concurrency,
                    # Up to 305 tables: named by pattern, as the prd stack does.
                    table_access="prefix",
                )
                most[0] = 0
                started = time.perf_counter()
                result = exporter.run(
                    f"{name}-run", {"scheduledTime": "2026-11-23T04:00:00Z"}, timeout=1800
                )
                rows.append(
                    {
                        "maxConcurrency": concurrency,
                        "tables": len(tables),
                        "status": result["status"],
                        "exports_in_flight": most[0],
                        "seconds": round(time.perf_counter() - started, 1),
                    }
                )
        finally:
            model.start, model.describe = start, describe  # type: ignore[method-assign]
        return rows

    return in_emulator(body)


def _cases(poll: PollPolicy, durations: list[int]) -> list[tuple[int, str]]:
    """Each nominal duration, and the nearby duration this polling notices latest: an
    export that completes one second after a poll waits the whole next interval."""
    cases = []
    for duration in durations:
        before = [t for t in poll.poll_times(duration) if t < duration]
        worst = (before[-1] + 1) if before else duration
        cases.append((duration, "nominal"))
        if worst != duration:
            cases.append((worst, f"worst near {duration}"))
    return cases


def polling(durations: list[int]) -> list[dict[str, Any]]:
    strategies = {
        "proportional (exporter)": PollPolicy(),
        "fixed 15 s": PollPolicy(min_seconds=15, max_seconds=15),
        "fixed 600 s": PollPolicy(min_seconds=600, max_seconds=600),
    }

    def body(aws: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        for label, poll in strategies.items():
            name = "p" + str(abs(hash(label)) % 10_000)
            definition = table_export_definition(
                TableExportSpec(
                    destination=Destination(bucket="bench-exports"),
                    poll=poll,
                    timeout_seconds=48 * 3600,
                )
            )
            arn = aws["stepfunctions"].create_state_machine(
                name=name, definition=json.dumps(definition), roleArn=harness.ROLE_ARN
            )["stateMachineArn"]
            exporter = harness.Exporter(sfn=aws["stepfunctions"], run_arn=arn, table_arn=arn)
            for duration, case in _cases(poll, durations):
                table = f"{name}-{duration}"
                table_arn = harness.create_table(aws["dynamodb"], table)
                export_model.MODEL.behave(table, duration_seconds=duration)
                result = exporter.run(
                    f"{table}-run",
                    {"tableArn": table_arn, "s3Prefix": f"exports/{table}", "clientToken": table},
                    timeout=600,
                )
                export = export_model.MODEL.exports_of(table)[0]
                events = exporter.history(result["executionArn"])
                rows.append(
                    {
                        "strategy": label,
                        "case": case,
                        "duration_s": duration,
                        "status": result["status"],
                        "transitions": count_transitions(events)
                        + 1,  # + the Map item's ExportTable state
                        "lag_s": round(export.detected_at - export.completed_at),
                        "lag_bound_s": round(max(60, 0.15 * duration)),
                        "within_bound": export.detected_at - export.completed_at
                        <= max(60, 0.15 * duration),
                    }
                )
        return rows

    return in_emulator(body)


def main() -> int:
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    print("== Program under Pulumi mocks (prd stack, tableAccess=prefix)", flush=True)
    print(table(program_scale()), flush=True)
    print(
        f"\n== Execution histories, 1,000 tables (one Distributed Map), limit {HISTORY_LIMIT}",
        flush=True,
    )
    histories = history_sizes()
    for key, value in histories.items():
        print(f"{key:>28}: {value}")
    print("\n== Exports in flight per maxConcurrency, executed in the emulator", flush=True)
    print(table(exports_in_flight([1, 10, 50, 100, 120, 300])), flush=True)
    print("\n== Polling, executed in the emulator with virtual time", flush=True)
    print(table(polling([300, 1800, 7200, 28800])), flush=True)
    bench_current.run(print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
