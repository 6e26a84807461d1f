"""Which IAM requests an API call implies: action, resource ARN and the condition keys
the generated policies test. Each mapping follows the "Service Authorization Reference"
page of its service (actions, resource types, condition keys); the S3 and KMS keys as
the S3 and KMS guides define them:

- S3 ("Actions, resources, and condition keys for Amazon S3"): object operations on
  ``arn:aws:s3:::bucket/key``, ``ListObjects(V2)`` is ``s3:ListBucket`` on the bucket
  with ``s3:prefix`` (``""`` when no prefix is given), ``s3:delimiter``, ``s3:max-keys``;
  ``HeadObject`` is ``s3:GetObject``; a PutObject with ``ACL`` also ``s3:PutObjectAcl``;
- SSE-KMS ("Protecting data with server-side encryption using AWS KMS keys"): writing an
  object needs ``kms:GenerateDataKey``, reading it ``kms:Decrypt``, on the key, as the
  caller, with ``kms:ViaService`` ``s3.<region>.amazonaws.com`` and the encryption
  context ``aws:s3:arn``: the bucket's ARN when an S3 Bucket Key is used, else the
  object's ("Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys": with a bucket
  key, S3 uses the bucket ARN as encryption context). A PUT uses the bucket key when
  the bucket has them on, unless the request sets ``BucketKeyEnabled`` false
  ("Configuring an S3 Bucket Key at the object level");
- DynamoDB ("Actions, resources, and condition keys for Amazon DynamoDB"): table
  operations on the table ARN, ``DescribeExport`` on the export, ``DescribeImport``
  on the import, ``ImportTable`` on the new table, list operations on ``*``;
- Glue: table operations on the catalog, the database and the table ("Specifying AWS
  Glue resource ARNs"), CreateTableOptimizer too, with ``iam:PassRole`` of the
  optimizer's role (``iam:PassedToService`` ``glue.amazonaws.com``); Athena named queries
  and query executions on their workgroup (what a query then does as the caller is in
  ``athena_sql.on_behalf``); CloudWatch
  ``PutMetricData`` on ``*`` with ``cloudwatch:namespace``; SSM parameters on
  ``parameter/<name>``; Step Functions executions, machines and Map Runs by ARN.

An operation not listed maps to ``<prefix>:<Operation>`` on ``*``, which a policy that
names resources does not grant: a new call shows up denied rather than unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .authorization import REGISTRY, Request

PREFIXES = {"stepfunctions": "states", "monitoring": "cloudwatch"}


def _ctx(**keys: str | list[str] | None) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    out: list[tuple[str, str | tuple[str, ...]]] = []
    for name, value in keys.items():
        if value is None:
            continue
        key = name.replace("__", ":").replace("_", "-")
        out.append((key, tuple(value) if isinstance(value, list) else value))
    return tuple(out)


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}"


def object_arn(bucket: str, key: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


def s3_request(action: str, bucket: str, key: str | None = None, **context: Any) -> Request:
    resource = bucket_arn(bucket) if key is None else object_arn(bucket, key)
    return Request(action, resource, _ctx(**context), policy="s3", bucket=bucket)


def kms_request(
    action: str, key_arn: str, region: str, bucket: str, key: str, bucket_key: bool
) -> Request:
    """A KMS call S3 makes for the caller on an SSE-KMS object."""
    context_arn = bucket_arn(bucket) if bucket_key else object_arn(bucket, key)
    keys = (
        ("kms:ViaService", f"s3.{region}.amazonaws.com"),
        ("kms:EncryptionContext:aws:s3:arn", context_arn),
    )
    return Request(action, key_arn, keys, policy="kms")


def write_encryption(bucket: str, params: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The KMS key (None: not SSE-KMS with a customer key) and whether a bucket key is
    used, for a PUT with these parameters into ``bucket``."""
    config = REGISTRY.bucket(bucket)
    algorithm = params.get("ServerSideEncryption")
    if algorithm == "AES256":
        return None, False
    key = params.get("SSEKMSKeyId") if algorithm == "aws:kms" else None
    if algorithm is None:
        key = config.kms_key_arn
    elif algorithm == "aws:kms" and key is None:
        key = config.kms_key_arn  # no key named: the bucket's, else the AWS managed key
    bucket_key = params.get("BucketKeyEnabled")
    uses_bucket_key = config.bucket_key if bucket_key is None else bool(bucket_key)
    return key, uses_bucket_key


def object_encryption(bucket: str, key: str) -> tuple[str | None, bool]:
    """How an existing object is encrypted: as it was written, else (written before the
    model saw it) the bucket's default."""
    found = REGISTRY.objects.get((bucket, key))
    if found is not None:
        return found
    config = REGISTRY.bucket(bucket)
    return config.kms_key_arn, config.bucket_key


def put_requests(bucket: str, key: str, region: str, params: Mapping[str, Any]) -> list[Request]:
    out = [s3_request("s3:PutObject", bucket, key)]
    if params.get("ACL"):
        out.append(s3_request("s3:PutObjectAcl", bucket, key))
    kms_key, bucket_key = write_encryption(bucket, params)
    if kms_key and kms_key.startswith("arn:"):
        out.append(kms_request("kms:GenerateDataKey", kms_key, region, bucket, key, bucket_key))
    return out


def read_requests(bucket: str, key: str, region: str, exists: bool) -> list[Request]:
    out = [s3_request("s3:GetObject", bucket, key)]
    kms_key, bucket_key = object_encryption(bucket, key)
    if exists and kms_key and kms_key.startswith("arn:"):
        out.append(kms_request("kms:Decrypt", kms_key, region, bucket, key, bucket_key))
    return out


