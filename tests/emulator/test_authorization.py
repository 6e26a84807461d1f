"""The emulator's authorisation (``emulator.authorization``): each rule both ways, through
executed definitions or calls the emulator makes as a role. A grant present allows, a
grant missing gives AccessDenied where AWS gives it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from table_exporter.destination import account_policies as cross_account
from table_exporter.export.table_machine import Destination
from table_exporter.history.spec import firehose_role_policy

from emulator import authorization, harness
from emulator.authorization import REGISTRY, Request
from emulator.iam_requests import kms_request, s3_request

from .support import BUCKET, rows

OTHER = "210987654321"
KEY = f"arn:aws:kms:{harness.REGION}:{harness.ACCOUNT}:key/1111aaaa-2222-3333-4444-555566667777"
OTHER_KEY = f"arn:aws:kms:{harness.REGION}:{OTHER}:key/9999aaaa-2222-3333-4444-555566667777"
PROBE_ROLE = f"arn:aws:iam::{harness.ACCOUNT}:role/probe"


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def other_account_bucket(name: str) -> None:
    """A bucket that account ``OTHER`` owns (moto keeps it in that account's backend)."""
    from moto.s3.models import s3_backends

    s3_backends[OTHER]["aws"].create_bucket(name, harness.REGION)


def probe(
    aws: dict[str, Any], name: str, resource: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """Run a one-task machine as ``PROBE_ROLE``; its execution, described."""
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": f"arn:aws:states:::aws-sdk:{resource}",
                "Parameters": arguments,
                "End": True,
            }
        },
    }
    sfn = aws["stepfunctions"]
    arn = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=PROBE_ROLE
    )["stateMachineArn"]
    return harness.execute(sfn, arn, name, timeout=30)


# -- the decision, request by request ---------------------------------------------------------


def test_same_account_needs_an_identity_grant_or_a_bucket_policy_naming_the_role(aws):
    get = s3_request("s3:GetObject", BUCKET, "exports/a")
    assert not REGISTRY.allows(PROBE_ROLE, get)
    REGISTRY.configure_bucket(
        BUCKET,
        policy=document(
            {
                **allow(["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/*"]),
                "Principal": {"AWS": PROBE_ROLE},
            }
        ),
    )
    assert REGISTRY.allows(PROBE_ROLE, get)
    REGISTRY.configure_bucket(BUCKET)
    REGISTRY.put_role_policy(
        PROBE_ROLE, document(allow(["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/exports/*"]))
    )
    assert REGISTRY.allows(PROBE_ROLE, get)
    assert not REGISTRY.allows(PROBE_ROLE, s3_request("s3:GetObject", BUCKET, "other/a"))


