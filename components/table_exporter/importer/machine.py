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

from table_exporter.importer.args import ImporterSpec
from table_exporter.kernel.alarms import AlarmSpec, any_in_five_minutes, none_succeeded_within
from table_exporter.kernel.asl import (
    Catch,
    Choice,
    Fail,
    Grant,
    Graph,
    Machine,
    Map,
    Pass,
    StateBuilder,
    Succeed,
    Task,
    jsonata,
    next_page_token,
    paged_arguments,
)
from table_exporter.kernel.fragments import IMPORT_ENDED, import_polling
from table_exporter.kernel.iam import document
from table_exporter.kernel.retries import error_name, retry_for

STAMP = "'[Y0001][M01][D01]T[H01][m01][s01]'"

RUN_FOLDERS = ("full/", "baseline/")

IMPORT_LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
)


GRANT_GROUPS = {
    "source_bucket": "arn:aws:s3:::<source bucket> (ListBucket; limit with s3:prefix to the source prefix)",
    "source_objects": "arn:aws:s3:::<source bucket>/<source prefix>/*",
    "tables": "arn:...:table/<table_prefix>*",
    "imports": "arn:...:table/<table_prefix>*/import/*",
    "account_lists": '"*" (ListTables, ListImports take no resource)',
    "import_logs": "arn:...:logs:<region>:<account>:log-group:/aws-dynamodb/*",
    "parameter": "arn:...:ssm:<region>:<account>:parameter<parameter_name>",
}


def _escape(text: str) -> str:
    return re.sub(r"([.\\])", r"\\\1", text)


