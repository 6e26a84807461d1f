"""The restore drill machine: proves, on a schedule, that the newest full export restores.

One execution drills one table (``{"tableArn": ...}`` in its input)::

    Begin ─▶ ListTables ⟲ ─▶ SweepLeftovers (Map: DescribeLeftover ─▶ DeleteLeftover)
          ─▶ ListExports ⟲ ─▶ DescribeExport ─▶ ReadManifest ─▶ DescribeSourceTable
          ─▶ ImportTable ─▶ WaitForImport ─▶ DescribeImport ─▶ ImportFinished ─┐
                                 ▲───────────── still running ─────────────────┤
             (any error) ─▶ DrillError ─┐          (timed out) ─▶ ImportTimedOut┤
                                        ▼                     (finished) ─▶ Verdict
                               DeleteScratchTable ◀─────────────────────────────┘
                                        ▼
                                  WriteReport ─▶ DrillPassed? ─▶ DrillSucceeded | DrillFailed

Which export: ``ListExports`` for the table (paginated), the newest ``FULL_EXPORT``
that is ``COMPLETED``, then ``DescribeExport`` for where it is. For an incremental table
that is its newest baseline (its windows are ``INCREMENTAL_EXPORT``). Why not the run
reports: a table's newest good export may be in an older report (the newest run may
have failed for it), and reading them takes four S3 reads per run; DynamoDB's own list
is the record of what exists. ListExports does not say how it orders its summaries,
so every page is read and the greatest export ARN kept: an export ID begins with the
export's start time in zero-padded milliseconds (observed in AWS's ARNs, undocumented).

The drill imports into a new table ``<table_prefix><table>-<UTC stamp>-<8 hex>`` with
the source's key schema (DescribeTable: metadata only; the drill never reads or writes
the source table), polls with the exporter's proportional polling, and passes when the
import COMPLETED with no errors and both its processed and imported item counts equal
the export manifest's ``itemCount``.

Cleanup on every path: Step Functions has no ``finally``, so every state before
``DeleteScratchTable`` catches ``States.ALL`` into ``DrillError``, which goes there; the
polling loop stops itself after ``import_timeout_seconds`` (``ImportTimedOut``), well
inside the machine's own ``TimeoutSeconds``, so the deletion always runs. DeleteTable
answers ``ResourceInUseException`` while the table is still ``CREATING`` (the import
is running: "DeleteTable", API reference), so the deletion is retried for up to
``cleanup_seconds``. What remains: an execution stopped by hand, or an import that
outlives the cleanup budget. For those, every drill starts by sweeping leftovers:
tables under the drill's prefix created more than the machine's timeout ago (older than
any drill still running) are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from table_exporter.drill import grants as on
from table_exporter.drill.grants import DrillRole
from table_exporter.kernel import fragments
from table_exporter.kernel.alarms import (
    WINDOW_LIMIT_HOURS,
    AlarmSpec,
    any_in_five_minutes,
    none_succeeded_within,
)
from table_exporter.kernel.asl import (
    Catch,
    Choice,
    Fail,
    Machine,
    Map,
    Pass,
    StateBuilder,
    Succeed,
    Task,
    jsonata,
)
from table_exporter.kernel.grants import Grant, statements
from table_exporter.kernel.iam import document
from table_exporter.kernel.imports import ACCOUNT_LISTS
from table_exporter.kernel.policies import (
    INLINE_POLICY_LIMIT,
    TableAccess,
    policy_size,
    table_scope,
)
from table_exporter.kernel.polling import PollPolicy
from table_exporter.kernel.retries import Backoff, error_name, retry_for
from table_exporter.kernel.targets import ExportTarget

REPORT_PREFIX = "drill-reports"
"""Where in the bucket every drill's report goes (next to ``run-reports/``)."""
MAX_TABLE_PREFIX = 100
"""Scratch names are ``<prefix><table, at most 100>-<14>-<8>``: within DynamoDB's 255."""
STAMP = "'[Y0001][M01][D01]T[H01][m01][s01]'"

