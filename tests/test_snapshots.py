"""What the package deploys stays what it was, unless a change says otherwise.

``tests/snapshots/`` holds every rendered definition, and every resource with its
inputs (policies included) for the program's stacks and for a configuration with every
switch on; ``make snapshots`` regenerates them. A change meant to keep behaviour (moving
code, a new fragment) must leave them identical; a change that alters one on purpose
regenerates them, and the diff of the snapshot files lists each intended change.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from scripts import snapshot

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


@pytest.mark.parametrize("name", sorted(snapshot.RENDERINGS))
def test_the_rendering_is_the_saved_one(name: str) -> None:
    saved = (SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8")
    now = snapshot.render(name)
    if now != saved:
        diff = "".join(
            list(difflib.unified_diff(saved.splitlines(True), now.splitlines(True), n=1))[:80]
        )
        pytest.fail(f"{name} changed (run `make snapshots` if intended):\n{diff}")