class _Builder(StateBuilder):
    """Builds the machine's states."""

    def __init__(self, spec: ImporterSpec) -> None:
        super().__init__(spec.partition)
        self.spec = spec

    def build(self) -> Machine:
        spec = self.spec
        poll = spec.poll
        prefix = spec.table_prefix
        rejected = self.add(
            Fail(
                "ImportRejected",
                comment="A permanent error, or a transient one that outlasted its retries.",
                error=jsonata(
                    "$substring($states.input.Error, 0, 7) = 'States.' ? "
                    "'Import.' & $substringAfter($states.input.Error, 'States.') : $states.input.Error"
                ),
                cause=jsonata("$string($states.input.Cause)"),
            )
        )

        def caught() -> list[Catch]:
            return [Catch(["States.ALL"], rejected, jsonata("$states.errorOutput"))]

        done = self.add(
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
        # -- retention -------------------------------------------------------------------
        gone = Pass("OldTableNotDeleted", output=jsonata("null"), end=True)
        delete_one = Task(
            "DeleteOldTable",
            resource=f"{self.sdk}dynamodb:deleteTable",
            grants=(Grant("tables", ("dynamodb:DeleteTable",)),),
            arguments={"TableName": jsonata("$states.input.name")},
            retry=retry_for("dynamodb", "deleteTable"),
            output=jsonata("$states.input.name"),
            catch=[Catch(["States.ALL"], gone)],
            end=True,
        )
        pattern = f"/^{_escape(prefix)}[0-9]{{8}}T[0-9]{{6}}$/"
        delete_old = self.add(
            Map(
                "DeleteOldTables",
                comment=f"Keeps the {spec.keep} newest tables; never the one just published.",
                items=jsonata(
                    f"""(
                      $mine := $reverse($sort($filter($tables, function($t) {{ $contains($t, {pattern}) }})));
                      [$filter($mine, function($t, $i) {{ $i >= {spec.keep} and $t != $name }})]
                    )"""
                ),
                item_selector={"name": jsonata("$states.context.Map.Item.Value")},
                max_concurrency=5,
                processor=Graph(delete_one),
                assign={
                    "deleted": jsonata(
                        "[$filter($states.result, function($v) { $type($v) = 'string' })]"
                    )
                },
                catch=caught(),
                next=done,
            )
        )
        list_tables = self.task(
            "ListTables",
            "dynamodb",
            "listTables",
            grants=(Grant("account_lists", ("dynamodb:ListTables",)),),
            arguments=paged_arguments("{'Limit': 100}", "ExclusiveStartTableName"),
            assign={
                "next": next_page_token("LastEvaluatedTableName"),
                "tables": jsonata("$append($tables, $states.result.TableNames)"),
            },
            catch=caught(),
        )
        self.while_more_pages("MoreTables", list_tables, then=delete_old)
        publish = self.task(
            "PublishTable",
            "ssm",
            "putParameter",
            comment="Readers follow the parameter; it moves only to a complete, checked table.",
            grants=(Grant("parameter", ("ssm:PutParameter",)),),
            arguments={
                "Name": spec.parameter_name,
                "Value": jsonata("$name"),
                "Type": "String",
                "Overwrite": True,
            },
            assign={"next": None, "tables": []},
            catch=caught(),
            next=list_tables,
        )
        # -- verdict -----------------------------------------------------------------------
        failed = self.add(
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
        delete_failed = self.task(
            "DeleteFailedTable",
            "dynamodb",
            "deleteTable",
            comment="An incomplete table is never published; the parameter keeps the previous one.",
            grants=(Grant("tables", ("dynamodb:DeleteTable",)),),
            arguments={"TableName": jsonata("$name")},
            catch=[Catch(["States.ALL"], failed)],
            next=failed,
        )
        verdict = self.add(
            Choice("Verdict", default=publish).when(
                jsonata("$type($reason) = 'string'"), delete_failed
            )
        )
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
                next=verdict,
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
        # -- polling -----------------------------------------------------------------------
        wait, describe, finished = import_polling(
            self, grant_group="imports", poll=poll, catch=caught()
        )
        finished.when(IMPORT_ENDED, judge).when(
            jsonata(f"$elapsed >= {spec.import_timeout_seconds}"), timed_out
        )
        source: dict[str, Any] = {
            "S3Bucket": spec.source_bucket,
            "S3KeyPrefix": jsonata("$folder & 'data/'"),
        }
        if spec.source_bucket_owner:
            source["S3BucketOwner"] = spec.source_bucket_owner
        keys = [spec.partition_key] + ([spec.sort_key] if spec.sort_key else [])
        import_table = self.task(
            "ImportTable",
            "dynamodb",
            "importTable",
            grants=(
                Grant("tables", ("dynamodb:ImportTable",)),
                Grant("source_objects", ("s3:GetObject",)),
                Grant("source_bucket", ("s3:ListBucket",)),
                Grant("account_lists", ("logs:DescribeLogGroups",)),
                Grant("import_logs", IMPORT_LOG_ACTIONS),
            ),
            arguments={
                "ClientToken": jsonata("$substring($hash($name, 'SHA-256'), 0, 36)"),
                "S3BucketSource": source,
                "InputFormat": jsonata(
                    "$summary.outputFormat ? $summary.outputFormat : 'DYNAMODB_JSON'"
                ),
                "InputCompressionType": "GZIP",
                "TableCreationParameters": {
                    "TableName": jsonata("$name"),
                    "KeySchema": [
                        {"AttributeName": k.name, "KeyType": t}
                        for k, t in zip(keys, ("HASH", "RANGE"), strict=False)
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": k.name, "AttributeType": k.attribute_type} for k in keys
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            },
            assign={
                "import": jsonata("$states.result.ImportTableDescription"),
                "elapsed": 0,
                "wait": poll.min_seconds,
            },
            catch=caught(),
            next=wait,
        )
        not_imported = self.add(
            Fail(
                "TableNotFromImport",
                error="TableNotFromImport",
                cause=jsonata("'table ' & $name & ' exists but no import created it'"),
            )
        )
        follow = self.add(
            Choice("ImportKnown", default=not_imported).when(
                jsonata("$type($import.ImportArn) = 'string'"), describe
            )
        )
        list_imports = self.task(
            "ListImports",
            "dynamodb",
            "listImports",
            comment="The table exists: a previous run imported it, or is importing it.",
            grants=(Grant("account_lists", ("dynamodb:ListImports",)),),
            arguments={"TableArn": jsonata("$states.input.tableArn"), "PageSize": 25},
            assign={
                "import": jsonata(
                    "{'ImportArn': $reverse($sort($states.result.ImportSummaryList.ImportArn))[0]}"
                ),
                "elapsed": 0,
                "wait": poll.min_seconds,
            },
            catch=caught(),
            next=follow,
        )
        check = self.task(
            "CheckTable",
            "dynamodb",
            "describeTable",
            grants=(Grant("tables", ("dynamodb:DescribeTable",)),),
            arguments={"TableName": jsonata("$name")},
            output={"tableArn": jsonata("$states.result.Table.TableArn")},
            catch=[
                Catch([error_name("dynamodb", "ResourceNotFoundException")], import_table),
                *caught(),
            ],
            next=list_imports,
        )
        # -- finding the newest export ---------------------------------------------------
        drop = self.add(
            Pass(
                "DropCandidate",
                comment="Not complete yet, or incremental: try the next older one.",
                assign={"candidates": jsonata("[$candidates[[1..$count($candidates)]]]")},
            )
        )
        is_full = self.add(
            Choice("IsFullExport", default=check).when(
                jsonata("$summary.exportType = 'INCREMENTAL_EXPORT'"), drop
            )
        )
        read_summary = self.task(
            "ReadSummary",
            "s3",
            "getObject",
            grants=(Grant("source_objects", ("s3:GetObject",)),),
            arguments={
                "Bucket": spec.source_bucket,
                "Key": jsonata("$candidates[0] & 'manifest-summary.json'"),
            },
            assign={
                "folder": jsonata("$candidates[0]"),
                "summary": jsonata("$parse($states.result.Body)"),
                "name": jsonata(
                    f"'{prefix}' & $fromMillis($toMillis($parse($states.result.Body).exportTime), {STAMP})"
                ),
            },
            catch=[
                Catch([error_name("s3", "NoSuchKey")], drop),
                *caught(),
            ],
            next=is_full,
        )
        completed = self.add(
            Choice("ExportCompleted", default=drop).when(jsonata("$summaryCount > 0"), read_summary)
        )
        summary_listed = self.task(
            "FindSummary",
            "s3",
            "listObjectsV2",
            comment=(
                "Whether the summary exists, by listing it: S3 answers a GetObject of a "
                "missing key with 403, not 404, unless the caller may list the whole bucket."
            ),
            grants=(Grant("source_bucket", ("s3:ListBucket",)),),
            arguments={
                "Bucket": spec.source_bucket,
                "Prefix": jsonata("$candidates[0] & 'manifest-summary.json'"),
                "MaxKeys": 1,
            },
            assign={"summaryCount": jsonata("$states.result.KeyCount")},
            catch=caught(),
            next=completed,
        )
        drop_folder = self.add(
            Pass(
                "DropRunFolder",
                comment="No usable export in this run's folder: try the next older one.",
                assign={"folders": jsonata("[$folders[[1..$count($folders)]]]"), "next": None},
            )
        )
        candidate = self.add(
            Choice("NextCandidate", default=summary_listed).when(
                jsonata("$count($candidates) = 0"), drop_folder
            )
        )
        drop.then(candidate)
        list_exports = self.task(
            "ListExportFolders",
            "s3",
            "listObjectsV2",
            grants=(Grant("source_bucket", ("s3:ListBucket",)),),
            arguments=paged_arguments(
                f"{{'Bucket': '{spec.source_bucket}', 'Prefix': $folders[0] & 'AWSDynamoDB/', "
                "'Delimiter': '/'}",
                "ContinuationToken",
            ),
            assign={
                "next": next_page_token("NextContinuationToken"),
                "candidates": jsonata(
                    "$append($candidates, [$filter($states.result.CommonPrefixes.Prefix, "
                    "function($p) { $contains($p, /\\/AWSDynamoDB\\/[0-9]{14}-[^\\/]+\\/$/) })])"
                ),
            },
            catch=caught(),
        )
        newest_export = self.add(
            Pass(
                "NewestExportFirst",
                comment="An export ID starts with its start time in milliseconds.",
                assign={"candidates": jsonata("[$reverse($sort($candidates))]")},
                next=candidate,
            )
        )
        self.while_more_pages("MoreExportFolders", list_exports, then=newest_export)
        none_found = self.add(
            Fail(
                "NoExportFound",
                error="NoExportFound",
                cause=(
                    f"no completed full export under s3://{spec.source_bucket}/{spec.source_root}"
                    f" ({', '.join(RUN_FOLDERS)} or AWSDynamoDB/)"
                ),
            )
        )
        next_folder = self.add(
            Choice("NextRunFolder", default=list_exports).when(
                jsonata("$count($folders) = 0"), none_found
            )
        )
        drop_folder.then(next_folder)
        list_runs = self.task(
            "ListRunFolders",
            "s3",
            "listObjectsV2",
            comment="The exporter writes each full export or baseline under a folder per run.",
            grants=(Grant("source_bucket", ("s3:ListBucket",)),),
            arguments=paged_arguments(
                f"{{'Bucket': '{spec.source_bucket}', 'Prefix': $kinds[0], 'Delimiter': '/'}}",
                "ContinuationToken",
            ),
            assign={
                "next": next_page_token("NextContinuationToken"),
                "folders": jsonata("$append($folders, [$states.result.CommonPrefixes.Prefix])"),
            },
            catch=caught(),
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
                        f"['{spec.source_root}'])"
                    ),
                    "next": None,
                },
                next=next_folder,
            )
        )
        next_kind = self.add(
            Pass(
                "NextRunKind",
                assign={"kinds": jsonata("[$kinds[[1..$count($kinds)]]]"), "next": None},
                next=list_runs,
            )
        )
        self.while_more_pages("MoreRunFolders", list_runs, then=newest_run).when(
            jsonata("$count($kinds) > 1"), next_kind
        )
        begin = self.add(
            Pass(
                "Begin",
                assign={
                    "kinds": [f"{spec.source_root}{kind}" for kind in RUN_FOLDERS],
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
                next=list_runs,
            )
        )
        return Machine(
            begin,
            built=self.built,
            comment="Import the newest export under the source prefix into a new table and publish its name.",
            timeout_seconds=spec.timeout_seconds,
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
    """The import role's policy, every grant group resolved (``GRANT_GROUPS``); the
    source read access is ``cross_account.importer_read_statements``."""
    from table_exporter.destination.account_policies import importer_read_statements

    partition = spec.partition
    tables = f"arn:{partition}:dynamodb:{region}:{account_id}:table/{spec.table_prefix}*"
    resources = {
        "tables": [tables],
        "imports": [f"{tables}/import/*"],
        "account_lists": ["*"],
        "import_logs": [f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws-dynamodb/*"],
        "parameter": [f"arn:{partition}:ssm:{region}:{account_id}:parameter{spec.parameter_name}"],
    }
    grants = import_machine(spec).grants()
    unknown = sorted(set(grants) - set(resources) - {"source_bucket", "source_objects"})
    if unknown:  # a state asked for a group no statement resolves: never drop it silently
        raise ValueError(f"importer policy: no resources for grant group(s) {unknown}")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "".join(part.title() for part in group.split("_")),
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": resources[group],
        }
        for group, actions in sorted(grants.items())
        if group in resources
    ]
    statements += importer_read_statements(
        bucket_arn=f"arn:{partition}:s3:::{spec.source_bucket}",
        prefix=spec.source_prefix,
        kms_key_arn=kms_key_arn,
    )
    return document(*statements)
