"""``TableImporter``: in the destination account, the newest export becomes a table.

On a schedule the import machine finds the newest full export under the exporter's
prefix for a table, imports it into a new table named after the export's time, checks
the import's counts against the export manifest, points an SSM parameter at the new
table and keeps the ``keep`` newest tables under its prefix::

    Begin ─▶ ListRunFolders ⟲ (full/, baseline/) ─▶ NewestRunFirst ─▶ NextRunFolder ─▶ ListExportFolders ⟲
         ─▶ NewestExportFirst ─▶ NextCandidate ─▶ FindSummary ─▶ ReadSummary ─▶ IsFullExport ─▶ CheckTable
             (none left in this run folder: the next older one; none left at all: NoExportFound)
             (no summary yet, or an incremental export: the next older candidate)               │
         ┌───────────────────── the table exists: its import, by ListImports ◀──────────────────┤
         ▼                                                                                      ▼
    DescribeImport ◀─ WaitForImport ◀────────────────────────────────────────────────── ImportTable
         └▶ ImportFinished ─▶ Verdict ─┬▶ PublishTable (SSM) ─▶ ListTables ⟲ ─▶ DeleteOldTables ─▶ Imported
                                       └▶ DeleteFailedTable ─▶ ImportFailed

Finding exports without Lambda or a listing of the source account's DynamoDB: the
exporter writes a table's full exports to ``<prefix>/<table>/full/<run date>/`` and its
incremental baselines (full exports too) to ``<prefix>/<table>/baseline/<time>/``, and
DynamoDB puts each export in ``AWSDynamoDB/<ExportId>/`` under that ``S3Prefix``. Run
folder names sort by time, and an export ID starts with its start time in zero-padded
milliseconds (observed, undocumented), so the machine walks run folders newest first
and, in each, export folders newest first. A folder is usable once its
``manifest-summary.json`` exists (written when the export completes: "DynamoDB table
export output format"); the machine lists that key rather than reading it blind,
because S3 answers a GetObject of a missing key with 403, not 404, unless the caller
may list the whole bucket (GetObject, "Permissions"), and the role lists only the
prefix. An incremental export's summary says ``INCREMENTAL_EXPORT`` and is skipped;
incremental windows live outside the run folders anyway.

A run is idempotent: the table name comes from the export's time and the
``ClientToken`` from the table name, so a second run for the same export finds the
table, follows its import (ListImports) and publishes it only once it has COMPLETED
with the manifest's count. A table whose import failed is deleted; the parameter
keeps naming the previous table.
"""

import re
from typing import Any

from table_exporter.destination.account_policies import (
    EXPORT_LISTING,
    EXPORT_OBJECTS,
    EXPORTS_KEY,
)
from table_exporter.importer import grants as on
from table_exporter.importer.args import ImporterSpec
from table_exporter.importer.grants import ImporterRole
from table_exporter.kernel import fragments
from table_exporter.kernel.alarms import AlarmSpec, any_in_five_minutes, none_succeeded_within
from table_exporter.kernel.asl import (
    Catch,
    Choice,
    Fail,
    Machine,
    Pass,
    StateBuilder,
    Succeed,
    Task,
    jsonata,
)
from table_exporter.kernel.grants import Grant, statements
from table_exporter.kernel.iam import document
from table_exporter.kernel.imports import ACCOUNT_LISTS
from table_exporter.kernel.retries import error_name

STAMP = "'[Y0001][M01][D01]T[H01][m01][s01]'"

RUN_FOLDERS = ("full/", "baseline/")


def _escape(text: str) -> str:
    return re.sub(r"([.\\])", r"\\\1", text)


