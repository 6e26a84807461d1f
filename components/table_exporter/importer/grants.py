"""What the importer's states act on: the tables it creates under its prefix, their
imports, the parameter it publishes, and the exports it reads (whose statements are
the ones ``destination/account_policies.py`` writes for a bucket policy too)."""

from __future__ import annotations

from dataclasses import dataclass

from table_exporter.destination.account_policies import ExportReader
from table_exporter.kernel.grants import Resource


@dataclass(frozen=True, kw_only=True)
class ImporterRole(ExportReader):
    """The importer's role reads the exports (``ExportReader``) and owns its tables."""

    partition: str
    region: str
    account_id: str
    table_prefix: str
    parameter_name: str

    @property
    def tables(self) -> str:
        return (
            f"arn:{self.partition}:dynamodb:{self.region}:{self.account_id}"
            f":table/{self.table_prefix}*"
        )


TABLES: Resource[ImporterRole] = Resource("Tables", lambda role: [role.tables])
"""Only tables named ``<table_prefix>...``: created by import, described, deleted."""

IMPORTS: Resource[ImporterRole] = Resource("Imports", lambda role: [f"{role.tables}/import/*"])

PARAMETER: Resource[ImporterRole] = Resource(
    "Parameter",
    lambda role: [
        f"arn:{role.partition}:ssm:{role.region}:{role.account_id}:parameter{role.parameter_name}"
    ],
)