INPUT = "$states.context.Execution.Input"
TABLE_NAME = f"$substringAfter({INPUT}.tableArn, ':table/')"
EXPORT_ID = "$substringAfter($export.ExportArn, '/export/')"
EXPORT_ROOT = (
    "($export.S3Prefix ? $export.S3Prefix & '/' : '') & 'AWSDynamoDB/' & " + EXPORT_ID + " & '/'"
)
"""A full export's folder: its manifests, and its data files under ``data/``
("DynamoDB table export output format")."""


@dataclass(frozen=True)
class DrillSpec:
    """Everything the drill machine needs besides its input."""

    bucket: str
    """The export bucket: exports are read from it, reports written to it."""
    table_prefix: str
    """Every scratch table's name starts with this; the role may create and delete only those."""
    report_prefix: str = REPORT_PREFIX
    bucket_owner: str | None = None
    """The bucket's account, when it is not the drill's (ImportTable's ``S3BucketOwner``)."""
    poll: PollPolicy = field(default_factory=PollPolicy)
    import_timeout_seconds: int = 6 * 3600
    """The polling loop gives up after this long; the scratch table is still deleted."""
    cleanup_seconds: int = 4 * 3600
    """How long DeleteScratchTable keeps retrying a table that is still CREATING."""
    partition: str = "aws"

    def __post_init__(self) -> None:
        if not 1 <= len(self.table_prefix) <= MAX_TABLE_PREFIX:
            raise ValueError(f"drill table prefix must be 1 to {MAX_TABLE_PREFIX} characters")
        if not all(c.isalnum() or c in "_.-" for c in self.table_prefix):
            raise ValueError("drill table prefix may hold only letters, digits, '_', '.' and '-'")
        if self.import_timeout_seconds < self.poll.min_seconds:
            raise ValueError("import_timeout_seconds must be at least one poll interval")
        if self.cleanup_seconds < 60:
            raise ValueError("cleanup_seconds must be at least 60")
        if self.report_prefix.startswith("/") or self.report_prefix.endswith("/"):
            raise ValueError("report prefix takes no leading or trailing '/'")

    @property
    def timeout_seconds(self) -> int:
        """The machine's TimeoutSeconds: the import bound (plus its last wait), the cleanup
        bound and an hour for the sweep, the look-ups and the report, so cleanup runs
        before it."""
        return self.import_timeout_seconds + self.poll.max_seconds + self.cleanup_seconds + 3600

    def cleanup_retry(self) -> dict[str, Any]:
        """Retry rule for a table still CREATING: every minute, then up to 15 minutes
        apart, enough attempts to cover ``cleanup_seconds``."""
        attempts, waited, delay = 0, 0.0, 60.0
        while waited < self.cleanup_seconds:
            attempts += 1
            waited += delay
            delay = min(900.0, delay * 2)
        return Backoff(
            [error_name("dynamodb", "ResourceInUseException")],
            interval_seconds=60,
            max_attempts=attempts,
            max_delay_seconds=900,
        ).to_asl() | {"JitterStrategy": "NONE"}


