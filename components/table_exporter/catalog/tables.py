"""What the table export machine writes to the Glue Data Catalog and Athena: JSONata
expressions and SQL, as plain text (the states that use them are in
``table_export_machine.py``).

After an export has COMPLETED, and only then, the machine upserts two Glue tables over
that export's ``data/`` folder:

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


def json_storage(columns: list[dict[str, str]], location: str) -> dict[str, Any]:
    """A Glue ``StorageDescriptor`` for gzipped JSON lines read by the OpenX SerDe, as
    every JSON table here is (the exports' tables and the change histories)."""
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": INPUT_FORMAT,
        "OutputFormat": OUTPUT_FORMAT,
        "SerdeInfo": {
            "SerializationLibrary": SERDE,
            "Parameters": {"ignore.malformed.json": "true"},
        },
    }


INPUT = "$states.context.Execution.Input"
"""JSONata: the table export execution's input."""

LATEST_RAW_SUFFIX = "_latest_raw"
"""``<table>_latest_raw``: the newest completed full export's (or baseline's) items."""
CHANGES_SUFFIX = "_changes"
"""``<table>_changes``: the incremental windows of the current chain."""

SKIP_ARCHIVE_REASON = (
    "SkipArchive: without it every UpdateTable archives a table version, and Glue's quota "
    "(100,000 per table, 1,000,000 per account) would stop repointing within months."
)


# Key attributes of the table, as struct members; names Hive cannot take stay in _raw.
_KEY_MEMBERS = """(
  $defs := $states.result.Table.AttributeDefinitions;
  [$states.result.Table.KeySchema[$match(AttributeName, /^[A-Za-z0-9_]+$/)].(
    $name := AttributeName;
    $type := $defs[AttributeName = $name].AttributeType;
    $lowercase($name) & ':struct<' & ($type = 'N' ? 'n' : $type = 'B' ? 'b' : 's') & ':string>'
  )]
)"""

GLUE_NAME = (
    f"$lowercase($replace($substringAfter({INPUT}.tableArn, ':table/'), /[^A-Za-z0-9_]/, '_'))"
)

_LOCATION = (
    "'s3://' & $export.S3Bucket & '/' & $export.S3Prefix & '/AWSDynamoDB/' & "
    "$substringAfter($export.ExportArn, '/export/') & '/data/'"
)


