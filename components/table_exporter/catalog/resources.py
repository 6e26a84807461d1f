"""The Glue database the table export machine keeps current, and the Athena workgroup
to query it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from table_exporter.catalog.schema import glue_table_name
from table_exporter.kernel.targets import ATHENA_RESULTS_PREFIX


@dataclass(frozen=True)
class Catalog:
    """The database and workgroup, or all None when the catalog is off."""

    database: aws.glue.CatalogDatabase | None
    workgroup: aws.athena.Workgroup | None
    database_name: str | None
    workgroup_name: pulumi.Output[str] | None


NO_CATALOG = Catalog(database=None, workgroup=None, database_name=None, workgroup_name=None)


def catalog(
    parent: pulumi.Resource,
    name: str,
    *,
    database_name: str | None,
    bucket_name: pulumi.Output[str],
    sse_algorithm: str,
    kms_key_arn: str | None,
    tags: dict[str, str],
) -> Catalog:
    """The database ``<name>-catalog`` (named ``database_name``, by default after the
    component) and the workgroup ``<name>-athena``, whose results go to
    ``athena-results/`` in the destination bucket, encrypted as the exports are."""
    child = pulumi.ResourceOptions(parent=parent)
    database_name = database_name or glue_table_name(f"{name}_dynamodb_exports")
    database = aws.glue.CatalogDatabase(
        f"{name}-catalog",
        name=database_name,
        description="Tables over the newest completed DynamoDB exports",
        opts=child,
    )
    workgroup = aws.athena.Workgroup(
        f"{name}-athena",
        force_destroy=False,
        configuration={
            "enforce_workgroup_configuration": True,
            "publish_cloudwatch_metrics_enabled": True,
            "result_configuration": {
                "output_location": bucket_name.apply(
                    lambda b: f"s3://{b}/{ATHENA_RESULTS_PREFIX}/"
                ),
                "encryption_configuration": (
                    {"encryption_option": "SSE_KMS", "kms_key_arn": kms_key_arn}
                    if sse_algorithm == "KMS"
                    else {"encryption_option": "SSE_S3"}
                ),
            },
        },
        tags=tags,
        opts=child,
    )
    return Catalog(
        database=database,
        workgroup=workgroup,
        database_name=database_name,
        workgroup_name=workgroup.name,
    )
