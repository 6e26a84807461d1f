"""Fixtures for running the generated state machines in the local emulator (moto plus
the fidelity patches in ``emulator``), with virtual time so long exports run instantly."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import pytest
from moto import mock_aws
from moto.core.config import DefaultConfig

import emulator
from emulator import authorization, clock, export_model, harness, map_fidelity, sfn_fidelity

from .support import BUCKET, DeployExporter

# moto logs every failed task and caught exception as a warning; the tests assert on
# what happened instead.
logging.getLogger("moto").setLevel(logging.CRITICAL)


@pytest.fixture(autouse=True)
def prompt_child_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto looks at a ``.sync`` child execution every half second of real time; the
    clock is virtual, so a parent may look as often as it likes."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )

    monkeypatch.setattr(callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", 0.02)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """A fresh in-process AWS with the exporter's emulator installed and reset, and
    authorisation on: machines act as their roles, which hold the policies the harness
    registers (``harness.ROLE_ARN``, for probes of the emulator itself, may do anything)."""
    with mock_aws(config=cast(DefaultConfig, emulator.MOTO_CONFIG)):
        emulator.install()
        export_model.MODEL.reset()
        sfn_fidelity.FAULTS.reset()
        map_fidelity.reset()
        clock.reset()
        authorization.REGISTRY.reset()
        authorization.REGISTRY.enabled = True
        authorization.REGISTRY.put_role_policy(harness.ROLE_ARN, harness.ALL_PERMISSIONS)
        yield harness.clients()
    export_model.MODEL.reset()
    sfn_fidelity.FAULTS.reset()
    clock.reset()
    authorization.REGISTRY.reset()


@pytest.fixture
def deploy_exporter(aws: dict[str, Any]) -> DeployExporter:
    """Creates the bucket and tables a test describes, then deploys both machines.

    ``tables`` maps each configured table to its rows; tables named in ``missing`` are
    configured but never created, those in ``without_pitr`` are created with
    point-in-time recovery off. With ``create_bucket=False`` the bucket never exists.
    Calling it again (with another ``name``) reuses what already exists.
    """

    def deploy(
        tables: Mapping[str, Iterable[dict[str, Any]]],
        *,
        bucket: str = BUCKET,
        create_bucket: bool = True,
        without_pitr: Iterable[str] = (),
        missing: Iterable[str] = (),
        **deploy_args: Any,
    ) -> harness.Exporter:
        no_pitr, absent = set(without_pitr), set(missing)
        existing_buckets = {b["Name"] for b in aws["s3"].list_buckets().get("Buckets", [])}
        if create_bucket and bucket not in existing_buckets:
            harness.create_bucket(aws["s3"], bucket)
        existing_tables = set(aws["dynamodb"].list_tables()["TableNames"])
        for table, items in tables.items():
            if table in absent or table in existing_tables:
                continue
            harness.create_table(aws["dynamodb"], table, items, pitr=table not in no_pitr)
        return harness.deploy(
            aws["stepfunctions"], bucket=bucket, tables=list(tables), **deploy_args
        )

    return deploy
