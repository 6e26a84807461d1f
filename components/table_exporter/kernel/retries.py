"""Which errors each aws-sdk task retries, and how: the one place that decides.

Step Functions names an aws-sdk task's errors ``<Service>.<Name>`` after the task's own
service, both in PascalCase, with ``Exception`` appended when the API's own name lacks
it ("Learning to use AWS service SDK integrations in Step Functions"). A Glue task can
therefore never raise ``DynamoDb.InternalServerErrorException``: every task retries the
transient errors of its own service, by that service's names.

An error is *transient* when the same request can succeed later without anyone acting:
the service had an internal fault, throttled the caller, timed out, or lost a race with
another writer. Everything else (missing table, PITR off, access denied, bad input,
quota of stored objects) is permanent and fails at once, with its name and cause.

``OPERATION_ERRORS`` lists, per operation, the transient errors botocore's service model
says it can raise; ``GENERIC_TRANSIENT`` are the errors every AWS API can return ("Common
Errors" in each service's API reference). ``tests/test_sdk_contract.py`` checks both
against botocore, so a task's Retry names only errors its operation can raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SERVICE_PREFIX = {
    "athena": "Athena",
    "cloudwatch": "CloudWatch",
    "dynamodb": "DynamoDb",
    "glue": "Glue",
    "pipes": "Pipes",
    "s3": "S3",
    "sfn": "Sfn",
    "ssm": "Ssm",
}
"""Step Functions' name for each service in its error names (the Resource's is lowercase)."""

TRANSIENT_REASONS = {
    "InternalServerError": "the service failed internally; the request itself was fine",
    "InternalServerException": "the service failed internally; the request itself was fine",
    "InternalServiceException": "the service failed internally; the request itself was fine",
    "InternalServiceFault": "the service failed internally; the request itself was fine",
    "InternalFailure": "the service failed internally; the request itself was fine",
    "InternalException": "the service failed internally; the request itself was fine",
    "ServiceUnavailable": "the service is briefly unavailable",
    "ThrottlingException": "the caller was throttled; the same request succeeds when slower",
    "RequestLimitExceeded": "the account's request rate was throttled",
    "ProvisionedThroughputExceededException": "the state table's capacity was briefly exceeded",
    "TransactionConflictException": "a concurrent transaction held the item",
    "OperationTimeoutException": "the operation timed out inside the service",
    "ConcurrentModificationException": "another writer changed the same object at the same time",
    "FederationSourceRetryableException": "the service reports the failure as retryable",
    "TooManyRequestsException": (
        "Athena's quota of queries running at once (DML counted apart from DDL) is full; "
        "it frees up as queries finish"
    ),
    "LimitExceededException": (
        "DynamoDB's export quota (300 exports at once per account and region) is full; "
        "it frees up as other exports finish"
    ),
}
"""Every error name treated as transient anywhere, with why it is worth retrying."""

GENERIC_TRANSIENT = ("ThrottlingException", "InternalFailure", "ServiceUnavailable")
"""Transient errors any AWS API can return, modelled or not."""

EXPORT_QUOTA = "LimitExceededException"
"""DynamoDB's export-quota error: retried minutes apart, not seconds."""

