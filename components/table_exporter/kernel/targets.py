"""Plain descriptions of what to export, shared by the definition and policy builders."""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPORT_FORMATS = ("DYNAMODB_JSON", "ION")
"""``ExportTableToPointInTime``'s ``ExportFormat`` values."""
SSE_ALGORITHMS = ("AES256", "KMS")
"""``ExportTableToPointInTime``'s ``S3SseAlgorithm`` values."""
REPORT_PREFIX = "run-reports"
"""Where in the bucket every run's report goes; no table prefix may be under it."""
ATHENA_RESULTS_PREFIX = "athena-results"
"""Where the exporter's Athena workgroup writes query results, in the destination bucket."""

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_TABLE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"table/(?P<name>[A-Za-z0-9_.-]{3,255})$"
)


@dataclass(frozen=True)
class AwsScope:
    """Partition, region and account the exporter is deployed in."""

    partition: str
    region: str
    account_id: str

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"


@dataclass(frozen=True)
class ExportTarget:
    """One table to export and the S3 prefix its exports go under."""

    table_arn: str
    prefix: str
    mode: str = "full"
    """``full`` (a full export every run) or ``incremental`` (a watermark chain)."""
    columns: tuple[str, ...] = ()
    """Glue struct members for the declared attributes (``schema.glue_member``)."""
    current: bool = False
    """Keep ``<table>_current``, an Iceberg table equal to the table as of its last
    completed export (``current/``)."""

    @property
    def table_name(self) -> str:
        return self.table_arn.split(":table/", 1)[1]


def is_table_name(value: str) -> bool:
    return bool(_TABLE_NAME.match(value))


def table_arn(table: str, scope: AwsScope) -> str:
    """Resolve a table name (in the exporter's account and region) or validate an ARN.

    An ARN must name a table in the exporter's own region: DynamoDB exports a table
    from the region it lives in, and the state machine calls the API in its region.
    """
    match = _TABLE_ARN.match(table)
    if match:
        if match["region"] != scope.region or match["partition"] != scope.partition:
            raise ValueError(
                f"table {table!r}: must be in the exporter's region {scope.region} "
                f"(an export is started in the table's own region)"
            )
        return table
    if is_table_name(table):
        return scope.arn("dynamodb", f"table/{table}")
    raise ValueError(
        f"table {table!r}: expected a table name (3-255 of A-Z a-z 0-9 _ . -) "
        "or a DynamoDB table ARN"
    )


def normalise_prefix(prefix: str) -> str:
    """S3 key prefixes are kept without leading or trailing slashes."""
    cleaned = prefix.strip("/")
    if not cleaned or "//" in cleaned:
        raise ValueError(f"S3 prefix {prefix!r}: must be non-empty and contain no empty segment")
    return cleaned