class _Builder(StateBuilder):
    """Builds the machine's states one stage at a time, in the order an execution meets
    them: each stage links on from the states the one before it returned."""

    def __init__(self, spec: ImporterSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec
        # Made before the flow: nearly every task catches into it (``caught``), so it
        # has to exist first; it is an end, not a step.
        self.rejected = fragments.rejected(
            self, "ImportRejected", prefix="Import", cause=jsonata("$string($states.input.Cause)")
        )

    def caught(self) -> list[Catch]:
        return fragments.catch_all(self.rejected)

    def build(self) -> Machine:
        begin = self.begin()
        runs = self.list_run_folders(begin)
        next_folder, candidates = self.list_export_folders(runs)
        full = self.read_summary(*self.next_candidate(candidates, next_folder))
        imported, known = self.check_table(full)
        finished = self.poll(imported, known)
        published = self.publish(self.verdict(finished))
        self.retention(published)
        return Machine(
            begin,
            built=self.built,
            comment="Import the newest export under the source prefix into a new table and publish its name.",
            timeout_seconds=self.spec.timeout_seconds,
        )

    def begin(self) -> Pass:
        return self.add(
            Pass(
                "Begin",
                assign={
                    "kinds": [f"{self.spec.source_root}{kind}" for kind in RUN_FOLDERS],
                    "folders": [],
                    "next": None,
                    "candidates": [],
                    "summaryCount": 0,
                    "summary": {},
                    "import": {},
                    "reason": None,
                    "deleted": [],
                    "elapsed": 0,
                },
            )
        )

    # -- look up: the newest full export under the source prefix ---------------------------

    def list_folders(
        self, name: str, more: str, *, prefix: str, collect: str, names: str, **fields: Any
    ) -> tuple[Task, Choice]:
        """``name`` ⟲ ``more``: the folders S3 lists under ``prefix`` (JSONata), those of
        ``names`` (JSONata over the page's ``$states.result.CommonPrefixes.Prefix``)
        appended to ``$<collect>``."""
        return fragments.paged_listing(
            self,
            name,
            "s3",
            "listObjectsV2",
            more=more,
            grants=(Grant(EXPORT_LISTING, ("s3:ListBucket",)),),
            first_page=(
                f"{{'Bucket': '{self.spec.source_bucket}', 'Prefix': {prefix}, 'Delimiter': '/'}}"
            ),
            tokens=("ContinuationToken", "NextContinuationToken"),
            assign={collect: jsonata(f"$append(${collect}, {names})")},
            catch=self.caught(),
            **fields,
        )

    def list_run_folders(self, begin: Pass) -> Pass:
        """The run folders of each kind (``RUN_FOLDERS``), newest first."""
        list_runs, more = self.list_folders(
            "ListRunFolders",
            "MoreRunFolders",
            comment="The exporter writes each full export or baseline under a folder per run.",
            prefix="$kinds[0]",
            collect="folders",
            names="[$states.result.CommonPrefixes.Prefix]",
        )
        begin.then(list_runs)
        next_kind = self.add(
            Pass(
                "NextRunKind",
                assign={"kinds": jsonata("[$kinds[[1..$count($kinds)]]]"), "next": None},
                next=list_runs,
            )
        )
        newest_run = self.add(
            Pass(
                "NewestRunFirst",
                comment=(
                    "Run folders are named after the run's date (full) or the baseline's "
                    "time (incremental), so the greatest name is the newest; the source "
                    "prefix itself comes last, for exports written straight under it."
                ),
                assign={
                    "folders": jsonata(
                        "$append([$sort($folders, function($l, $r) "
                        "{ $split($l, '/')[-2] < $split($r, '/')[-2] })], "
                        f"['{self.spec.source_root}'])"
                    ),
                    "next": None,
                },
            )
        )
        more.when(jsonata("$count($kinds) > 1"), next_kind).otherwise(newest_run)
        return newest_run

    def list_export_folders(self, runs: Pass) -> tuple[Choice, Pass]:
        """The export folders of the newest run folder left, newest first; returns the
        choice of that folder (where a used-up folder goes back to) and the list."""
        spec = self.spec
        next_folder = runs.then(self.add(Choice("NextRunFolder")))
        list_exports, more = self.list_folders(
            "ListExportFolders",
            "MoreExportFolders",
            prefix="$folders[0] & 'AWSDynamoDB/'",
            collect="candidates",
            names=(
                "[$filter($states.result.CommonPrefixes.Prefix, "
                "function($p) { $contains($p, /\\/AWSDynamoDB\\/[0-9]{14}-[^\\/]+\\/$/) })]"
            ),
        )
        next_folder.when(
            jsonata("$count($folders) = 0"),
            self.add(
                Fail(
                    "NoExportFound",
                    error="NoExportFound",
                    cause=(
                        f"no completed full export under s3://{spec.source_bucket}/{spec.source_root}"
                        f" ({', '.join(RUN_FOLDERS)} or AWSDynamoDB/)"
                    ),
                )
            ),
        ).otherwise(list_exports)
        newest_export = self.add(
            Pass(
                "NewestExportFirst",
                comment="An export ID starts with its start time in milliseconds.",
                assign={"candidates": jsonata("[$reverse($sort($candidates))]")},
            )
        )
        more.otherwise(newest_export)
        return next_folder, newest_export

    def next_candidate(self, candidates: Pass, next_folder: Choice) -> tuple[Choice, Task]:
        """The newest candidate left (none: the next run folder), and whether its summary
        exists; returns ``NextCandidate``, where a dropped candidate goes back to, and
        ``FindSummary``."""
        spec = self.spec
        candidate = candidates.then(self.add(Choice("NextCandidate")))
        candidate.when(
            jsonata("$count($candidates) = 0"),
            self.add(
                Pass(
                    "DropRunFolder",
                    comment="No usable export in this run's folder: try the next older one.",
                    assign={"folders": jsonata("[$folders[[1..$count($folders)]]]"), "next": None},
                    next=next_folder,
                )
            ),
        )
        summary_listed = self.task(
            "FindSummary",
            "s3",
            "listObjectsV2",
            comment=(
                "Whether the summary exists, by listing it: S3 answers a GetObject of a "
                "missing key with 403, not 404, unless the caller may list the whole bucket."
            ),
            grants=(Grant(EXPORT_LISTING, ("s3:ListBucket",)),),
            arguments={
                "Bucket": spec.source_bucket,
                "Prefix": jsonata("$candidates[0] & 'manifest-summary.json'"),
                "MaxKeys": 1,
            },
            assign={"summaryCount": jsonata("$states.result.KeyCount")},
            catch=self.caught(),
        )
        candidate.otherwise(summary_listed)
        return candidate, summary_listed

    def read_summary(self, candidate: Choice, summary_listed: Task) -> Choice:
        """A listed summary is read; a full export's goes on, any other candidate is
        dropped. Returns ``IsFullExport``, whose way on (``otherwise``) is the caller's."""
        spec = self.spec
        completed = summary_listed.then(self.add(Choice("ExportCompleted")))
        # Made before the states that send a candidate here (ReadSummary catches into
        # it); it goes back to the next candidate.
        drop = self.add(
            Pass(
                "DropCandidate",
                comment="Not complete yet, or incremental: try the next older one.",
                assign={"candidates": jsonata("[$candidates[[1..$count($candidates)]]]")},
                next=candidate,
            )
        )
        read_summary = self.task(
            "ReadSummary",
            "s3",
            "getObject",
            grants=(Grant(EXPORT_OBJECTS, ("s3:GetObject",)), Grant(EXPORTS_KEY, ("kms:Decrypt",))),
            arguments={
                "Bucket": spec.source_bucket,
                "Key": jsonata("$candidates[0] & 'manifest-summary.json'"),
            },
            assign={
                "folder": jsonata("$candidates[0]"),
                "summary": jsonata("$parse($states.result.Body)"),
                "name": jsonata(
                    f"'{spec.table_prefix}' & $fromMillis($toMillis($parse($states.result.Body).exportTime), {STAMP})"
                ),
            },
            catch=[
                Catch([error_name("s3", "NoSuchKey")], drop),
                *self.caught(),
            ],
        )
        completed.when(jsonata("$summaryCount > 0"), read_summary).otherwise(drop)
        return read_summary.then(self.add(Choice("IsFullExport"))).when(
            jsonata("$summary.exportType = 'INCREMENTAL_EXPORT'"), drop
        )

    # -- import: a new table, or the import that made it -----------------------------------

    def check_table(self, full: Choice) -> tuple[Task, Choice]:
        """``CheckTable``: a table not there yet is imported; one that exists came from a
        previous run's import, which is followed instead. Returns both ways into the
        polling: ``ImportTable`` and ``ImportKnown``."""
        check = self.task(
            "CheckTable",
            "dynamodb",
            "describeTable",
            grants=(Grant(on.TABLES, ("dynamodb:DescribeTable",)),),
            arguments={"TableName": jsonata("$name")},
            output={"tableArn": jsonata("$states.result.Table.TableArn")},
        )
        full.otherwise(check)
        imported = self.start_import()
        check.on_error([error_name("dynamodb", "ResourceNotFoundException")], imported)
        check.catch += self.caught()
        return imported, self.follow_import(check)

    def start_import(self) -> Task:
        spec = self.spec
        keys = [spec.partition_key] + ([spec.sort_key] if spec.sort_key else [])
        return fragments.import_table(
            self,
            into=on.TABLES,
            objects=EXPORT_OBJECTS,
            bucket_resource=EXPORT_LISTING,
            key=EXPORTS_KEY,
            token_from="$name",
            bucket=spec.source_bucket,
            folder="$folder",
            bucket_owner=spec.source_bucket_owner,
            export_format="$summary.outputFormat",
            table=(
                "$name",
                [
                    {"AttributeName": k.name, "KeyType": t}
                    for k, t in zip(keys, ("HASH", "RANGE"), strict=False)
                ],
                [{"AttributeName": k.name, "AttributeType": k.attribute_type} for k in keys],
            ),
            poll=spec.poll,
            catch=self.caught(),
        )

    def follow_import(self, check: Task) -> Choice:
        """The newest import into the existing table; returns ``ImportKnown``, whose way
        on when there is one (``when``) is the caller's."""
        list_imports = self.task(
            "ListImports",
            "dynamodb",
            "listImports",
            comment="The table exists: a previous run imported it, or is importing it.",
            grants=(Grant(ACCOUNT_LISTS, ("dynamodb:ListImports",)),),
            arguments={"TableArn": jsonata("$states.input.tableArn"), "PageSize": 25},
            assign=fragments.polling_from(
                "{'ImportArn': $reverse($sort($states.result.ImportSummaryList.ImportArn))[0]}",
                self.spec.poll,
            ),
            catch=self.caught(),
        )
        return (
            check.then(list_imports)
            .then(self.add(Choice("ImportKnown")))
            .otherwise(
                self.add(
                    Fail(
                        "TableNotFromImport",
                        error="TableNotFromImport",
                        cause=jsonata("'table ' & $name & ' exists but no import created it'"),
                    )
                )
            )
        )

    def poll(self, imported: Task, known: Choice) -> Choice:
        """Returns ``ImportFinished``, whose exits ``verdict`` adds."""
        wait, describe, finished = fragments.import_polling(
            self, imports=on.IMPORTS, poll=self.spec.poll, catch=self.caught()
        )
        imported.then(wait)
        # The import found for an existing table is described at once.
        known.when(jsonata("$type($import.ImportArn) = 'string'"), describe)
        return finished

    # -- verdict ---------------------------------------------------------------------------

    def verdict(self, finished: Choice) -> Choice:
        """Judges an import that ended; a failed one's table is deleted. Returns
        ``Verdict``, whose way on for a good import (``otherwise``) is the caller's."""
        spec = self.spec
        judge = self.add(
            Pass(
                "JudgeImport",
                assign={
                    "reason": jsonata(
                        """(
                          $imported := $import.ImportedItemCount ? $import.ImportedItemCount : 0;
                          $errors := $import.ErrorCount ? $import.ErrorCount : 0;
                          $import.ImportStatus != 'COMPLETED' ? 'import ended ' & $import.ImportStatus :
                          $errors > 0 ? $string($errors) & ' item(s) failed to import' :
                          $imported != $summary.itemCount ?
                            'imported ' & $string($imported) & ' item(s), the manifest lists ' & $string($summary.itemCount) :
                          null
                        )"""
                    )
                },
            )
        )
        timed_out = self.add(
            Fail(
                "ImportTimedOut",
                comment="Left CREATING; the next run follows the same import through ListImports.",
                error="ImportTimedOut",
                cause=jsonata(
                    f"'the import into ' & $name & ' was still running after {spec.import_timeout_seconds} seconds'"
                ),
            )
        )
        fragments.import_exits(
            finished, ended=judge, timed_out=timed_out, timeout_seconds=spec.import_timeout_seconds
        )
        verdict = judge.then(self.add(Choice("Verdict")))
        delete_failed = self.task(
            "DeleteFailedTable",
            "dynamodb",
            "deleteTable",
            comment="An incomplete table is never published; the parameter keeps the previous one.",
            grants=(Grant(on.TABLES, ("dynamodb:DeleteTable",)),),
            arguments={"TableName": jsonata("$name")},
        )
        verdict.when(jsonata("$type($reason) = 'string'"), delete_failed)
        failed = delete_failed.then(
            self.add(
                Fail(
                    "ImportFailed",
                    error="ImportFailed",
                    cause=jsonata(
                        "$string({'table': $name, 'exportArn': $summary.exportArn, 'reason': $reason, "
                        "'importArn': $import.ImportArn, 'importStatus': $import.ImportStatus, "
                        "'processedItemCount': $import.ProcessedItemCount, "
                        "'importedItemCount': $import.ImportedItemCount, 'errorCount': $import.ErrorCount, "
                        "'manifestItemCount': $summary.itemCount})"
                    ),
                )
            )
        )
        # Fails the same way whether the table could be deleted or not.
        delete_failed.on_error(["States.ALL"], failed)
        return verdict

    # -- publish and retention -------------------------------------------------------------

    def publish(self, verdict: Choice) -> Task:
        spec = self.spec
        publish = self.task(
            "PublishTable",
            "ssm",
            "putParameter",
            comment="Readers follow the parameter; it moves only to a complete, checked table.",
            grants=(Grant(on.PARAMETER, ("ssm:PutParameter",)),),
            arguments={
                "Name": spec.parameter_name,
                "Value": jsonata("$name"),
                "Type": "String",
                "Overwrite": True,
            },
            assign={"next": None, "tables": []},
            catch=self.caught(),
        )
        verdict.otherwise(publish)
        return publish

    def retention(self, published: Task) -> None:
        """Lists the tables and deletes all but the ``keep`` newest of this importer's."""
        spec = self.spec
        list_tables, more = fragments.list_tables(
            self,
            collect="tables",
            names="$states.result.TableNames",
            catch=self.caught(),
        )
        published.then(list_tables)
        pattern = f"/^{_escape(spec.table_prefix)}[0-9]{{8}}T[0-9]{{6}}$/"
        delete_old = fragments.delete_tables(
            self,
            "DeleteOldTables",
            comment=f"Keeps the {spec.keep} newest tables; never the one just published.",
            tables=f"""(
              $mine := $reverse($sort($filter($tables, function($t) {{ $contains($t, {pattern}) }})));
              [$filter($mine, function($t, $i) {{ $i >= {spec.keep} and $t != $name }})]
            )""",
            processor=fragments.delete_item_table(
                self,
                "DeleteOldTable",
                tables=on.TABLES,
                catch=[Catch(["States.ALL"], fragments.ends_unnamed("OldTableNotDeleted"))],
            ),
            collect="deleted",
            catch=self.caught(),
        )
        more.otherwise(delete_old)
        delete_old.then(
            self.add(
                Succeed(
                    "Imported",
                    output={
                        "table": jsonata("$name"),
                        "exportArn": jsonata("$summary.exportArn"),
                        "itemCount": jsonata("$summary.itemCount"),
                        "parameter": spec.parameter_name,
                        "deleted": jsonata("$deleted"),
                    },
                )
            )
        )


def import_machine(spec: ImporterSpec) -> Machine:
    return _Builder(spec).build()


def import_definition(spec: ImporterSpec) -> dict[str, Any]:
    return import_machine(spec).render()


def importer_alarm_specs(*, window_hours: int = 48) -> list[AlarmSpec]:
    """A failed import run; no successful run in ``window_hours`` (at most 168)."""
    return [
        any_in_five_minutes(
            "import-failed",
            "run",
            "ExecutionsFailed",
            "A table import run failed; the parameter still names the previous table.",
        ),
        none_succeeded_within(
            "import-stale",
            "run",
            window_hours,
            f"No table import run succeeded in the last {window_hours} hours.",
        ),
    ]


def importer_role_policy(
    spec: ImporterSpec,
    *,
    region: str,
    account_id: str,
    kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """The import role's policy, collected from the machine's grants (``grants.py``);
    the source reads are the statements ``destination/account_policies.py`` writes
    for a bucket policy too."""
    role = ImporterRole(
        bucket_arn=f"arn:{spec.partition}:s3:::{spec.source_bucket}",
        prefixes=[spec.source_prefix],
        kms_key_arn=kms_key_arn,
        partition=spec.partition,
        region=region,
        account_id=account_id,
        table_prefix=spec.table_prefix,
        parameter_name=spec.parameter_name,
    )
    return document(*statements(import_machine(spec).grants(), role))