def list_request(bucket: str, params: Mapping[str, Any]) -> Request:
    return s3_request(
        "s3:ListBucket",
        bucket,
        s3__prefix=params.get("Prefix") or "",
        s3__delimiter=params.get("Delimiter"),
        s3__max_keys=str(params["MaxKeys"]) if "MaxKeys" in params else None,
    )


def _arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def _table_arn(name: str, region: str, account: str) -> str:
    return (
        name
        if name.startswith("arn:")
        else _arn("aws", "dynamodb", region, account, f"table/{name}")
    )


def requests(
    service: str, operation: str, params: Mapping[str, Any], region: str, account: str
) -> list[Request]:
    """The IAM requests the call ``operation`` (botocore's name) of ``service`` (the
    client's name) implies, S3's 404/403 aside (see ``hooks``)."""
    prefix = PREFIXES.get(service, service)
    action = f"{prefix}:{operation}"
    if service == "s3":
        bucket = params.get("Bucket", "")
        if operation in ("ListObjectsV2", "ListObjects"):
            return [list_request(bucket, params)]
        if operation == "PutObject":
            return put_requests(bucket, params["Key"], region, params)
        if operation in ("GetObject", "HeadObject"):
            return read_requests(bucket, params["Key"], region, exists=True)
        if "Key" in params:
            return [s3_request(action, bucket, params["Key"])]
        return [s3_request(action, bucket)]
    if service == "dynamodb":
        if operation == "ExportTableToPointInTime":
            return [Request(action, params["TableArn"])]
        if operation == "DescribeExport":
            return [Request(action, params["ExportArn"])]
        if operation == "DescribeImport":
            return [Request(action, params["ImportArn"])]
        if operation == "ImportTable":
            name = params["TableCreationParameters"]["TableName"]
            return [Request(action, _table_arn(name, region, account))]
        if "TableName" in params:
            return [Request(action, _table_arn(params["TableName"], region, account))]
        return [Request(action, "*")]
    if service == "glue" and operation == "CreateTableOptimizer":
        return _table_optimizer_requests(action, params, region, account)
    if service == "glue" and "DatabaseName" in params:
        table = params.get("Name") or (params.get("TableInput") or {}).get("Name")
        database = params["DatabaseName"]
        resources = [
            _arn("aws", "glue", region, account, "catalog"),
            _arn("aws", "glue", region, account, f"database/{database}"),
        ]
        if table:
            resources.append(_arn("aws", "glue", region, account, f"table/{database}/{table}"))
        return [Request(action, r) for r in resources]
    if service == "athena":
        workgroup = params.get("WorkGroup")
        if not workgroup and "QueryExecutionId" in params:
            workgroup = _execution_workgroup(params["QueryExecutionId"], region, account)
        workgroup = workgroup or _named_query_workgroup(params, region, account)
        return [Request(action, _arn("aws", "athena", region, account, f"workgroup/{workgroup}"))]
    if service == "cloudwatch" and operation == "PutMetricData":
        return [Request(action, "*", _ctx(cloudwatch__namespace=params.get("Namespace")))]
    if service == "ssm" and "Name" in params:
        name = params["Name"]
        name = name if name.startswith("/") else f"/{name}"
        return [Request(action, _arn("aws", "ssm", region, account, f"parameter{name}"))]
    if service == "pipes" and "Name" in params:
        # "Actions, resources, and condition keys for Amazon EventBridge Pipes": pipe/<name>.
        return [Request(action, _arn("aws", "pipes", region, account, f"pipe/{params['Name']}"))]
    if service == "stepfunctions":
        for member in ("executionArn", "mapRunArn", "stateMachineArn"):
            if member in params:
                return [Request(action, params[member])]
    return [Request(action, "*")]


def _table_optimizer_requests(
    action: str, params: Mapping[str, Any], region: str, account: str
) -> list[Request]:
    """``glue:CreateTableOptimizer`` on the catalog, database and table ("Specifying AWS
    Glue resource ARNs"), and ``iam:PassRole`` of the optimizer's role to Glue, with
    ``iam:PassedToService`` ("Grant a user permissions to pass a role to an AWS
    service", IAM User Guide): the caller hands Glue a role to act as."""
    database, table = params["DatabaseName"], params["TableName"]
    catalog = params.get("CatalogId") or account
    out = [
        Request(action, _arn("aws", "glue", region, catalog, resource))
        for resource in ("catalog", f"database/{database}", f"table/{database}/{table}")
    ]
    role = (params.get("TableOptimizerConfiguration") or {}).get("roleArn")
    if role:
        out.append(
            Request("iam:PassRole", role, _ctx(iam__PassedToService="glue.amazonaws.com"))
        )
    return out


def _execution_workgroup(query_execution_id: str, region: str, account: str) -> str | None:
    """The workgroup a query execution ran in (GetQueryExecution, StopQueryExecution
    act on it: "Actions, resources, and condition keys for Amazon Athena")."""
    from moto.athena.models import athena_backends

    execution = athena_backends[account][region].executions.get(query_execution_id)
    workgroup = getattr(execution, "workgroup", None)
    return getattr(workgroup, "name", None) or ("primary" if execution else None)


def _named_query_workgroup(params: Mapping[str, Any], region: str, account: str) -> str:
    from moto.athena.models import athena_backends

    query = athena_backends[account][region].get_named_query(params.get("NamedQueryId", ""))
    workgroup = getattr(query, "workgroup", None)
    return str(getattr(workgroup, "name", workgroup) or "primary")
