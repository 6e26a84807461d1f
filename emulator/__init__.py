"""A local AWS for running the exporter's state machines: moto plus the fidelity it lacks.

moto interprets Amazon States Language but, out of the box, cannot evaluate JSONata,
sleeps for real in Wait states and retries, hands datetimes (not ISO strings) to
aws-sdk tasks, skips parameter validation, and models DynamoDB exports as instant and
infallible. ``install()`` closes those gaps without changing what a definition says:

- ``protocols``: botocore keeps speaking a service's documented JSON protocol where a
  newer model moved it to one moto does not answer (Athena), and ``check`` says in one
  line when botocore and moto disagree anyway;

- ``jsonata_engine``: JSONata evaluation, including Step Functions' ``$hash``,
  ``$uuid`` and ``$parse``;
- ``sfn_fidelity``: AWS-shaped aws-sdk and ``states:startExecution`` calls and error
  names, and injected faults;
- ``glue_fidelity``: table versions archived unless ``SkipArchive``; table optimizers;
- ``athena_sql``: Athena runs the SQL it is given (sqlglot to DuckDB) over Glue tables
  and moto's S3, Iceberg tables included, also from Step Functions' Athena integration;
- ``clock``: virtual time for Wait states, retry back-off, ``$millis()`` and ``$now()``;
- ``change_log``: every table write stamped with virtual time, and point-in-time
  recovery windows, so exports can be "as of" a time or incremental;
- ``export_model``: DynamoDB exports (full, at a time, incremental) that take time,
  honour ``ClientToken``, can be throttled or end ``FAILED``, and write AWS's S3 layout;
- ``replay``: rebuilds a table from a full export and the incremental ones after it;
- ``map_fidelity``: Distributed Map runs as AWS documents them (tolerated failures,
  ResultWriter files, DescribeMapRun counts, MaxConcurrency in virtual time);
- ``authorization``, ``iam_requests``, ``authz_hooks``: every call a machine or the
  change-history path makes is allowed or denied as IAM would, from the registered
  policies (``authorization.REGISTRY``; on when ``REGISTRY.enabled``).
"""

from __future__ import annotations

from . import (
    athena_sql,
    authorization,
    authz_hooks,
    change_log,
    clock,
    export_model,
    glue_fidelity,
    jsonata_engine,
    protocols,
    sfn_fidelity,
)
from .map_fidelity import install as install_map_fidelity

_installed = False


def install() -> None:
    """Apply every patch once per process (idempotent)."""
    global _installed
    if _installed:
        return
    protocols.install()
    jsonata_engine.install()
    sfn_fidelity.install()
    glue_fidelity.install()
    athena_sql.install()
    clock.install()
    change_log.install()
    export_model.install()
    __import__("emulator.import_model").import_model.install()
    install_map_fidelity()
    authz_hooks.install()  # after map_fidelity: wraps its ResultWriter
    sfn_fidelity.cache_parsed_definitions()  # last: caches the patched parser
    _installed = True


MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
"""Config for ``moto.mock_aws`` (in-process) that makes it run executions."""

__all__ = ["MOTO_CONFIG", "authorization", "change_log", "clock", "export_model", "install"]