def test_an_explicit_deny_in_the_bucket_policy_wins_over_an_identity_grant(aws):
    REGISTRY.put_role_policy(PROBE_ROLE, document(allow(["s3:*"], ["*"])))
    REGISTRY.configure_bucket(
        BUCKET,
        policy=document(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/locked/*",
            }
        ),
    )
    assert REGISTRY.allows(PROBE_ROLE, s3_request("s3:PutObject", BUCKET, "open/a"))
    assert not REGISTRY.allows(PROBE_ROLE, s3_request("s3:PutObject", BUCKET, "locked/a"))


def test_another_accounts_bucket_needs_its_bucket_policy_and_the_identity_grant(aws):
    other_account_bucket("their-bucket")
    put = s3_request("s3:PutObject", "their-bucket", "exports/a")
    REGISTRY.put_role_policy(
        PROBE_ROLE, document(allow(["s3:PutObject"], ["arn:aws:s3:::their-bucket/*"]))
    )
    assert not REGISTRY.allows(PROBE_ROLE, put)  # no bucket policy
    REGISTRY.configure_bucket(
        "their-bucket",
        policy=cross_account.document(
            cross_account.destination_bucket_statements(
                bucket_arn="arn:aws:s3:::their-bucket",
                prefixes=["exports"],
                exporter_role_arn=PROBE_ROLE,
            )
        ),
    )
    assert REGISTRY.allows(PROBE_ROLE, put)
    # Across accounts the bucket policy alone is not enough: a role it names, without
    # an identity grant of its own, is denied.
    writer = f"arn:aws:iam::{harness.ACCOUNT}:role/writer"
    REGISTRY.configure_bucket(
        "their-bucket",
        policy=document(
            {
                **allow(["s3:PutObject"], ["arn:aws:s3:::their-bucket/*"]),
                "Principal": {"AWS": writer},
            }
        ),
    )
    assert not REGISTRY.allows(writer, put)


def test_a_key_is_used_only_as_its_key_policy_allows(aws):
    generate = kms_request("kms:GenerateDataKey", KEY, harness.REGION, BUCKET, "a", False)
    # Default key policy: delegates to IAM in the key's account.
    assert not REGISTRY.allows(PROBE_ROLE, generate)
    REGISTRY.put_role_policy(PROBE_ROLE, document(allow(["kms:GenerateDataKey"], [KEY])))
    assert REGISTRY.allows(PROBE_ROLE, generate)
    # A key policy that does not name the account or the role: IAM grants do not count.
    REGISTRY.put_key_policy(
        KEY,
        document(
            {
                **allow(["kms:*"], ["*"]),
                "Principal": {"AWS": f"arn:aws:iam::{harness.ACCOUNT}:role/admin"},
            }
        ),
    )
    assert not REGISTRY.allows(PROBE_ROLE, generate)


def test_another_accounts_key_needs_its_key_policy_and_the_identity_grant(aws):
    generate = kms_request("kms:GenerateDataKey", OTHER_KEY, harness.REGION, BUCKET, "a", False)
    REGISTRY.put_role_policy(PROBE_ROLE, document(allow(["kms:GenerateDataKey"], [OTHER_KEY])))
    assert not REGISTRY.allows(PROBE_ROLE, generate)  # default policy: its own account only
    REGISTRY.put_key_policy(
        OTHER_KEY,
        cross_account.document(
            cross_account.kms_key_statements(
                key_arn=OTHER_KEY, region=harness.REGION, exporter_role_arn=PROBE_ROLE
            )
        ),
    )
    assert REGISTRY.allows(PROBE_ROLE, generate)
    # Not through S3 (kms:ViaService missing): the key policy's condition is not met.
    assert not REGISTRY.allows(PROBE_ROLE, Request("kms:GenerateDataKey", OTHER_KEY, policy="kms"))


def test_with_bucket_keys_the_encryption_context_is_the_bucket_arn(aws):
    """With S3 Bucket Keys, S3 asks KMS with the bucket's ARN as ``aws:s3:arn``; without,
    with the object's. The generated Firehose grant holds in both cases, and only for
    its own bucket; a grant naming object ARNs alone fails under Bucket Keys."""
    policy = firehose_role_policy(
        bucket_arn=f"arn:aws:s3:::{BUCKET}", prefix="exports", table_name="orders", kms_key_arn=KEY
    )
    REGISTRY.put_role_policy(PROBE_ROLE, policy)
    key = next(
        r.removeprefix(f"arn:aws:s3:::{BUCKET}/").rstrip("*") + "x.json.gz"
        for s in policy["Statement"]
        if s["Sid"] == "WriteHistoryObjects"
        for r in s["Resource"]
    )
    without = kms_request("kms:GenerateDataKey", KEY, harness.REGION, BUCKET, key, False)
    with_bucket_key = kms_request("kms:GenerateDataKey", KEY, harness.REGION, BUCKET, key, True)
    elsewhere = kms_request("kms:GenerateDataKey", KEY, harness.REGION, BUCKET + "-x", key, True)
    assert REGISTRY.allows(PROBE_ROLE, without)
    assert REGISTRY.allows(PROBE_ROLE, with_bucket_key)
    assert not REGISTRY.allows(PROBE_ROLE, elsewhere)
    objects_only = document(
        allow(
            ["kms:GenerateDataKey"],
            [KEY],
            Condition={"StringLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}/*"}},
        )
    )
    REGISTRY.put_role_policy(PROBE_ROLE + "-objects", objects_only)
    assert REGISTRY.allows(PROBE_ROLE + "-objects", without)
    assert not REGISTRY.allows(PROBE_ROLE + "-objects", with_bucket_key)


# -- executed: calls a machine makes ---------------------------------------------------------


def test_a_call_the_role_may_not_make_fails_with_the_services_access_denied(aws):
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], "orders", rows("orders"))
    denied = probe(aws, "describe-denied", "dynamodb:describeTable", {"TableName": "orders"})
    assert denied["status"] == "FAILED" and denied["error"] == "DynamoDb.AccessDeniedException"
    put = {"Bucket": BUCKET, "Key": "a/b", "Body": "x"}
    assert probe(aws, "put-denied", "s3:putObject", put)["error"] == "S3.AccessDeniedException"
    REGISTRY.put_role_policy(
        PROBE_ROLE,
        document(
            allow(["dynamodb:DescribeTable"], [harness.SCOPE.arn("dynamodb", "table/orders")]),
            allow(["s3:PutObject"], [f"arn:aws:s3:::{BUCKET}/a/*"]),
        ),
    )
    assert (
        probe(aws, "describe-allowed", "dynamodb:describeTable", {"TableName": "orders"})["status"]
        == "SUCCEEDED"
    )
    assert probe(aws, "put-allowed", "s3:putObject", put)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("list_grant", "error"),
    [(True, "S3.NoSuchKeyException"), (False, "S3.AccessDeniedException")],
)
def test_a_missing_key_is_404_only_for_a_caller_that_may_list_the_bucket(aws, list_grant, error):
    harness.create_bucket(aws["s3"], BUCKET)
    statements = [allow(["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/*"])]
    if list_grant:
        statements.append(allow(["s3:ListBucket"], [f"arn:aws:s3:::{BUCKET}"]))
    REGISTRY.put_role_policy(PROBE_ROLE, document(*statements))
    described = probe(aws, "get-missing", "s3:getObject", {"Bucket": BUCKET, "Key": "nope.json"})
    assert described["status"] == "FAILED" and described["error"] == error


def test_a_list_grant_conditioned_on_a_prefix_does_not_make_a_missing_key_404(aws):
    harness.create_bucket(aws["s3"], BUCKET)
    REGISTRY.put_role_policy(
        PROBE_ROLE,
        document(
            *cross_account.importer_read_statements(
                bucket_arn=f"arn:aws:s3:::{BUCKET}", prefixes=["exports"]
            )
        ),
    )
    listed = probe(aws, "list", "s3:listObjectsV2", {"Bucket": BUCKET, "Prefix": "exports/orders"})
    assert listed["status"] == "SUCCEEDED"
    unlisted = probe(aws, "list-all", "s3:listObjectsV2", {"Bucket": BUCKET})
    assert unlisted["error"] == "S3.AccessDeniedException"
    missing = probe(aws, "get", "s3:getObject", {"Bucket": BUCKET, "Key": "exports/none.json"})
    assert missing["error"] == "S3.AccessDeniedException"


@pytest.mark.parametrize("bucket_key", [False, True])
def test_a_put_into_a_bucket_keys_bucket_needs_a_grant_on_the_bucket_arn(aws, bucket_key):
    harness.create_bucket(aws["s3"], BUCKET)
    REGISTRY.configure_bucket(BUCKET, kms_key_arn=KEY, bucket_key=bucket_key)
    object_condition = {
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}/a/*"}
    }
    REGISTRY.put_role_policy(
        PROBE_ROLE,
        document(
            allow(["s3:PutObject"], [f"arn:aws:s3:::{BUCKET}/a/*"]),
            allow(["kms:GenerateDataKey"], [KEY], Condition=object_condition),
        ),
    )
    put = {"Bucket": BUCKET, "Key": "a/b", "Body": "x"}
    described = probe(aws, "put", "s3:putObject", put)
    assert described["status"] == ("FAILED" if bucket_key else "SUCCEEDED")
    REGISTRY.put_role_policy(
        PROBE_ROLE,
        document(
            allow(
                ["kms:GenerateDataKey"],
                [KEY],
                Condition={
                    "StringEquals": {"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}"}
                },
            )
        ),
    )
    assert probe(aws, "put-again", "s3:putObject", put)["status"] == "SUCCEEDED"


# -- executed: the exporter's machines with their generated policies ------------------------


def _deploy_without(aws: dict[str, Any], sid: str, **options: Any) -> harness.Exporter:
    """The exporter with one statement removed from its table export role's policy."""
    roles = copy.deepcopy(harness.role_policies(**options))
    policy = roles["exporter-table-export"]
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
    return harness.deploy_definitions(
        aws["stepfunctions"], "exporter", harness.definitions(**options), roles=roles
    )


def test_an_export_with_a_kms_key_needs_generate_data_key(aws):
    harness.create_bucket(aws["s3"], BUCKET)
    harness.create_table(aws["dynamodb"], "orders", rows("orders"))
    REGISTRY.configure_bucket(BUCKET, kms_key_arn=KEY)
    options: dict[str, Any] = {
        "bucket": BUCKET,
        "tables": ["orders"],
        "destination": Destination(bucket=BUCKET, sse_algorithm="KMS", kms_key_arn=KEY),
    }
    ex = harness.deploy(aws["stepfunctions"], **options)
    assert ex.run("with-key")["status"] == "SUCCEEDED"
    aws["stepfunctions"].delete_state_machine(stateMachineArn=ex.run_arn)
    aws["stepfunctions"].delete_state_machine(stateMachineArn=ex.table_arn)
    REGISTRY.roles.clear()
    ex = _deploy_without(aws, "EncryptExportObjects", **options)
    described = ex.run("without-key")
    assert described["status"] == "FAILED"
    (failed,) = described["tables"]
    assert failed["error"] == "S3AccessDenied" and "kms:GenerateDataKey" in failed["cause"]


def test_an_export_into_another_accounts_bucket_needs_its_bucket_policy(aws):
    other_account_bucket("their-bucket")
    harness.create_bucket(aws["s3"], BUCKET)  # the run report stays at home
    harness.create_table(aws["dynamodb"], "orders", rows("orders"))
    options: dict[str, Any] = {
        "bucket": "their-bucket",
        "report_bucket": BUCKET,
        "tables": ["orders"],
        "destination": Destination(bucket="their-bucket", bucket_owner=OTHER),
    }
    ex = harness.deploy(aws["stepfunctions"], **options)
    described = ex.run("no-bucket-policy")
    (failed,) = described["tables"]
    assert failed["error"] == "S3AccessDenied" and "bucket policy" in failed["cause"]
    REGISTRY.configure_bucket(
        "their-bucket",
        policy=cross_account.document(
            cross_account.destination_bucket_statements(
                bucket_arn="arn:aws:s3:::their-bucket",
                prefixes=["exports"],
                exporter_role_arn=harness.role_arn("exporter-table-export"),
            )
        ),
    )
    assert ex.run("with-bucket-policy")["status"] == "SUCCEEDED"


def test_a_table_the_role_does_not_name_is_denied_by_dynamodb(aws, deploy_exporter):
    ex = deploy_exporter({"orders": rows("orders")})
    harness.create_table(aws["dynamodb"], "secrets", rows("secrets"))
    described = ex.run(
        "unconfigured",
        {
            "tables": [
                {"tableArn": harness.SCOPE.arn("dynamodb", "table/secrets"), "prefix": "exports"}
            ]
        },
    )
    (failed,) = described["tables"]
    assert failed["error"] == "DynamoDb.AccessDeniedException"
    assert any(d.request.action == "dynamodb:ExportTableToPointInTime" for d in REGISTRY.denials)


def test_the_result_writer_writes_only_to_a_bucket_of_its_own_account(aws, deploy_exporter):
    other_account_bucket("their-reports")
    REGISTRY.configure_bucket(
        "their-reports",
        policy=document(
            {
                **allow(["s3:*"], ["arn:aws:s3:::their-reports", "arn:aws:s3:::their-reports/*"]),
                "Principal": "*",
            }
        ),
    )
    ex = deploy_exporter({"orders": rows("orders")}, report_bucket="their-reports")
    described = ex.run("elsewhere")
    # The run catches the Map's error and fails naming it.
    assert described["status"] == "FAILED" and described["error"] == "RunReportFailed"
    assert json.loads(described["cause"])["Error"] == "States.ResultWriterFailed"
    home = deploy_exporter({"orders": rows("orders")}, name="home")
    assert home.run("at-home")["status"] == "SUCCEEDED"


def test_calls_not_made_for_a_machine_are_not_checked(aws):
    """The tests' own set-up acts as nobody: it is not a machine's call."""
    assert authorization.current_principal() is None
    harness.create_bucket(aws["s3"], BUCKET)
    aws["s3"].put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert REGISTRY.denials == []


# -- where features meet: the generated policies, end to end ---------------------------------
# These assert what AWS would do with a correct policy. They fail while a generated policy
# lacks the grant, naming the request IAM would deny.


def test_change_history_reaches_a_bucket_that_uses_bucket_keys(aws):
    from emulator import change_stream

    harness.create_bucket(aws["s3"], BUCKET)
    REGISTRY.configure_bucket(BUCKET, kms_key_arn=KEY, bucket_key=True)
    aws["dynamodb"].create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for item in rows("orders", 5):
        aws["dynamodb"].put_item(TableName="orders", Item=item)
    path = harness.history_path(
        aws["s3"],
        table="orders",
        stream_arn=change_stream.stream_arn_of(aws["dynamodb"], "orders"),
        bucket=BUCKET,
        prefix="exports",
        kms_key_arn=KEY,
    )
    report = path.run()
    assert report.access_denied == 0, [str(d) for d in REGISTRY.denials]
    assert report.objects == 1 and report.lost == 0


def test_a_drill_writes_its_report_into_a_bucket_encrypted_with_the_exporters_key(aws):
    from .test_restore_drill import SPEC, drill, export

    REGISTRY.configure_bucket(BUCKET, kms_key_arn=KEY)
    export(aws, "orders", rows("orders", 3))
    # The drill role as the component makes it for an exporter with a key.
    harness.drill_role(SPEC, [harness.SCOPE.arn("dynamodb", "table/orders")], kms_key_arn=KEY)
    result = drill(aws, "orders", "with-key")
    assert result["status"] == "SUCCEEDED", [str(d) for d in REGISTRY.denials]


def test_a_role_policy_whose_statement_ids_repeat_is_refused_as_iam_refuses_it() -> None:
    statement = {"Sid": "Twice", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    with pytest.raises(ValueError, match="MalformedPolicyDocument"):
        REGISTRY.put_role_policy(
            "arn:aws:iam::123456789012:role/twice",
            {"Version": "2012-10-17", "Statement": [statement, dict(statement)]},
        )
    assert "arn:aws:iam::123456789012:role/twice" not in REGISTRY.roles
