"""States that point Athena at a table's newest completed export (Glue Data Catalog).

After an export has COMPLETED, and only then, the table export machine upserts two
Glue tables over that export's ``data/`` folder:

``<table>_latest``
    ``item`` typed as a struct of the table's key attributes (read from DescribeTable)
    and the attributes the settings declare (``schema.py`` builds their members), so
    Athena sees typed columns;
``<table>_latest_raw``
    ``item`` as ``map<string,string>``: every attribute, typed JSON text included.

"Upsert" is UpdateTable, falling back to CreateTable when the table does not exist
yet: no crawler, no Lambda, and a query never reads a half-written export because the
location moves only once the export is complete. A failed export never gets here.
"""

from __future__ import annotations

from typing import Any

INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
SERDE = "org.openx.data.jsonserde.JsonSerDe"

_INPUT = "$states.context.Execution.Input"


def _j(expression: str) -> str:
    return "{% " + " ".join(expression.split()) + " %}"


# Key attributes of the table, as struct members; names Hive cannot take stay in _raw.
_KEY_MEMBERS = """(
  $defs := $states.result.Table.AttributeDefinitions;
  [$states.result.Table.KeySchema[$match(AttributeName, /^[A-Za-z0-9_]+$/)].(
    $name := AttributeName;
    $type := $defs[AttributeName = $name].AttributeType;
    $lowercase($name) & ':struct<' & ($type = 'N' ? 'n' : $type = 'B' ? 'b' : 's') & ':string>'
  )]
)"""

_GLUE_NAME = (
    f"$lowercase($replace($substringAfter({_INPUT}.tableArn, ':table/'), /[^A-Za-z0-9_]/, '_'))"
)

_LOCATION = (
    "'s3://' & $export.S3Bucket & '/' & $export.S3Prefix & '/AWSDynamoDB/' & "
    "$substringAfter($export.ExportArn, '/export/') & '/data/'"
)


def _table_input(suffix: str, item_type: str) -> str:
    return (
        "{"
        f"'Name': {_GLUE_NAME} & '{suffix}',"
        "'TableType': 'EXTERNAL_TABLE',"
        "'Parameters': {'classification': 'json', 'compressionType': 'gzip',"
        " 'exportArn': $export.ExportArn, 'sourceTableArn': $export.TableArn},"
        "'StorageDescriptor': {"
        f"'Columns': [{{'Name': 'item', 'Type': {item_type}}}],"
        f"'Location': {_LOCATION},"
        f"'InputFormat': '{INPUT_FORMAT}', 'OutputFormat': '{OUTPUT_FORMAT}',"
        f"'SerdeInfo': {{'SerializationLibrary': '{SERDE}',"
        " 'Parameters': {'ignore.malformed.json': 'true'}}"
        "}}"
    )


def catalog_states(
    *,
    database: str,
    partition: str,
    retry: list[dict[str, Any]],
    next_state: str,
    prefix: str = "",
    reject_to: str = "ExportRejected",
) -> dict[str, dict[str, Any]]:
    """States from ``<prefix>ReadKeySchema`` to ``next_state``; errors go to ``reject_to``."""
    sdk = f"arn:{partition}:states:::aws-sdk:"
    reject = [
        {
            "ErrorEquals": ["States.ALL"],
            "Output": _j("$states.errorOutput"),
            "Next": reject_to,
        }
    ]

    def upsert(state: str, variable: str, create: str, after: str) -> dict[str, dict[str, Any]]:
        arguments = {"DatabaseName": database, "TableInput": _j(variable)}
        return {
            state: {
                "Type": "Task",
                "Resource": sdk + "glue:updateTable",
                "Arguments": arguments,
                "Output": {},
                "Retry": retry,
                "Catch": [
                    # The service prefix's spelling differs between references; match both.
                    {
                        "ErrorEquals": [
                            "Glue.EntityNotFoundException",
                            "glue.EntityNotFoundException",
                        ],
                        "Next": create,
                    },
                    *reject,
                ],
                "Next": after,
            },
            create: {
                "Type": "Task",
                "Resource": sdk + "glue:createTable",
                "Arguments": arguments,
                "Output": {},
                "Retry": retry,
                "Catch": reject,
                "Next": after,
            },
        }

    declared = f"{_INPUT}.columns ? {_INPUT}.columns : []"
    return {
        f"{prefix}ReadKeySchema": {
            "Type": "Task",
            "Comment": "The export has COMPLETED: only now may Athena's tables move to it.",
            "Resource": sdk + "dynamodb:describeTable",
            "Arguments": {"TableName": _j(f"{_INPUT}.tableArn")},
            "Assign": {
                "latestInput": _j(
                    _table_input(
                        "_latest",
                        f"( $keys := {_KEY_MEMBERS};"
                        " $names := $map($keys, function($m) { $substringBefore($m, ':') });"
                        f" $extra := $filter({declared}, function($m) {{ $not($substringBefore($m, ':') in $names) }});"
                        " 'struct<' & $join($append($keys, $extra), ',') & '>' )",
                    )
                ),
                "rawInput": _j(_table_input("_latest_raw", "'map<string,string>'")),
            },
            "Output": {},
            "Retry": retry,
            "Catch": reject,
            "Next": f"{prefix}PublishLatest",
        },
        **upsert(
            f"{prefix}PublishLatest",
            "$latestInput",
            f"{prefix}CreateLatest",
            f"{prefix}PublishLatestRaw",
        ),
        **upsert(f"{prefix}PublishLatestRaw", "$rawInput", f"{prefix}CreateLatestRaw", next_state),
    }


