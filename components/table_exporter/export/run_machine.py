"""The run machine: one execution per scheduled (or manual) run, over every table.

    PlanRun ─▶ ExportTables (Distributed Map) ─▶ CountResults ─▶ AnyTableFailed
                  │ per table: ExportTable ─(fails)─▶ TableFailed        │
                  └ ResultWriter: the run report in S3        ┌──────────┴─────────┐
                                                   ReadReport ─▶ ReadFailures ─▶ RunFailed
                                                                           RunSucceeded

``ExportTables`` is a Distributed Map: each table is a STANDARD child workflow execution
of this machine, which starts one execution of the table export machine
(``startExecution.sync:2``) and waits for it. ``MaxConcurrency`` is the number of
exports in flight, exactly (an Inline Map would stop at 40, "Using Map state in Inline
mode"); the run's own history holds a few events whatever the number of tables. A
table that fails fails its child execution only (``ToleratedFailurePercentage`` 100), so
the others go on. The Map writes every table's result to the bucket (``ResultWriter``):

    s3://<bucket>/<REPORT_PREFIX>/<run date>/<execution name>/<map run id>/
        manifest.json, SUCCEEDED_0.json, FAILED_0.json, ...

Then the run reads the Map Run's counts and, when some table failed, the first file of
failures from the report, and fails naming them (at most ``NAMED_FAILURES``), with the
report's location. Why each item starts the table export machine rather than running
its states itself: a single table can still be exported (or retried) by hand with the
table export machine, every table export keeps its own execution history and alarms
under that machine, and the table export role stays the only one that touches tables;
it costs two state transitions per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from table_exporter.config import DEFAULTS
from table_exporter.export import grants as on
from table_exporter.kernel.asl import (
    Catch,
    Choice,
    Fail,
    Graph,
    Machine,
    Map,
    Pass,
    StateBuilder,
    Succeed,
    Task,
    jsonata,
)
from table_exporter.kernel.grants import Grant
from table_exporter.kernel.limits import MAX_CONCURRENT_EXPORTS
from table_exporter.kernel.retries import start_execution_retry
from table_exporter.kernel.targets import REPORT_PREFIX, ExportTarget

NAMED_FAILURES = 50
"""Failed tables named one by one in a failed run's cause (all are in the report)."""
MAP_LABEL = "ExportTables"

# Scheduled runs carry the scheduler's scheduled time, identical when the scheduler
# redelivers the same run; manual runs are keyed by their (unique) execution name.
RUN_KEY = (
    "$exists($states.input.scheduledTime) ? 'scheduled/' & $states.input.scheduledTime"
    " : 'execution/' & $states.context.Execution.Name"
)
RUN_DATE = (
    "$substring($exists($states.input.scheduledTime) ? $states.input.scheduledTime"
    " : $states.context.Execution.StartTime, 0, 10)"
)
# The tables given in the run's input, else the configured ones.
TABLES = "($exists($states.input.tables) ? $states.input.tables : $configuredTables)"
# Unique per run execution and table: a redelivered run starts its own executions, whose
# exports the ClientToken (per scheduled time and table) makes one.
TABLE_EXECUTION_NAME = (
    "$substring($replace($substringAfter($states.input.tableArn, ':table/'), '.', '_'), 0, 40)"
    " & '-' & $substring($hash($states.input.run & '|' & $states.input.tableArn, 'SHA-256'), 0, 24)"
)

# A failed child's details, from the error startExecution.sync:2 reports: its Cause is
# the child's DescribeExecution output as JSON, whose Cause is the table's own record.
FAILURE_RECORD = """(
  $e := $states.input.error;
  $isJson := function($s) { $type($s) = 'string' and $substring($s, 0, 1) = '{' };
  $child := $isJson($e.Cause) ? $parse($e.Cause) : {};
  $childError := $child.Error ? $child.Error : $child.error;
  $childCause := $child.Cause ? $child.Cause : $child.cause;
  $detail := $isJson($childCause) ? $parse($childCause) : {};
  {
    'table': $substringAfter($states.input.tableArn, ':table/'),
    'tableArn': $states.input.tableArn,
    'status': 'FAILED',
    'error': $detail.error ? $detail.error : ($childError ? $childError : $e.Error),
    'cause': $substring($string($detail.cause ? $detail.cause : ($childCause ? $childCause : $e.Cause)), 0, 300)
  }
)"""

REPORT_URL = (
    "'s3://' & $report.Bucket & '/' & $substringBefore($report.Key, '/manifest.json') & '/'"
)