OPERATION_ERRORS: dict[tuple[str, str], tuple[str, ...]] = {
    ("dynamodb", "exportTableToPointInTime"): ("InternalServerError", "LimitExceededException"),
    ("dynamodb", "describeExport"): ("InternalServerError", "LimitExceededException"),
    ("dynamodb", "describeContinuousBackups"): ("InternalServerError",),
    ("dynamodb", "describeTable"): ("InternalServerError",),
    ("dynamodb", "updateItem"): (
        "InternalServerError",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "ThrottlingException",
    ),
    ("dynamodb", "getItem"): (
        "InternalServerError",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
    ),
    ("glue", "updateTable"): (
        "InternalServiceException",
        "OperationTimeoutException",
        "ConcurrentModificationException",
        "FederationSourceRetryableException",
    ),
    ("glue", "createTable"): (
        "InternalServiceException",
        "OperationTimeoutException",
        "ConcurrentModificationException",
        "FederationSourceRetryableException",
    ),
    ("glue", "createTableOptimizer"): ("InternalServiceException", "ThrottlingException"),
    ("athena", "createNamedQuery"): ("InternalServerException",),
    ("athena", "startQueryExecution"): ("InternalServerException", "TooManyRequestsException"),
    ("athena", "updateNamedQuery"): ("InternalServerException",),
    ("cloudwatch", "putMetricData"): ("InternalServiceFault",),
    ("sfn", "describeMapRun"): (),
    ("s3", "getObject"): (),
    ("dynamodb", "importTable"): ("LimitExceededException",),
    ("dynamodb", "describeImport"): (),
    ("dynamodb", "listImports"): ("LimitExceededException",),
    ("dynamodb", "listExports"): ("InternalServerError", "LimitExceededException"),
    ("dynamodb", "listTables"): ("InternalServerError",),
    ("dynamodb", "deleteTable"): ("InternalServerError", "LimitExceededException"),
    ("s3", "putObject"): (),
    ("s3", "listObjectsV2"): (),
    ("ssm", "putParameter"): ("InternalServerError",),
    ("pipes", "describePipe"): ("InternalException", "ThrottlingException"),
}
"""Transient errors botocore models for each operation a machine calls (checked by test)."""


def _exception(name: str) -> str:
    return name if name.endswith("Exception") else name + "Exception"


def error_name(service: str, name: str) -> str:
    """The error name Step Functions reports for ``name`` raised by ``service``."""
    return f"{SERVICE_PREFIX[service]}.{_exception(name)}"


def transient_errors(service: str, action: str) -> list[str]:
    """Step Functions names of the errors worth retrying on ``service:action``."""
    modelled = OPERATION_ERRORS[(service, action)]
    names = [n for n in (*modelled, *GENERIC_TRANSIENT) if n != EXPORT_QUOTA]
    return [error_name(service, n) for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class Backoff:
    """One Retry rule: exponential back-off with full jitter."""

    errors: Sequence[str]
    interval_seconds: int
    max_attempts: int
    backoff_rate: float = 2.0
    max_delay_seconds: int = 900

    def to_asl(self) -> dict[str, Any]:
        return {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
            "MaxDelaySeconds": self.max_delay_seconds,
            "JitterStrategy": "FULL",
        }


def retry_for(service: str, action: str) -> list[dict[str, Any]]:
    """The Retry field of an aws-sdk task calling ``service:action``.

    A full export quota waits minutes (up to about 1.5 hours in all); other transient
    errors are retried seconds apart, six times.
    """
    rules = []
    if EXPORT_QUOTA in OPERATION_ERRORS[(service, action)]:
        quota = [error_name(service, EXPORT_QUOTA)]
        rules.append(Backoff(quota, interval_seconds=60, max_attempts=8).to_asl())
    rules.append(
        Backoff(
            transient_errors(service, action),
            interval_seconds=2,
            max_attempts=6,
            max_delay_seconds=60,
        ).to_asl()
    )
    return rules


TRANSIENT_START_EXECUTION = [
    "StepFunctions.ExecutionLimitExceededException",
    *(f"StepFunctions.{_exception(n)}" for n in GENERIC_TRANSIENT),
]
"""Starting a child execution: the account's open-execution quota, or a generic transient
error (the optimized integration names errors ``StepFunctions.``)."""


def start_execution_retry() -> list[dict[str, Any]]:
    """Retry field of a task that starts a child execution."""
    return [
        Backoff(
            TRANSIENT_START_EXECUTION, interval_seconds=5, max_attempts=8, max_delay_seconds=300
        ).to_asl()
    ]
