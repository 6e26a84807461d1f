"""Maps validated stack settings to the component's arguments (no validation here:
the settings models have applied the component's rules, with config-key-named
messages; the component applies them again, and they pass)."""

from __future__ import annotations

from typing import Any, cast

from table_exporter import TableExporterArgs

from program.settings import Settings


def exporter_args(
    settings: Settings, *, stack: str, region: str | None = None
) -> TableExporterArgs:
    """Every setting given or defaulted, as its argument (``config`` pairs them), and
    what the program adds: the ``stack`` tag, a catalog database named after the stack,
    and ``region``, the stack's ``aws:region`` (without it the component reads it)."""
    values = settings.component_arguments()
    args: dict[str, Any] = {key: value for key, value in values.items() if value is not None}
    args["tables"] = [
        {key: value for key, value in entry.items() if value is not None and value != {}}
        for entry in values["tables"]
    ]
    args["alarm_emails"] = list(values["alarm_emails"])
    args["tags"] = {"stack": stack, **values["tags"]}
    args.setdefault("catalog_database_name", f"dynamodb_exports_{stack}")
    if values["bucket_name"] is not None:
        # Lifecycle rules are for a bucket the component creates, never for a given one.
        args.pop("noncurrent_version_expiration_days")
    if region is not None:
        args["region"] = region
    return cast(TableExporterArgs, args)