_STAMP = "'[Y0001]-[M01]-[D01]-[H01]-[m01]'"
_BASE = f"'s3://' & $export.S3Bucket & '/' & {_INPUT}.prefix & '/incremental/'"

# Incremental records keep every attribute as typed JSON text (map<string,string>): the
# current-state query compares keys without knowing their names.
_CHANGES_INPUT = f"""{{
  'Name': {_GLUE_NAME} & '_changes',
  'TableType': 'EXTERNAL_TABLE',
  'PartitionKeys': [{{'Name': 'window_start', 'Type': 'string'}}],
  'Parameters': {{
    'classification': 'json', 'compressionType': 'gzip',
    'projection.enabled': 'true',
    'projection.window_start.type': 'date',
    'projection.window_start.format': 'yyyy-MM-dd-HH-mm',
    'projection.window_start.range': $fromMillis($toMillis($pending.to), {_STAMP}) & ',NOW',
    'projection.window_start.interval': '1',
    'projection.window_start.interval.unit': 'MINUTES',
    'storage.location.template': {_BASE} & '${{window_start}}/'
  }},
  'StorageDescriptor': {{
    'Columns': [
      {{'Name': 'metadata', 'Type': 'struct<writetimestampmicros:struct<n:string>>'}},
      {{'Name': 'keys', 'Type': 'map<string,string>'}},
      {{'Name': 'newimage', 'Type': 'map<string,string>'}},
      {{'Name': 'oldimage', 'Type': 'map<string,string>'}}
    ],
    'Location': {_BASE},
    'InputFormat': '{INPUT_FORMAT}', 'OutputFormat': '{OUTPUT_FORMAT}',
    'SerdeInfo': {{'SerializationLibrary': '{SERDE}', 'Parameters': {{'ignore.malformed.json': 'true'}}}}
  }}
}}"""

# Latest write per key since the current baseline, deletes removed, over the baseline's
# items that no later write touched. Manifest files under the window prefixes parse as
# rows without keys and are skipped. Glue names are [a-z0-9_], so no identifier quoting.
_CURRENT_STATE_SQL = """(
  'WITH changes AS (SELECT keys, newimage, '
  & 'CAST(metadata.writetimestampmicros.n AS BIGINT) AS written FROM '
  & $db & '.' & $name & '_changes WHERE keys IS NOT NULL AND window_start >= '
  & "'" & $stamp & "'" & '), '
  & 'ranked AS (SELECT keys, newimage, row_number() OVER '
  & '(PARTITION BY keys ORDER BY written DESC) AS rank FROM changes) '
  & 'SELECT newimage AS item FROM ranked WHERE rank = 1 AND newimage IS NOT NULL '
  & 'UNION ALL SELECT b.item FROM ' & $db & '.' & $name & '_latest_raw AS b '
  & 'WHERE NOT EXISTS (SELECT 1 FROM ranked AS r WHERE '
  & 'map_filter(b.item, (k, v) -> contains(map_keys(r.keys), k)) = r.keys)'
)"""


def changes_states(
    *,
    database: str,
    workgroup: str,
    partition: str,
    retry: list[dict[str, Any]],
    next_state: str,
    reject_to: str,
) -> dict[str, dict[str, Any]]:
    """After a *baseline* of an incremental chain has COMPLETED: repoint the latest
    tables to it, (re)create ``<table>_changes`` with partition projection over the
    window prefixes, and save the current-state query for this baseline."""
    sdk = f"arn:{partition}:states:::aws-sdk:"
    reject = [
        {"ErrorEquals": ["States.ALL"], "Output": _j("$states.errorOutput"), "Next": reject_to}
    ]
    changes = {"DatabaseName": database, "TableInput": _j(_CHANGES_INPUT)}
    not_found = ["Glue.EntityNotFoundException", "glue.EntityNotFoundException"]
    return {
        **catalog_states(
            database=database,
            partition=partition,
            retry=retry,
            next_state="PublishChanges",
            prefix="Baseline",
            reject_to=reject_to,
        ),
        "PublishChanges": {
            "Type": "Task",
            "Resource": sdk + "glue:updateTable",
            "Arguments": changes,
            "Output": {},
            "Retry": retry,
            "Catch": [{"ErrorEquals": not_found, "Next": "CreateChanges"}, *reject],
            "Next": "SaveCurrentStateQuery",
        },
        "CreateChanges": {
            "Type": "Task",
            "Resource": sdk + "glue:createTable",
            "Arguments": changes,
            "Output": {},
            "Retry": retry,
            "Catch": reject,
            "Next": "SaveCurrentStateQuery",
        },
        "SaveCurrentStateQuery": {
            "Type": "Task",
            "Comment": "One saved query per baseline: the token makes a repeat return the same one.",
            "Resource": sdk + "athena:createNamedQuery",
            "Arguments": {
                "Name": _j(f"{_GLUE_NAME} & '_current_state'"),
                "Description": _j(
                    f"'Current items of ' & $substringAfter({_INPUT}.tableArn, ':table/')"
                    " & ' since the baseline at ' & $pending.to"
                ),
                "Database": database,
                "WorkGroup": workgroup,
                "QueryString": _j(
                    f"( $db := '{database}'; $name := {_GLUE_NAME};"
                    f" $stamp := $fromMillis($toMillis($pending.to), {_STAMP});"
                    f" {_CURRENT_STATE_SQL} )"
                ),
                "ClientRequestToken": _j(
                    f"$hash({_INPUT}.tableArn & '|' & $pending.to, 'SHA-256')"
                ),
            },
            "Output": {},
            "Retry": retry,
            "Catch": reject,
            "Next": next_state,
        },
    }