class _Builder(StateBuilder):
    """Builds the machine's states one stage at a time, in the order an execution meets
    them: each stage links on from the states the one before it returned."""

    def __init__(self, spec: DrillSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec
        # Made before the flow that ends in it: every state from ListTables to
        # DescribeImport catches into it (``caught``), so it has to exist first; it
        # joins the flow at the cleanup.
        self.error = self.add(
            Pass(
                "DrillError",
                comment="Any error before the verdict: recorded, then the scratch table is deleted.",
                assign={
                    "outcome": jsonata(
                        "{'passed': false, 'status': 'ERROR', 'stage': $states.input.stage, "
                        "'error': $states.input.Error, 'cause': $substring($string($states.input.Cause), 0, 1000)}"
                    )
                },
            )
        )

    def caught(self, stage: str) -> list[Catch]:
        """Any error into ``DrillError``, which records ``stage`` in the report."""
        return [
            Catch(
                ["States.ALL"],
                self.error,
                jsonata(f"$merge([$states.errorOutput, {{'stage': '{stage}'}}])"),
            )
        ]

    def stopped(self, name: str, *, error: str, cause: str, stage: str) -> Pass:
        """The drill cannot go on: to ``DrillError`` as if ``stage`` had failed."""
        return self.add(
            Pass(name, output={"Error": error, "Cause": cause, "stage": stage}, next=self.error)
        )

    def build(self) -> Machine:
        begin = self.begin()
        swept = self.sweep(begin)
        export = self.find_export(swept)
        source = self.look_up(export)
        finished = self.poll(self.start_import(source))
        verdict, timed_out = self.verdict(finished)
        self.report(*self.cleanup(verdict, timed_out, self.error))
        return Machine(
            begin,
            built=self.built,
            comment="Restore drill: import the newest full export into a scratch table and compare counts.",
            timeout_seconds=self.spec.timeout_seconds,
        )

    def begin(self) -> Pass:
        prefix = self.spec.table_prefix
        return self.add(
            Pass(
                "Begin",
                comment="The scratch table's name is fixed first, so every path can delete it.",
                assign={
                    "scratch": jsonata(
                        f"'{prefix}' & $substring({TABLE_NAME}, 0, {MAX_TABLE_PREFIX}) & '-' & "
                        f"$fromMillis($millis(), {STAMP}) & '-' & "
                        "$substring($hash($states.context.Execution.Id, 'SHA-256'), 0, 8)"
                    ),
                    "startedAt": jsonata("$now()"),
                    "next": None,
                    "leftovers": [],
                    "swept": [],
                    "export": {},
                    "import": {},
                    "expected": None,
                    "elapsed": 0,
                    "outcome": {},
                    "scratchDeleted": False,
                    "cleanup": None,
                },
            )
        )

    # -- sweep: leftovers of earlier drills ------------------------------------------------

    def sweep(self, after: Pass) -> Map:
        """Lists the tables under the drill's prefix and deletes those older than the
        machine's timeout: no drill still uses them. Returns the Map; what follows it
        runs whether or not the sweep failed."""
        prefix = self.spec.table_prefix
        list_tables, more = fragments.list_tables(
            self,
            collect="leftovers",
            names=(
                f"[$filter($states.result.TableNames, function($n) {{ $substring($n, 0, {len(prefix)}) = '{prefix}' }})]"
            ),
            catch=self.caught("ListTables"),
        )
        after.then(list_tables)
        sweep = fragments.delete_tables(
            self,
            "SweepLeftovers",
            comment="Leftovers of drills stopped by hand, or whose import outlived the cleanup.",
            tables="$leftovers",
            processor=self.leftover(),
            collect="swept",
            output={},
        )
        more.otherwise(sweep)
        return sweep

    def leftover(self) -> Task:
        """One listed table: ``DescribeLeftover`` ─▶ ``LeftoverIsOld`` ─▶ ``DeleteLeftover``."""
        # Where either call's error ends the item: the table is the next sweep's.
        not_deleted = fragments.ends_unnamed("LeftoverNotDeleted")
        describe = Task(
            "DescribeLeftover",
            resource=f"{self.sdk}dynamodb:describeTable",
            grants=(Grant(on.SCRATCH_TABLES, ("dynamodb:DescribeTable",)),),
            arguments={"TableName": jsonata("$states.input.name")},
            retry=retry_for("dynamodb", "describeTable"),
            output=jsonata(
                "{'name': $states.input.name, 'created': $states.result.Table.CreationDateTime}"
            ),
            catch=[Catch(["States.ALL"], not_deleted)],
        )
        old = describe.then(Choice("LeftoverIsOld"))
        old.when(
            jsonata(
                f"$toMillis($states.input.created) < $millis() - {self.spec.timeout_seconds * 1000}"
            ),
            fragments.delete_item_table(
                self,
                "DeleteLeftover",
                tables=on.SCRATCH_TABLES,
                catch=[
                    Catch(
                        [error_name("dynamodb", "ResourceNotFoundException")],
                        fragments.ends_unnamed("LeftoverGone"),
                    ),
                    Catch(["States.ALL"], not_deleted),
                ],
            ),
        ).otherwise(Succeed("LeftoverKept", output=jsonata("null")))
        return describe

    # -- look up: the newest full export, its count and the source's key schema ------------

    def find_export(self, swept: Map) -> Task:
        """``ListExports`` ⟲, keeping the greatest ARN of a COMPLETED full export, then
        ``DescribeExport`` of it."""
        start = self.add(Pass("FindNewestExport", assign={"next": None, "best": None}))
        # The sweep only tidies up: the drill goes on when it fails.
        swept.then(start)
        swept.on_error(["States.ALL"], start)
        list_exports, more = fragments.paged_listing(
            self,
            "ListExports",
            "dynamodb",
            "listExports",
            more="MoreExports",
            grants=(Grant(ACCOUNT_LISTS, ("dynamodb:ListExports",)),),
            first_page=f"{{'TableArn': {INPUT}.tableArn, 'MaxResults': 25}}",
            tokens=("NextToken", "NextToken"),
            assign={
                "best": jsonata(
                    """(
                      $full := $states.result.ExportSummaries[ExportStatus = 'COMPLETED' and
                        ($exists(ExportType) ? ExportType : 'FULL_EXPORT') = 'FULL_EXPORT'].ExportArn;
                      $all := $append($type($best) = 'string' ? [$best] : [], $full);
                      $count($all) = 0 ? null : $reduce($all, function($a, $b) { $a > $b ? $a : $b })
                    )"""
                ),
            },
            catch=self.caught("ListExports"),
        )
        start.then(list_exports)
        describe = self.task(
            "DescribeExport",
            "dynamodb",
            "describeExport",
            grants=(Grant(on.SOURCE_EXPORTS, ("dynamodb:DescribeExport",)),),
            arguments={"ExportArn": jsonata("$best")},
            assign={"export": jsonata("$states.result.ExportDescription")},
            catch=self.caught("DescribeExport"),
        )
        found = self.add(Choice("ExportFound"))
        more.otherwise(found)
        found.when(jsonata("$type($best) = 'string'"), describe).otherwise(
            self.stopped(
                "NoCompletedExport",
                error="NoCompletedExport",
                cause="DynamoDB lists no COMPLETED full export of this table",
                stage="ListExports",
            )
        )
        return describe

    def look_up(self, export: Task) -> Task:
        """The export must be in the drill's bucket; then its manifest's item count and
        the source table's key schema."""
        bucket = self.spec.bucket
        in_bucket = export.then(self.add(Choice("ExportInBucket")))
        manifest = self.task(
            "ReadManifest",
            "s3",
            "getObject",
            comment="The export's own count of the items it wrote.",
            grants=(
                Grant(on.EXPORT_OBJECTS, ("s3:GetObject",)),
                Grant(on.EXPORTS_KEY, ("kms:Decrypt",)),
            ),
            arguments={
                "Bucket": jsonata("$export.S3Bucket"),
                "Key": jsonata(EXPORT_ROOT + " & 'manifest-summary.json'"),
            },
            assign={"expected": jsonata("$parse($states.result.Body).itemCount")},
            catch=self.caught("ReadManifest"),
        )
        in_bucket.when(jsonata(f"$export.S3Bucket = '{bucket}'"), manifest).otherwise(
            self.stopped(
                "ExportElsewhere",
                error="ExportNotInBucket",
                cause=jsonata(
                    f"'the newest full export is in bucket ' & $export.S3Bucket & ', not {bucket}'"
                ),
                stage="DescribeExport",
            )
        )
        return manifest.then(
            self.task(
                "DescribeSourceTable",
                "dynamodb",
                "describeTable",
                comment="Metadata only: the key schema the scratch table needs.",
                grants=(Grant(on.SOURCE_TABLES, ("dynamodb:DescribeTable",)),),
                arguments={"TableName": jsonata(f"{INPUT}.tableArn")},
                assign={
                    "keySchema": jsonata("$states.result.Table.KeySchema"),
                    # Only the key attributes: CreateTable refuses definitions nothing uses.
                    "attributes": jsonata(
                        "[$states.result.Table.AttributeDefinitions"
                        "[AttributeName in $states.result.Table.KeySchema.AttributeName]]"
                    ),
                },
                catch=self.caught("DescribeSourceTable"),
            )
        )

    # -- import and poll -------------------------------------------------------------------

    def start_import(self, source: Task) -> Task:
        spec = self.spec
        return source.then(
            fragments.import_table(
                self,
                comment="A new table from the export's data files; the token makes a retry return this import.",
                into=on.SCRATCH_TABLES,
                objects=on.EXPORT_OBJECTS,
                bucket_resource=on.EXPORT_BUCKET,
                key=on.EXPORTS_KEY,
                token_from="$states.context.Execution.Id",
                bucket=jsonata("$export.S3Bucket"),
                folder=EXPORT_ROOT,
                bucket_owner=spec.bucket_owner,
                export_format="$export.ExportFormat",
                table=("$scratch", jsonata("$keySchema"), jsonata("$attributes")),
                poll=spec.poll,
                catch=self.caught("ImportTable"),
            )
        )

    def poll(self, imported: Task) -> Choice:
        """Returns ``ImportFinished``, whose exits ``verdict`` adds."""
        wait, _, finished = fragments.import_polling(
            self,
            imports=on.SCRATCH_IMPORTS,
            poll=self.spec.poll,
            catch=self.caught("DescribeImport"),
        )
        imported.then(wait)
        return finished

    # -- verdict ---------------------------------------------------------------------------

    def verdict(self, finished: Choice) -> tuple[Pass, Pass]:
        """The outcome of an import that ended, or of one still running at the drill's
        bound; both go on to the cleanup."""
        timeout = self.spec.import_timeout_seconds
        verdict = self.add(
            Pass(
                "Verdict",
                comment="Passes only when nothing was lost, nothing failed and nothing was left out.",
                assign={
                    "outcome": jsonata(
                        """(
                          $processed := $import.ProcessedItemCount ? $import.ProcessedItemCount : 0;
                          $imported := $import.ImportedItemCount ? $import.ImportedItemCount : 0;
                          $errors := $import.ErrorCount ? $import.ErrorCount : 0;
                          $problems := [
                            $import.ImportStatus != 'COMPLETED' ?
                              'import ended ' & $import.ImportStatus &
                              ($import.FailureCode ? ' (' & $import.FailureCode & ': ' & $import.FailureMessage & ')' : '') : (),
                            $errors > 0 ? $string($errors) & ' item(s) failed to import' : (),
                            $processed != $expected ?
                              'processed ' & $string($processed) & ' item(s), the manifest lists ' & $string($expected) : (),
                            $imported != $expected ?
                              'imported ' & $string($imported) & ' item(s), the manifest lists ' & $string($expected) : ()
                          ];
                          {'passed': $count($problems) = 0,
                           'status': $count($problems) = 0 ? 'PASSED' : 'FAILED',
                           'reason': $count($problems) = 0 ? 'every item of the export was imported' : $join($problems, '; ')}
                        )"""
                    )
                },
            )
        )
        timed_out = self.add(
            Pass(
                "ImportTimedOut",
                comment="The drill's own bound, inside the machine's timeout, so cleanup still runs.",
                assign={
                    "outcome": jsonata(
                        "{'passed': false, 'status': 'TIMED_OUT', 'reason': 'the import was still ' & "
                        f"$import.ImportStatus & ' after {timeout} seconds'}}"
                    )
                },
            )
        )
        fragments.import_exits(
            finished, ended=verdict, timed_out=timed_out, timeout_seconds=timeout
        )
        return verdict, timed_out

    # -- cleanup ---------------------------------------------------------------------------

    def cleanup(self, *outcomes: Pass) -> tuple[Task, Pass, Pass]:
        """Every path comes here (``outcomes``: the verdicts and ``DrillError``); returns
        the states that go on to the report: deleted, already gone, not deleted."""
        delete = self.task(
            "DeleteScratchTable",
            "dynamodb",
            "deleteTable",
            comment="Every path comes here; a table still CREATING (import running) is retried.",
            grants=(Grant(on.SCRATCH_TABLES, ("dynamodb:DeleteTable",)),),
            arguments={"TableName": jsonata("$scratch")},
            retry=[self.spec.cleanup_retry(), *retry_for("dynamodb", "deleteTable")],
            assign={"scratchDeleted": True, "cleanup": "deleted"},
        )
        for outcome in outcomes:
            outcome.then(delete)
        gone = self.add(
            Pass(
                "ScratchTableGone",
                comment="Not found: never created (the drill stopped before the import) or already deleted.",
                assign={"scratchDeleted": True, "cleanup": "not found"},
            )
        )
        not_deleted = self.add(
            Pass(
                "ScratchTableNotDeleted",
                comment="The next drill's sweep deletes it; the drill fails meanwhile.",
                assign={
                    "scratchDeleted": False,
                    "cleanup": jsonata("$states.input.Error & ': ' & $string($states.input.Cause)"),
                },
            )
        )
        delete.on_error([error_name("dynamodb", "ResourceNotFoundException")], gone)
        delete.catch += fragments.catch_all(not_deleted)
        return delete, gone, not_deleted

    # -- report ----------------------------------------------------------------------------

    def report(self, *cleaned: Task | Pass) -> None:
        """Compose and write the report, then succeed or fail by the outcome."""
        spec = self.spec
        report_key = (
            f"'{spec.report_prefix}/' & {TABLE_NAME} & '/' & "
            "$substring($startedAt, 0, 10) & '/' & "
            "$states.context.Execution.Name & '.json'"
        )
        compose = self.add(
            Pass(
                "ComposeReport",
                assign={
                    "reportKey": jsonata(report_key),
                    "report": jsonata(
                        "$merge([{"
                        f"'table': {TABLE_NAME}, 'tableArn': {INPUT}.tableArn, "
                        "'drill': $states.context.Execution.Name, "
                        "'startedAt': $startedAt, 'finishedAt': $now(), "
                        "'scratchTable': $scratch, 'scratchDeleted': $scratchDeleted, "
                        "'cleanup': $cleanup, 'swept': $swept, "
                        "'exportArn': $export.ExportArn, 'exportTime': $export.ExportTime, "
                        "'exportItemCount': $export.ItemCount, 'manifestItemCount': $expected, "
                        "'importArn': $import.ImportArn, 'importStatus': $import.ImportStatus, "
                        "'processedItemCount': $import.ProcessedItemCount, "
                        "'importedItemCount': $import.ImportedItemCount, "
                        "'errorCount': $import.ErrorCount, "
                        "'importFailureCode': $import.FailureCode, "
                        "'importFailureMessage': $import.FailureMessage, "
                        "'importElapsedSeconds': $elapsed, "
                        "'cloudWatchLogGroupArn': $import.CloudWatchLogGroupArn"
                        "}, $outcome])"
                    ),
                },
            )
        )
        for state in cleaned:
            state.then(compose)
        write = compose.then(
            self.task(
                "WriteReport",
                "s3",
                "putObject",
                grants=(
                    Grant(on.DRILL_REPORTS, ("s3:PutObject",)),
                    Grant(on.REPORTS_KEY, ("kms:GenerateDataKey",)),
                ),
                arguments={
                    "Bucket": spec.bucket,
                    "Key": jsonata("$reportKey"),
                    "ContentType": "application/json",
                    "Body": jsonata("$string($report)"),
                },
            )
        )
        write.then(self.add(Choice("DrillPassed"))).when(
            jsonata("$outcome.passed = true and $scratchDeleted = true"),
            self.add(Succeed("DrillSucceeded", output=jsonata("$report"))),
        ).otherwise(
            self.add(
                Fail(
                    "DrillFailed",
                    error=jsonata(
                        "$outcome.status = 'ERROR' ? 'DrillError' : "
                        "($outcome.status = 'TIMED_OUT' ? 'DrillTimedOut' : 'DrillFailed')"
                    ),
                    cause=jsonata("$string($report)"),
                )
            )
        )
        write.catch += fragments.catch_all(
            self.add(
                Fail(
                    "ReportNotWritten",
                    comment="The scratch table is gone; only the report could not be written.",
                    error="DrillReportNotWritten",
                    cause=jsonata("$string({'report': $report, 'error': $states.input})"),
                )
            )
        )


def drill_machine(spec: DrillSpec) -> Machine:
    """The drill of one table; input ``{"tableArn": ...}``; its grants name the
    resources of ``grants.py``."""
    return _Builder(spec).build()


def drill_definition(spec: DrillSpec) -> dict[str, Any]:
    return drill_machine(spec).render()


def drill_alarm_specs(*, window_hours: int = WINDOW_LIMIT_HOURS) -> list[AlarmSpec]:
    """A failed (or timed-out, or stopped) drill, and no successful drill in ``window_hours``.

    Subject ``"run"`` stands for the drill machine here: its metrics carry the
    ``StateMachineArn`` dimension; the component points it at the drill machine's ARN.
    CloudWatch caps Period x EvaluationPeriods at 7 days ("PutMetricAlarm"), so the
    window is at most 168 hours: schedule drills more often than the window (a weekly
    drill against a 7-day window alarms whenever one runs late; twice a week leaves room).
    """
    page = {"runbook_page": "docs/restore.md", "runbook_anchor": "alarms"}
    return [
        any_in_five_minutes(
            "drill-failed",
            "drill",
            "ExecutionsFailed",
            "A restore drill failed: its report in drill-reports/ says why (counts, errors, cleanup).",
            **page,
        ),
        any_in_five_minutes(
            "drill-timed-out", "drill", "ExecutionsTimedOut",
            "A restore drill exceeded its timeout.", **page,
        ),
        any_in_five_minutes(
            "drill-aborted", "drill", "ExecutionsAborted",
            "A restore drill was stopped by hand.", **page,
        ),
        none_succeeded_within(
            "drill-stale", "drill", window_hours,
            f"No restore drill succeeded in the last {window_hours} hours.", **page,
        ),
    ]  # fmt: skip


def _source_resources(
    table_arns: list[str], access: TableAccess, budget: int
) -> tuple[list[str], list[str]]:
    """The drilled tables and their exports, named as ``policies.table_scope`` chooses:
    exact ARNs while they fit ``budget``, else patterns. A pattern ``table/<prefix>*``
    covers a table and its exports, and appears in both statements, so patterns get
    half the room."""
    targets = [ExportTarget(table_arn=arn, prefix="") for arn in table_arns]
    scope = table_scope(targets, access, budget)
    if scope.access != "exact":
        scope = table_scope(targets, access, budget // 2)
        return list(scope.resources), list(scope.resources)
    exports = [r for r in scope.resources if r.endswith("/export/*")]
    return [r for r in scope.resources if r not in exports], exports


def drill_role_policy(
    spec: DrillSpec,
    *,
    region: str,
    account_id: str,
    table_arns: list[str],
    kms_key_arn: str | None = None,
    table_access: TableAccess = "prefix",
) -> dict[str, Any]:
    """The drill role's policy, collected from the machine's grants (``grants.py``).

    The source tables get metadata reads only (DescribeTable, and DescribeExport on
    their exports); every call that creates or deletes a table names
    ``table/<table_prefix>*``. Tables are named one by one while IAM's limit on a
    role's inline policies allows, then by ``table_access`` patterns (``exact`` falls
    back to ``prefix`` here: these grants read metadata only, and a drill role that
    does not fit would fail the deployment). With a customer-managed key on the
    bucket, ImportTable reads the data with the caller's rights, so the role may
    decrypt through S3; writing the report into an SSE-KMS bucket needs a data key.
    """
    role = DrillRole(
        partition=spec.partition,
        region=region,
        account_id=account_id,
        bucket=spec.bucket,
        table_prefix=spec.table_prefix,
        report_prefix=spec.report_prefix,
        kms_key_arn=kms_key_arn,
    )
    grants = drill_machine(spec).grants()

    def with_sources(sources: list[str], exports: list[str]) -> dict[str, Any]:
        return document(*statements(grants, replace(role, sources=sources, exports=exports)))

    access: TableAccess = "prefix" if table_access == "exact" else table_access
    # Everything but the source tables: measured with one-name placeholders, less their size.
    budget = INLINE_POLICY_LIMIT - (policy_size(with_sources(["*"], ["*"])) - 2 * len('"*"'))
    return with_sources(*_source_resources(list(table_arns), access, budget))
