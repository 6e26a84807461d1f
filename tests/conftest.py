"""Checks that run once, before any test, in the process that runs the session."""

from __future__ import annotations

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    """One clear line, instead of a 404 deep in a test, when botocore and moto disagree."""
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checked
        return
    from emulator import protocols

    try:
        protocols.check_in_process()
    except protocols.ProtocolMismatch as err:
        raise pytest.UsageError(str(err)) from None