CAUSE_LIMIT = 32768
"""Characters a Fail state's cause may hold (``ExecutionFailedEventDetails.cause``)."""
READABLE_FAILURES_BYTES = 100_000
"""Largest ``FAILED_0.json`` the run reads to name failed tables. A task's result must
stay under the 256 KiB payload quota, and ``States.DataLimitExceeded`` is terminal:
``States.ALL`` cannot catch it ("Handling errors in Step Functions workflows"). Inside
the result the file is a JSON string whose quotes and backslashes are escaped, which
can double its size, so a larger file is left in the report and the run's cause gives
the counts and the report's location."""

RUN_FAILURE_CAUSE = f"""(
  $failedCount := $counts.Failed + $counts.TimedOut + $counts.Aborted;
  $describe := function($listed) {{ {{
    'message': $string($failedCount) & ' of ' & $string($counts.Total) &
      ' table exports failed' & ($count($listed) > 0 ? ': ' &
      $join($listed.(table & ' (' & error & ')'), ', ') : '') &
      ($failedCount > $count($listed) ? ', ...' : '') &
      '; every table is in the report ' & {REPORT_URL},
    'failedCount': $failedCount,
    'succeededCount': $counts.Succeeded,
    'failed': $listed,
    'report': {REPORT_URL}
  }} }};
  $first := function($n) {{ [$filter($failed, function($v, $i) {{ $i < $n }})] }};
  $fits := function($n) {{ $length($string($describe($first($n)))) <= {CAUSE_LIMIT} }};
  $named := $reduce([0..{NAMED_FAILURES}], function($best, $n) {{ $fits($n) ? $n : $best }}, 0);
  $string($describe($first($named)))
)"""
"""The failed run's cause: always whole JSON, naming as many failed tables (at most
``NAMED_FAILURES``) as fit in ``CAUSE_LIMIT`` characters."""


REPORT_KEY = Grant(on.RUN_REPORTS_KEY, ("kms:Decrypt", "kms:GenerateDataKey"))
"""A report in a bucket encrypted with a customer-managed key: S3 uses the key with the
caller's rights, both to write the report (a data key) and to read it back."""


@dataclass(frozen=True)
class RunSpec:
    """Everything the run machine needs."""

    table_machine_arn: str
    bucket: str
    targets: Sequence[ExportTarget]
    max_concurrency: int = DEFAULTS["max_concurrency"]
    timeout_seconds: int = DEFAULTS["run_timeout_hours"] * 3600
    partition: str = "aws"

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrency <= MAX_CONCURRENT_EXPORTS:
            raise ValueError(
                f"max concurrency must be 1..{MAX_CONCURRENT_EXPORTS} "
                "(DynamoDB runs at most 300 exports at once per account and region)"
            )
        if not self.targets:
            raise ValueError("at least one table is required")
        for target in self.targets:
            if f"{target.prefix}/".startswith(f"{REPORT_PREFIX}/"):
                raise ValueError(
                    f"prefix {target.prefix!r} of table {target.table_name}: must not be under "
                    f"{REPORT_PREFIX}/, where every run's report goes"
                )


def _configured(targets: Sequence[ExportTarget]) -> list[dict[str, Any]]:
    return [
        {
            "tableArn": t.table_arn,
            "prefix": t.prefix,
            **({"mode": t.mode} if t.mode != "full" else {}),
            **({"columns": list(t.columns)} if t.columns else {}),
            **({"current": True} if t.current else {}),
        }
        for t in targets
    ]


def _any_current(spec: RunSpec) -> bool:
    """Whether some table keeps a current table: only then do items carry ``current``."""
    return any(t.current for t in spec.targets)


