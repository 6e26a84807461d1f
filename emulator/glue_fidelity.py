"""Glue's table versions as AWS keeps them.

- ``UpdateTable`` archives the table's current version before changing it, unless
  ``SkipArchive`` is true, in which case the table is changed in place and no version
  is added ("UpdateTable" in the AWS Glue API reference). moto archives on every call.
- A table keeps at most ``VERSIONS_PER_TABLE`` versions ("AWS Glue endpoints and
  quotas": 100,000 table versions per table); one more archive fails with
  ``ResourceNumberLimitExceededException``. The limit is a module attribute so a test
  can lower it.
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
