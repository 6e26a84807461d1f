"""State patterns more than one machine is built from (in the sense of a reusable
piece of a state machine): each adds its states to the caller's builder and returns
the states the caller links on from."""

from __future__ import annotations

from table_exporter.kernel.asl import Catch, Choice, Grant, StateBuilder, Task, Wait, jsonata
from table_exporter.kernel.polling import PollPolicy


def import_polling(
    builder: StateBuilder, *, grant_group: str, poll: PollPolicy, catch: list[Catch]
) -> tuple[Wait, Task, Choice]:
    """``WaitForImport`` ─▶ ``DescribeImport`` ─▶ ``ImportFinished`` for the import in
    ``$import`` (restore drills and the importer): ``$import`` follows the description,
    and the choice waits again until the caller's exits match."""
    return builder.polling_loop(
        ("WaitForImport", "DescribeImport", "ImportFinished"),
        action="describeImport",
        grants=(Grant(grant_group, ("dynamodb:DescribeImport",)),),
        arguments={"ImportArn": jsonata("$import.ImportArn")},
        described=("import", "ImportTableDescription"),
        next_wait=poll.jsonata_next_wait,
        catch=catch,
    )


IMPORT_ENDED = jsonata("$import.ImportStatus in ['COMPLETED', 'FAILED', 'CANCELLED']")
"""The import has ended, one way or another (``DescribeImport``'s final statuses)."""
