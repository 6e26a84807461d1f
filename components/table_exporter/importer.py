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

No ``from __future__ import annotations``: Pulumi's schema analyzer reads
``TableImporterArgs`` and the component's annotations as objects (``provider.py``).
"""

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import pulumi
import pulumi_aws as aws

from .alarms import AlarmSpec, any_in_five_minutes, none_succeeded_within
from .asl import (
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
from .fragments import IMPORT_ENDED, import_polling
from .iam import allow, document
from .limits import importer_name_problem
from .policies import scheduler_trust_policy, state_machine_arn, states_trust_policy
from .polling import PollPolicy
from .retries import error_name, retry_for
from .targets import AwsScope

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pulumi itself depends on typing_extensions
    from typing_extensions import Required

STAMP = "'[Y0001][M01][D01]T[H01][m01][s01]'"
KEY_TYPES = ("S", "N", "B")
RUN_FOLDERS = ("full/", "baseline/")
"""Where the exporter puts a table's full exports (``full/<run date>/``, run machine)
and incremental baselines (``baseline/<time>/``, table export machine) under its prefix
for the table; each holds ``AWSDynamoDB/<ExportId>/``."""
IMPORT_LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:PutRetentionPolicy",
)
"""What ImportTable's caller needs to log import errors ("Requesting a table import in
DynamoDB", Setting up IAM permissions), on ``log-group:/aws-dynamodb/*``; that page
lists ``logs:DescribeLogGroups`` there too, which takes only ``"*"`` (Service
Authorization Reference, as parliament ships it), so it is granted on ``"*"``."""


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    attribute_type: str = "S"

    def __post_init__(self) -> None:
        if self.attribute_type not in KEY_TYPES:
            raise ValueError(f"key attribute type must be one of {KEY_TYPES}")


@dataclass(frozen=True)
class ImporterSpec:
    source_bucket: str
    source_prefix: str
    """The exporter's prefix for the table (``<prefix>/<table>``, e.g. ``exports/orders``):
    its full exports and baselines are found in the run folders under it."""
    table_prefix: str
    """New tables are ``<table_prefix><YYYYMMDD>T<HHMMSS>`` (the export's time, UTC)."""
    parameter_name: str
    """SSM parameter that names the current table."""
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    keep: int = 3
    source_bucket_owner: str | None = None
    poll: PollPolicy = field(default_factory=PollPolicy)
    import_timeout_seconds: int = 12 * 3600
    partition: str = "aws"

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= 100:
            raise ValueError("keep must be 1 to 100 tables")
        if not 1 <= len(self.table_prefix) <= 200 or not re.fullmatch(
            r"[A-Za-z0-9_.-]+", self.table_prefix
        ):
            raise ValueError("table prefix: 1 to 200 of letters, digits, '_', '.' and '-'")
        if self.source_prefix.startswith("/") or self.source_prefix.endswith("/"):
            raise ValueError("source prefix takes no leading or trailing '/'")
        if not self.parameter_name.startswith("/"):
            raise ValueError("parameter name must be a path starting with '/'")

    @property
    def timeout_seconds(self) -> int:
        return self.import_timeout_seconds + 3600

    @property
    def source_root(self) -> str:
        """The source prefix as a folder (``exports/orders/``; empty for the bucket root)."""
        return f"{self.source_prefix}/" if self.source_prefix else ""


class KeyAttributeArgs(TypedDict, total=False):
    """A key attribute of the tables the importer creates (``KeyAttribute``)."""

    name: Required[str]
    """The attribute's name. Required."""
    attribute_type: str
    """``S``, ``N`` or ``B``. Default ``S``."""


class PollPolicyArgs(TypedDict, total=False):
    """Bounds of the import status polling back-off, in seconds (``PollPolicy``)."""

    min_seconds: int
    """Shortest wait between import status polls. Default 60."""
    max_seconds: int
    """Longest wait between import status polls, at most 86400. Default 3600."""
    growth: float
    """Each wait is this share of the time waited so far, within the bounds; in (0, 1].
    Default 0.15."""


class TableImporterArgs(TypedDict, total=False):
    """``TableImporter``'s arguments as one mapping: the fields of ``ImporterSpec`` and
    the component's keyword arguments. Every value is plain except ``alarm_actions``:
    the machine's definition and policies are built from them at preview."""

    source_bucket: Required[str]
    """The bucket the exporter writes to. Required."""
    source_prefix: Required[str]
    """The exporter's prefix for the table (``<prefix>/<table>``, e.g.
    ``exports/orders``): its full exports and baselines are found in the run folders
    under it. Required; empty for the bucket's root."""
    table_prefix: Required[str]
    """New tables are ``<table_prefix><YYYYMMDD>T<HHMMSS>`` (the export's time, UTC).
    Required."""
    parameter_name: Required[str]
    """SSM parameter that names the current table, a path starting with ``/``. Required."""
    partition_key: Required[KeyAttributeArgs]
    """The new tables' partition key. Required."""
    sort_key: KeyAttributeArgs
    """The new tables' sort key. Default: none."""
    keep: int
    """How many of the newest imported tables to keep, 1-100. Default 3."""
    source_bucket_owner: str
    """Account that owns ``source_bucket``, when it is another account. Default: none."""
    poll: PollPolicyArgs
    """How often the machine asks about a running import. Default: 60 to 3600 seconds,
    growth 0.15."""
    import_timeout_seconds: int
    """How long one import may take. Default 43200 (12 hours)."""
    partition: str
    """The AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``). Default ``aws``."""
    schedule_expression: str
    """When imports run (EventBridge Scheduler ``cron(...)`` or ``rate(...)``). Default
    ``cron(0 6 * * ? *)``."""
    schedule_timezone: str
    """IANA time zone of the schedule. Default ``UTC``."""
    kms_key_arn: str
    """Customer-managed KMS key of the exports, which the import role may decrypt.
    Default: none."""
    alarm_actions: Sequence[pulumi.Input[str]]
    """ARNs the alarms notify (SNS topics). Default none."""
    alarm_window_hours: int
    """Alarm when no import succeeded for this many hours, at most 168. Default 48."""


if TYPE_CHECKING:
    # Python programs may pass an ``ImporterSpec`` (and keyword arguments) as before; the
    # schema analyzer reads one args type, the mapping every Pulumi language sends.
    ImporterArgs = TableImporterArgs | ImporterSpec
else:
    ImporterArgs = TableImporterArgs


class TableImporterArgsError(ValueError):
    """Raised at construction, before anything is registered, for a bad
    ``TableImporterArgs`` mapping: one line ``<argument>: <rule>`` per problem."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


_SPEC_TEXTS = ("source_bucket", "source_prefix", "table_prefix", "parameter_name")
_SPEC_OPTIONAL_TEXTS = ("source_bucket_owner", "partition")
_SPEC_INTS = ("keep", "import_timeout_seconds")
_SETTINGS = {
    "schedule_expression": str,
    "schedule_timezone": str,
    "kms_key_arn": str,
    "alarm_window_hours": int,
}
_KNOWN = frozenset(TableImporterArgs.__required_keys__ | TableImporterArgs.__optional_keys__)


def _kind_problem(path: str, value: Any, kind: type) -> str | None:
    if isinstance(value, pulumi.Output):
        return f"{path}: must be a plain value, not an Output"
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{path}: must be a whole number, got {value!r}"
    if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{path}: must be a number, got {value!r}"
    if kind is str and not isinstance(value, str):
        return f"{path}: must be text, got {value!r}"
    return None


def _key(path: str, value: Any, problems: list[str]) -> KeyAttribute | None:
    if not isinstance(value, Mapping):
        problems.append(f"{path}: must be a mapping with a 'name', got {value!r}")
        return None
    found = [
        problem
        for key, kind in (("name", str), ("attribute_type", str))
        if key in value
        and (problem := _kind_problem(f"{path}.{key}", value[key], kind)) is not None
    ]
    found += [
        f"{path}.{key}: unknown argument" for key in value if key not in ("name", "attribute_type")
    ]
    if "name" not in value:
        found.append(f"{path}.name: is required")
    problems.extend(found)
    if found:
        return None
    try:
        return KeyAttribute(value["name"], value.get("attribute_type", "S"))
    except ValueError as err:
        problems.append(f"{path}.attribute_type: {err}")
        return None


def importer_settings(args: Mapping[str, Any]) -> tuple[ImporterSpec, dict[str, Any]]:
    """The ``ImporterSpec`` and the keyword arguments a ``TableImporterArgs`` mapping
    stands for. Raises ``TableImporterArgsError`` listing every problem."""
    if not isinstance(args, Mapping):
        raise TableImporterArgsError(f"args: must be a TableImporterArgs mapping, got {args!r}")
    given = {key: value for key, value in args.items() if value is not None}
    problems = [f"{key}: unknown argument" for key in given if key not in _KNOWN]
    problems += [
        f"{key}: is required"
        for key in sorted(TableImporterArgs.__required_keys__)
        if key not in given
    ]
    kinds: dict[str, type] = {
        **dict.fromkeys(_SPEC_TEXTS + _SPEC_OPTIONAL_TEXTS, str),
        **dict.fromkeys(_SPEC_INTS, int),
        **_SETTINGS,
    }
    problems += [
        problem
        for key, kind in kinds.items()
        if key in given and (problem := _kind_problem(key, given[key], kind)) is not None
    ]
    partition_key = (
        _key("partition_key", given["partition_key"], problems)
        if "partition_key" in given
        else None
    )
    sort_key = _key("sort_key", given["sort_key"], problems) if "sort_key" in given else None
    poll_args = given.get("poll", {})
    if not isinstance(poll_args, Mapping):
        problems.append(f"poll: must be a mapping, got {poll_args!r}")
        poll_args = {}
    poll_kinds = {"min_seconds": int, "max_seconds": int, "growth": float}
    problems += [f"poll.{key}: unknown argument" for key in poll_args if key not in poll_kinds]
    problems += [
        problem
        for key, kind in poll_kinds.items()
        if key in poll_args
        and (problem := _kind_problem(f"poll.{key}", poll_args[key], kind)) is not None
    ]
    actions = given.get("alarm_actions", [])
    if isinstance(actions, str) or not isinstance(actions, Sequence):
        problems.append(f"alarm_actions: must be a list of ARNs, got {actions!r}")
    if problems or partition_key is None:
        raise TableImporterArgsError(problems)
    try:
        poll = PollPolicy(**poll_args)
        spec = ImporterSpec(
            **{
                key: given[key]
                for key in (*_SPEC_TEXTS, *_SPEC_OPTIONAL_TEXTS, *_SPEC_INTS)
                if key in given
            },
            partition_key=partition_key,
            sort_key=sort_key,
            poll=poll,
        )
    except ValueError as err:
        raise TableImporterArgsError(str(err)) from None
    settings = {key: given[key] for key in (*_SETTINGS, "alarm_actions") if key in given}
    return spec, settings


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
            Choice("ExportCompleted", default=drop).when(
                jsonata("$summaryCount > 0"), read_summary
            )
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
    from .cross_account import importer_read_statements

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


class TableImporter(pulumi.ComponentResource):
    """Deployed in the destination account: imports the newest export on a schedule.

    Publishes the current table's name in the SSM parameter ``spec.parameter_name``
    (created here with a placeholder; the machine overwrites it). No Lambda.
    """

    # The outputs: the schema's, which every Pulumi language sees (``provider.py``).
    state_machine_arn: pulumi.Output[str]
    """ARN of the import state machine."""
    state_machine_name: pulumi.Output[str]
    """Name of the import state machine."""
    parameter_name: pulumi.Output[str]
    """The SSM parameter that names the current table."""
    role_arn: pulumi.Output[str]
    """ARN of the import machine's role: the role the exporter's account grants read
    access to its exports (``destination_account_policies``)."""
    schedule_arn: pulumi.Output[str]
    """ARN of the schedule that starts the imports."""

    if TYPE_CHECKING:
        # Python-only fields: the child resources. Typed for type checkers only, so
        # they are no schema outputs.
        state_machine: aws.sfn.StateMachine
        role: aws.iam.Role
        parameter: aws.ssm.Parameter
        schedule: aws.scheduler.Schedule
        alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(
        self,
        name: str,
        args: ImporterArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        schedule_expression: str = "cron(0 6 * * ? *)",
        schedule_timezone: str = "UTC",
        kms_key_arn: str | None = None,
        alarm_actions: Sequence[pulumi.Input[str]] | None = None,
        alarm_window_hours: int = 48,
    ) -> None:
        """``args``: an ``ImporterSpec`` with the keyword arguments, or one
        ``TableImporterArgs`` mapping (what other Pulumi languages send), whose keys
        override the keyword arguments."""
        if isinstance(args, ImporterSpec):
            spec = args
        else:
            spec, settings = importer_settings(args)
            schedule_expression = settings.get("schedule_expression", schedule_expression)
            schedule_timezone = settings.get("schedule_timezone", schedule_timezone)
            kms_key_arn = settings.get("kms_key_arn", kms_key_arn)
            alarm_actions = settings.get("alarm_actions", alarm_actions)
            alarm_window_hours = settings.get("alarm_window_hours", alarm_window_hours)
        problem = importer_name_problem(name)
        if problem:  # before anything is registered
            raise TableImporterArgsError(problem)
        super().__init__("table-exporter:index:TableImporter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output()
        region = aws.get_region_output().region
        machine_name = f"{name}-import"

        def trust(values: list[str]) -> str:
            """Step Functions, for this machine only (the exporter's machines' form)."""
            account, reg = values
            scope = AwsScope(partition=spec.partition, region=reg, account_id=account)
            return json.dumps(
                states_trust_policy(scope, state_machine_arn(scope, machine_name))
            )

        self.role = aws.iam.Role(
            f"{name}-import-role",
            assume_role_policy=pulumi.Output.all(identity.account_id, region).apply(trust),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-import-policy",
            role=self.role.id,
            policy=pulumi.Output.all(identity.account_id, region).apply(
                lambda v: json.dumps(
                    importer_role_policy(
                        spec, region=v[1], account_id=v[0], kms_key_arn=kms_key_arn
                    )
                )
            ),
            opts=child,
        )
        self.parameter = aws.ssm.Parameter(
            f"{name}-current-table",
            name=spec.parameter_name,
            type="String",
            value="none",
            description="The table the newest complete import created; set by the import machine.",
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]),
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-import",
            name=machine_name,
            role_arn=self.role.arn,
            definition=json.dumps(import_definition(spec)),
            opts=child,
        )
        # Scheduler acting for this account's default schedule group only, as the
        # exporter's scheduler role (confused deputy: aws:SourceAccount and aws:SourceArn).
        scheduler_role = aws.iam.Role(
            f"{name}-import-scheduler",
            assume_role_policy=pulumi.Output.all(identity.account_id, region).apply(
                lambda v: json.dumps(
                    scheduler_trust_policy(
                        AwsScope(partition=spec.partition, region=v[1], account_id=v[0]),
                        f"arn:{spec.partition}:scheduler:{v[1]}:{v[0]}:schedule-group/default",
                    )
                )
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-import-scheduler-policy",
            role=scheduler_role.id,
            policy=self.state_machine.arn.apply(
                lambda arn: json.dumps(
                    document(allow("StartImports", ["states:StartExecution"], [arn]))
                )
            ),
            opts=child,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-import-schedule",
            schedule_expression=schedule_expression,
            schedule_expression_timezone=schedule_timezone,
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": self.state_machine.arn,
                "role_arn": scheduler_role.arn,
                "input": json.dumps({"scheduledTime": "<aws.scheduler.scheduled-time>"}),
            },
            opts=child,
        )
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-{alarm.role}",
                namespace=alarm.namespace,
                metric_name=alarm.metric_name,
                statistic=alarm.statistic,
                period=alarm.period_seconds,
                evaluation_periods=alarm.evaluation_periods,
                comparison_operator=alarm.comparison,
                threshold=alarm.threshold,
                treat_missing_data=alarm.treat_missing_data,
                alarm_description=alarm.description,
                dimensions={"StateMachineArn": self.state_machine.arn},
                alarm_actions=list(alarm_actions or []),
                opts=child,
            )
            for alarm in importer_alarm_specs(window_hours=alarm_window_hours)
        ]
        self.state_machine_arn = self.state_machine.arn
        self.state_machine_name = self.state_machine.name
        self.parameter_name = self.parameter.name
        self.role_arn = self.role.arn
        self.schedule_arn = self.schedule.arn
        self.register_outputs(
            {
                "stateMachineArn": self.state_machine_arn,
                "stateMachineName": self.state_machine_name,
                "parameterName": self.parameter_name,
                "roleArn": self.role_arn,
                "scheduleArn": self.schedule_arn,
            }
        )