def _table_input(suffix: str, item_type: str) -> str:
    return (
        "{"
        f"'Name': {GLUE_NAME} & '{suffix}',"
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


_DECLARED = f"{INPUT}.columns ? {INPUT}.columns : []"

LATEST_INPUT = _table_input(
    "_latest",
    f"( $keys := {_KEY_MEMBERS};"
    " $names := $map($keys, function($m) { $substringBefore($m, ':') });"
    f" $extra := $filter({_DECLARED}, function($m) {{ $not($substringBefore($m, ':') in $names) }});"
    " 'struct<' & $join($append($keys, $extra), ',') & '>' )",
)
"""TableInput of ``<table>_latest``, evaluated on DescribeTable's result."""
RAW_INPUT = _table_input(LATEST_RAW_SUFFIX, "'map<string,string>'")
"""TableInput of ``<table>_latest_raw``."""


CHAIN_STAMP = "'[Y0001]-[M01]-[D01]-[H01]-[m01]'"
"""Picture of a chain's folder name: its baseline's time, sortable."""
DAY_STAMP = "'[Y0001]-[M01]-[D01]'"
"""Picture of a window's day folder: the day its window starts (UTC)."""
QUERY_NAME_LIMIT = 128
"""Athena's limit on a named query's ``Name``."""
_QUERY_SUFFIX = "_current_state"


def window_prefix(prefix: str, baseline: str, window_start: str) -> str:
    """JSONata: the S3Prefix of an incremental window.

    ``<prefix>/incremental/<baseline stamp>/<window day>``: DynamoDB writes each window's
    manifests under ``AWSDynamoDB/<ExportId>/`` and its data files into the shared
    ``AWSDynamoDB/data/`` folder of that prefix ("DynamoDB table export output format"),
    so one day's windows share one data folder that holds nothing but data files: the
    ``<table>_changes`` partition for that day. A new baseline starts a new chain folder.
    """
    return (
        f"{prefix} & '/incremental/' & $fromMillis($toMillis({baseline}), {CHAIN_STAMP})"
        f" & '/' & $fromMillis($toMillis({window_start}), {DAY_STAMP})"
    )


_CHAIN = f"$fromMillis($toMillis($pending.to), {CHAIN_STAMP})"
_CHAIN_BASE = (
    f"'s3://' & $export.S3Bucket & '/' & {INPUT}.prefix & '/incremental/' & {_CHAIN} & '/'"
)

# Incremental records keep every attribute as typed JSON text (map<string,string>): the
# current-state query compares keys without knowing their names. One partition per day
# of windows, projected from the baseline's day: about 365 partitions a year.
CHANGES_INPUT = f"""{{
  'Name': {GLUE_NAME} & '{CHANGES_SUFFIX}',
  'TableType': 'EXTERNAL_TABLE',
  'PartitionKeys': [{{'Name': 'window_day', 'Type': 'string'}}],
  'Parameters': {{
    'classification': 'json', 'compressionType': 'gzip',
    'baselineExportArn': $export.ExportArn, 'baselineTime': $pending.to,
    'projection.enabled': 'true',
    'projection.window_day.type': 'date',
    'projection.window_day.format': 'yyyy-MM-dd',
    'projection.window_day.range': $fromMillis($toMillis($pending.to), {DAY_STAMP}) & ',NOW',
    'projection.window_day.interval': '1',
    'projection.window_day.interval.unit': 'DAYS',
    'storage.location.template': {_CHAIN_BASE} & '${{window_day}}/AWSDynamoDB/data/'
  }},
  'StorageDescriptor': {{
    'Columns': [
      {{'Name': 'metadata', 'Type': 'struct<writetimestampmicros:struct<n:string>>'}},
      {{'Name': 'keys', 'Type': 'map<string,string>'}},
      {{'Name': 'newimage', 'Type': 'map<string,string>'}},
      {{'Name': 'oldimage', 'Type': 'map<string,string>'}}
    ],
    'Location': {_CHAIN_BASE},
    'InputFormat': '{INPUT_FORMAT}', 'OutputFormat': '{OUTPUT_FORMAT}',
    'SerdeInfo': {{'SerializationLibrary': '{SERDE}', 'Parameters': {{'ignore.malformed.json': 'true'}}}}
  }}
}}"""


def current_state_sql(database: str, glue_name: str) -> str:
    """Athena SQL: the table's items now, from the baseline and the windows after it.

    Latest record per key in ``<table>_changes`` (which covers the current chain only),
    deletes dropped, over the baseline's items no window touched. Glue names are
    ``[a-z0-9_]``, so no identifier needs quoting. The text does not change between
    baselines, so one saved query per table stays right.
    """
    changes = f"{database}.{glue_name}{CHANGES_SUFFIX}"
    baseline = f"{database}.{glue_name}{LATEST_RAW_SUFFIX}"
    return (
        "WITH changes AS (SELECT keys, newimage, "
        f"CAST(metadata.writetimestampmicros.n AS BIGINT) AS written FROM {changes} "
        "WHERE keys IS NOT NULL), "
        "ranked AS (SELECT keys, newimage, row_number() OVER "
        "(PARTITION BY keys ORDER BY written DESC) AS rank FROM changes) "
        "SELECT newimage AS item FROM ranked WHERE rank = 1 AND newimage IS NOT NULL "
        f"UNION ALL SELECT b.item FROM {baseline} AS b "
        "WHERE NOT EXISTS (SELECT 1 FROM ranked AS r WHERE "
        "map_filter(b.item, (k, v) -> contains(map_keys(r.keys), k)) = r.keys)"
    )


_KEEP = QUERY_NAME_LIMIT - len(_QUERY_SUFFIX)
# Long names keep a hash of the whole name, so two long names cannot collide.
QUERY_NAME = (
    f"( $n := {GLUE_NAME}; ($length($n) <= {_KEEP} ? $n : "
    f"$substring($n, 0, {_KEEP - 9}) & '_' & $substring($hash($n, 'SHA-256'), 0, 8))"
    f" & '{_QUERY_SUFFIX}' )"
)
"""JSONata: the table's saved query name, within Athena's 128 characters."""


def current_state_query(database: str) -> str:
    """JSONata: ``current_state_sql`` for the execution's table."""
    return f"$replace('{current_state_sql(database, '@')}', '@', {GLUE_NAME})"
