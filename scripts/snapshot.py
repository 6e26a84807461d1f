"""Renders what the package deploys for fixed configurations, to compare before and after
a change that must not alter behaviour (``tests/test_snapshots.py``).

``make snapshots`` rewrites ``tests/snapshots/``; a change that alters a rendering on
purpose regenerates them in the same commit, so the diff lists every intended change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "snapshots"
KEY = "arn:aws:kms:ap-northeast-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _resources(mocks: Any) -> list[dict[str, Any]]:
    return sorted(
        (
            {"type": r.typ, "name": r.name, "inputs": json.loads(json.dumps(r.inputs, default=str))}
            for r in mocks.resources
        ),
        key=lambda r: (r["type"], r["name"]),
    )


def definitions() -> dict[str, Any]:
    """Every machine definition variant the definition tests render (the 1,000-table
    run aside: its size says nothing the 5-table one does not)."""
    from tests.test_definition import VARIANTS

    return {name: d for name, d in VARIANTS.items() if name != "run-1000-tables"}


def stacks() -> dict[str, Any]:
    """Every resource the program registers for ``dev`` and ``prd``."""
    from emulator.stack import capture_stack

    return {stack: _resources(capture_stack(stack).mocks) for stack in ("dev", "prd")}


def combined() -> dict[str, Any]:
    """The exporter with every switch on, a bucket and key in another account, and an
    importer: every resource and the destination account's policies."""
    import pulumi
    from table_exporter import TableExporter
    from table_exporter.importer.args import ImporterSpec, KeyAttribute
    from table_exporter.importer.component import TableImporter

    from tests.test_history import TableMocks

    mocks = TableMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    found: dict[str, Any] = {}

    @pulumi.runtime.test
    def build() -> Any:
        exporter = TableExporter(
            "nightly",
            {
                "tables": [
                    {"table": "orders", "change_history": True},
                    {
                        "table": "customers",
                        "export_type": "INCREMENTAL_EXPORT",
                        "current_table": True,
                    },
                ],
                "restore_drill_enabled": True,
                "bucket_name": "partner-exports",
                "bucket_owner": "210987654321",
                "sse_algorithm": "KMS",
                "kms_key_arn": KEY,
                "alarm_emails": ["oncall@example.com"],
            },
        )
        importer = TableImporter(
            "copies",
            ImporterSpec(
                source_bucket="partner-exports",
                source_prefix="dynamodb-exports/orders",
                table_prefix="orders-copy-",
                parameter_name="/copies/orders/current",
                partition_key=KeyAttribute("pk"),
            ),
            kms_key_arn=KEY,
        )
        return pulumi.Output.all(
            exporter.run_state_machine_arn,
            importer.state_machine.arn,
            exporter.destination_account_policies(importer_role_arn=importer.role.arn),
        ).apply(lambda v: found.update(destination=v[2]))

    build()
    return {"resources": _resources(mocks), **found}


RENDERINGS = {"definitions": definitions, "stacks": stacks, "combined": combined}


def render(name: str) -> str:
    return json.dumps(RENDERINGS[name](), indent=1, sort_keys=True) + "\n"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    SNAPSHOTS.mkdir(exist_ok=True)
    for name in RENDERINGS:
        (SNAPSHOTS / f"{name}.json").write_text(render(name), encoding="utf-8")
        print(f"wrote tests/snapshots/{name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
