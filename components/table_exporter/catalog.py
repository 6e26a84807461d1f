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
    *, database: str, partition: str, retry: list[dict[str, Any]], next_state: str
) -> dict[str, dict[str, Any]]:
    """States from ``ReadKeySchema`` to ``next_state``; errors go to ``ExportRejected``."""
    sdk = f"arn:{partition}:states:::aws-sdk:"
    reject = [
        {
            "ErrorEquals": ["States.ALL"],
            "Output": _j("$states.errorOutput"),
            "Next": "ExportRejected",
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
        "ReadKeySchema": {
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
            "Next": "PublishLatest",
        },
        **upsert("PublishLatest", "$latestInput", "CreateLatest", "PublishLatestRaw"),
        **upsert("PublishLatestRaw", "$rawInput", "CreateLatestRaw", next_state),
    }
