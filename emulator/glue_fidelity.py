"""Glue's table versions as AWS keeps them.

- ``UpdateTable`` archives the table's current version before changing it, unless
  ``SkipArchive`` is true, in which case the table is changed in place and no version
  is added ("UpdateTable" in the AWS Glue API reference). moto archives on every call.
- A table keeps at most ``VERSIONS_PER_TABLE`` versions ("AWS Glue endpoints and
  quotas": 100,000 table versions per table); one more archive fails with
  ``ResourceNumberLimitExceededException``. The limit is a module attribute so a test
  can lower it.
- Table optimizers, which moto lacks: a minimal model (below).
"""

from __future__ import annotations

from typing import Any

VERSIONS_PER_TABLE = 100_000


def install() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.glue import responses

    def update_table(self: Any) -> Any:
        database_name = self._get_param("DatabaseName")
        table_input = self._get_param("TableInput")
        table = self.glue_backend.get_table(database_name, table_input.get("Name"))
        if self._get_param("SkipArchive"):
            table.versions[str(table._current_version)] = table_input
            return responses.EmptyResult()
        if len(table.versions) >= VERSIONS_PER_TABLE:
            raise JsonRESTError(
                "ResourceNumberLimitExceededException",
                f"Number of table versions would exceed {VERSIONS_PER_TABLE}",
            )
        table.update(table_input)
        return responses.EmptyResult()

    responses.GlueResponse.update_table = update_table  # type: ignore[method-assign]
    install_table_optimizers()


# -- table optimizers ---------------------------------------------------------------------
#
# moto has no table optimizers. A minimal model of what the exporter calls, after the
# AWS Glue API reference ("CreateTableOptimizer", "GetTableOptimizer"): one optimizer per
# (catalog, database, table, type); creating one that exists fails with
# ``AlreadyExistsException``; a table Glue does not have fails with
# ``EntityNotFoundException``. Parameters are checked by botocore's model on the way
# in (the emulator's clients validate); what an optimizer then does (compaction,
# snapshot expiry, orphan file deletion) is not modelled.

_OPTIMIZERS = "_emulator_table_optimizers"


def table_optimizers(backend: Any) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """The optimizers of moto's Glue ``backend``: (catalog, database, table, type) ->
    ``TableOptimizerConfiguration`` as given."""
    found = getattr(backend, _OPTIMIZERS, None)
    if found is None:
        found = {}
        setattr(backend, _OPTIMIZERS, found)
    return found


def install_table_optimizers() -> None:
    import json

    from moto.core.exceptions import JsonRESTError
    from moto.glue import responses

    def _key(self: Any) -> tuple[str, str, str, str]:
        database, table = self._get_param("DatabaseName"), self._get_param("TableName")
        found = self.glue_backend.databases.get(database)
        if found is None or table not in found.tables:
            raise JsonRESTError(
                "EntityNotFoundException", f"Table {table} not found in database {database}."
            )
        catalog = self._get_param("CatalogId") or self.current_account
        return (catalog, database, table, self._get_param("Type"))

    def create_table_optimizer(self: Any) -> str:
        key = _key(self)
        optimizers = table_optimizers(self.glue_backend)
        if key in optimizers:
            raise JsonRESTError(
                "AlreadyExistsException", f"Table optimizer of type {key[3]} already exists."
            )
        optimizers[key] = dict(self._get_param("TableOptimizerConfiguration") or {})
        return "{}"

    def get_table_optimizer(self: Any) -> str:
        key = _key(self)
        found = table_optimizers(self.glue_backend).get(key)
        if found is None:
            raise JsonRESTError("EntityNotFoundException", f"No {key[3]} optimizer.")
        return json.dumps(
            {
                "CatalogId": key[0],
                "DatabaseName": key[1],
                "TableName": key[2],
                "TableOptimizer": {"type": key[3], "configuration": found},
            }
        )

    responses.GlueResponse.create_table_optimizer = create_table_optimizer  # type: ignore[attr-defined]
    responses.GlueResponse.get_table_optimizer = get_table_optimizer  # type: ignore[attr-defined]
