"""What the current-table states act on, and what Athena does as the caller to run
their statements ("Identity-based policies for Athena", "Access to Amazon S3" and
"Use Apache Iceberg tables: permissions" in the Athena user guide): read the database
and the source tables, create and commit ``<table>_current``, read the exports'
objects (listing their prefixes), write the Iceberg table's files in the current
tables' bucket (``<table prefix>/``) and the query results under ``athena-results/``.
Glue's optimizers act as the optimizer role, which is passed to Glue only.

The states run in the table export machine, so these resources read that role's
description, through the attributes ``CurrentTablesRole`` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from table_exporter.current.sql import CURRENT_SUFFIX, SOURCE_SUFFIXES
from table_exporter.kernel.grants import Resource, optional
from table_exporter.kernel.policies import object_resources, workgroup_arns
from table_exporter.kernel.targets import ATHENA_RESULTS_PREFIX, AwsScope


class CurrentTablesRole(Protocol):
    @property
    def scope(self) -> AwsScope: ...
    @property
    def bucket(self) -> str: ...
    @property
    def prefixes(self) -> list[str]: ...
    @property
    def catalog_database(self) -> str | None: ...
    @property
    def athena_workgroup(self) -> str | None: ...
    @property
    def current_bucket(self) -> str | None: ...
    @property
    def current_optimizer_role_arn(self) -> str | None: ...


def _glue(role: CurrentTablesRole, *tables: str) -> Sequence[str]:
    """The catalog, the database and ``table/<database>/*<suffix>`` per suffix."""
    database = role.catalog_database
    if not database:
        return []
    return [
        role.scope.arn("glue", "catalog"),
        role.scope.arn("glue", f"database/{database}"),
        *(role.scope.arn("glue", f"table/{database}/*{suffix}") for suffix in tables),
    ]


def _bucket(role: CurrentTablesRole) -> str:
    return f"arn:{role.scope.partition}:s3:::{role.bucket}"


QUERIES: Resource[CurrentTablesRole] = Resource(
    "RunCurrentTableQueries", lambda role: workgroup_arns(role.scope, role.athena_workgroup)
)

DATABASE: Resource[CurrentTablesRole] = Resource("ReadCurrentTableDatabase", _glue)

SOURCE_TABLES: Resource[CurrentTablesRole] = Resource(
    "ReadCurrentTableSources", lambda role: _glue(role, *SOURCE_SUFFIXES)
)

COMMITS: Resource[CurrentTablesRole] = Resource(
    "CommitCurrentTables", lambda role: _glue(role, CURRENT_SUFFIX)
)

OPTIMIZERS: Resource[CurrentTablesRole] = Resource(
    "OptimizeCurrentTables", lambda role: _glue(role, CURRENT_SUFFIX)
)

EXPORT_READS: Resource[CurrentTablesRole] = Resource(
    "ReadExportsIntoCurrentTables",
    lambda role: object_resources(role.bucket, role.prefixes, role.scope.partition),
)

EXPORT_LISTING: Resource[CurrentTablesRole] = Resource(
    "ListExportsIntoCurrentTables",
    lambda role: [_bucket(role)],
    lambda role: {"StringLike": {"s3:prefix": [f"{p}/*" for p in role.prefixes]}},
)

RESULTS_BUCKET: Resource[CurrentTablesRole] = Resource(
    "LocateQueryResults", lambda role: [_bucket(role)]
)

TABLE_OBJECTS: Resource[CurrentTablesRole] = Resource(
    "ReadAndWriteCurrentTables",
    lambda role: (
        object_resources(role.current_bucket, role.prefixes, role.scope.partition)
        if role.current_bucket
        else []
    ),
)
"""The Iceberg tables' files, each table under its table prefix in the current bucket."""

QUERY_RESULTS: Resource[CurrentTablesRole] = Resource(
    "WriteQueryResults", lambda role: [f"{_bucket(role)}/{ATHENA_RESULTS_PREFIX}/*"]
)

OPTIMIZER_ROLE: Resource[CurrentTablesRole] = Resource(
    "PassOptimizerRoleToGlue",
    lambda role: optional(role.current_optimizer_role_arn),
    lambda _role: {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
)