class _Builder(StateBuilder):
    """Builds the run's states one stage at a time, in the order an execution meets
    them: each stage links on from the states the one before it returned."""

    def __init__(self, spec: RunSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec

    def build(self) -> Machine:
        plan = self.plan()
        counted = plan.then(self.export_tables()).then(self.count_results())
        self.verdict(counted)
        return Machine(
            plan,
            built=self.built,
            comment="Export DynamoDB tables to S3: one table export execution per table.",
            timeout_seconds=self.spec.timeout_seconds,
        )

    def plan(self) -> Pass:
        return self.add(
            Pass(
                "PlanRun",
                assign={
                    "runKey": jsonata(RUN_KEY),
                    "runDate": jsonata(RUN_DATE),
                    "configuredTables": _configured(self.spec.targets),
                    "failed": [],
                },
            )
        )

    # -- the tables: one child workflow execution each -------------------------------------

    def export_tables(self) -> Map:
        spec = self.spec
        return self.add(
            Map(
                "ExportTables",
                comment="One child workflow execution per table, MaxConcurrency exports at once.",
                items=jsonata(TABLES),
                item_selector=self.item_selector(),
                processor=self.export_one_table(),
                distributed=True,
                label=MAP_LABEL,
                max_concurrency=spec.max_concurrency,
                tolerated_failure_percentage=100,
                result_writer={
                    "Resource": f"arn:{spec.partition}:states:::s3:putObject",
                    "Arguments": {
                        "Bucket": spec.bucket,
                        "Prefix": jsonata(
                            f"'{REPORT_PREFIX}/' & $runDate & '/' & $states.context.Execution.Name"
                        ),
                    },
                },
                assign={
                    "mapRunArn": jsonata("$states.result.MapRunArn"),
                    "report": jsonata("$states.result.ResultWriterDetails"),
                },
                output={},
                grants=(
                    # Child workflow executions are executions of this machine.
                    Grant(on.OWN_MACHINE, ("states:StartExecution",)),
                    Grant(on.MAP_EXECUTIONS, ("states:DescribeExecution", "states:StopExecution")),
                    Grant(
                        on.RUN_REPORTS,
                        (
                            "s3:AbortMultipartUpload",
                            "s3:GetObject",
                            "s3:ListMultipartUploadParts",
                            "s3:PutObject",
                        ),
                    ),
                    REPORT_KEY,
                ),
                catch=[Catch(["States.ALL"], self.report_failed())],
            )
        )

    def item_selector(self) -> dict[str, Any]:
        """Each item: its table and prefix, mode and columns (and ``current`` when some
        table keeps a current table), and the run's key and date."""
        map_item = "$states.context.Map.Item.Value"
        return {
            "tableArn": jsonata(f"{map_item}.tableArn"),
            "prefix": jsonata(f"{map_item}.prefix"),
            "mode": jsonata(f"$exists({map_item}.mode) ? {map_item}.mode : 'full'"),
            "columns": jsonata(f"$exists({map_item}.columns) ? {map_item}.columns : []"),
            **(
                {"current": jsonata(f"$exists({map_item}.current) and {map_item}.current = true")}
                if _any_current(self.spec)
                else {}
            ),
            "runKey": jsonata("$runKey"),
            "runDate": jsonata("$runDate"),
            "run": jsonata("$states.context.Execution.Id"),
        }

    def report_failed(self) -> Fail:
        return self.add(
            Fail(
                "RunReportFailed",
                comment="The Map could not run or write its report (a missing bucket, say).",
                error="RunReportFailed",
                cause=jsonata("$string($states.input)"),
            )
        )

    def export_one_table(self) -> Graph:
        """One Map item: start the table's export execution and wait for it; a table that
        fails is recorded and fails its item. The item's states are its own graph's, not
        the run's top level."""
        processor = StateBuilder(self.spec.partition)
        export = processor.add(
            Task(
                "ExportTable",
                resource=f"arn:{self.spec.partition}:states:::states:startExecution.sync:2",
                arguments={
                    "StateMachineArn": self.spec.table_machine_arn,
                    "Name": jsonata(TABLE_EXECUTION_NAME),
                    "Input": self.child_input(),
                },
                output=jsonata("$states.result.Output"),
                retry=start_execution_retry(),
                end=True,
                grants=(
                    Grant(on.TABLE_MACHINE, ("states:StartExecution",)),
                    Grant(
                        on.TABLE_EXECUTIONS, ("states:DescribeExecution", "states:StopExecution")
                    ),
                    Grant(
                        on.SYNC_RULE, ("events:DescribeRule", "events:PutRule", "events:PutTargets")
                    ),
                ),
            )
        )
        record = processor.add(Pass("RecordFailure", output=jsonata(FAILURE_RECORD)))
        export.on_error(
            ["States.ALL"],
            record,
            jsonata("{'tableArn': $states.input.tableArn, 'error': $states.errorOutput}"),
        )
        record.then(
            processor.add(
                Fail(
                    "TableFailed",
                    comment="Fails this item only: the Map tolerates it and the report lists it.",
                    error=jsonata(
                        "( $e := $states.input.error; $substring($e, 0, 7) = 'States.' ? "
                        "'TableExport.' & $substringAfter($e, 'States.') : $e )"
                    ),
                    cause=jsonata("$string($states.input)"),
                )
            )
        )
        return Graph(export, built=processor.built)

    def child_input(self) -> dict[str, Any]:
        """The table export execution's input, from the item."""
        item = "$states.input"
        return {
            "tableArn": jsonata(f"{item}.tableArn"),
            "s3Prefix": jsonata(
                f"{item}.prefix & '/' & $substringAfter({item}.tableArn, ':table/') & "
                f"'/full/' & {item}.runDate"
            ),
            "clientToken": jsonata(f"$hash({item}.runKey & '|' & {item}.tableArn, 'SHA-256')"),
            "mode": jsonata(f"{item}.mode"),
            "columns": jsonata(f"{item}.columns"),
            **({"current": jsonata(f"{item}.current")} if _any_current(self.spec) else {}),
            "prefix": jsonata(f"{item}.prefix & '/' & $substringAfter({item}.tableArn, ':table/')"),
            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": jsonata("$states.context.Execution.Id"),
        }

    # -- the run's verdict: its counts, and the failed tables named from the report --------

    def count_results(self) -> Task:
        return self.task(
            "CountResults",
            "sfn",
            "describeMapRun",
            grants=(Grant(on.MAP_RUNS, ("states:DescribeMapRun",)),),
            arguments={"MapRunArn": jsonata("$mapRunArn")},
            assign={"counts": jsonata("$states.result.ItemCounts")},
        )

    def verdict(self, counted: Task) -> None:
        """Succeeds when every table did; else reads the report to name the failed tables."""
        counted.then(self.add(Choice("AnyTableFailed"))).when(
            jsonata("$counts.Failed + $counts.TimedOut + $counts.Aborted > 0"),
            self.name_failures(),
        ).otherwise(
            self.add(
                Succeed(
                    "RunSucceeded",
                    output={
                        "runKey": jsonata("$runKey"),
                        "runDate": jsonata("$runDate"),
                        "tableCount": jsonata("$counts.Total"),
                        "succeededCount": jsonata("$counts.Succeeded"),
                        "mapRunArn": jsonata("$mapRunArn"),
                        "report": jsonata(REPORT_URL),
                    },
                )
            )
        )

    def name_failures(self) -> Task:
        """``ReadReport`` ─▶ ``FailuresListed`` ─▶ ``ReadFailures`` ─▶ ``RunFailed``; returns
        the first."""
        read_report = self.task(
            "ReadReport",
            "s3",
            "getObject",
            comment="The manifest lists the report's files of failed tables.",
            grants=(Grant(on.RUN_REPORTS, ("s3:GetObject",)), REPORT_KEY),
            arguments={"Bucket": jsonata("$report.Bucket"), "Key": jsonata("$report.Key")},
            assign={"failedFiles": jsonata("[$parse($states.result.Body).ResultFiles.FAILED]")},
        )
        listed = read_report.then(self.add(Choice("FailuresListed")))
        read_failures = self.task(
            "ReadFailures",
            "s3",
            "getObject",
            comment="Names the failed tables of the first file (all are in the report).",
            grants=(Grant(on.RUN_REPORTS, ("s3:GetObject",)), REPORT_KEY),
            arguments={
                "Bucket": jsonata("$report.Bucket"),
                "Key": jsonata("$failedFiles[0].Key"),
            },
            assign={
                "failed": jsonata(
                    "[$parse($states.result.Body).$parse(Cause).{"
                    "'table': table, 'error': error, 'cause': cause}]"
                )
            },
        )
        listed.when(
            jsonata(
                f"$count($failedFiles) > 0 and $failedFiles[0].Size <= {READABLE_FAILURES_BYTES}"
            ),
            read_failures,
        )
        run_failed = read_failures.then(
            self.add(
                Fail("RunFailed", error="TableExportsFailed", cause=jsonata(RUN_FAILURE_CAUSE))
            )
        )
        listed.otherwise(run_failed)
        # A report too large to read into the run still leaves the counts and its location.
        for read in (read_report, read_failures):
            read.on_error(["States.ALL"], run_failed)
        return read_report


def run_machine(spec: RunSpec) -> Machine:
    """Export every configured table once (or the ``tables`` given in the input)."""
    return _Builder(spec).build()


def run_definition(spec: RunSpec) -> dict[str, Any]:
    return run_machine(spec).render()


SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"


def schedule_input() -> dict[str, Any]:
    """What the scheduler passes to each run: only the scheduled time, which keys the
    run (the table list lives in the definition, so the input stays tiny)."""
    return {"scheduledTime": SCHEDULED_TIME_PLACEHOLDER}
