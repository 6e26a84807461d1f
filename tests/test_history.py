"""Change history: the pure builders (template, prefixes, settings, Glue, SQL, alarms,
IAM), and the ``ChangeHistory`` component under Pulumi mocks (no Lambda; policies pass
parliament with zero findings and allow exactly the calls the path makes)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import parliament
import pulumi
import pytest
from table_exporter.catalog.schema import Column
from table_exporter.history import spec as history
from table_exporter.history.component import (
    TYPE_TOKEN,
    ChangeHistory,
    ChangeHistoryArgs,
    ChangeHistoryError,
    check_stream,
    key_columns_from,
)
from table_exporter.history.spec import DEFAULT_START_DAY, HistorySettings, glue_table_input

from emulator import change_stream
from emulator.iam_eval import allowed, service_may_assume
from emulator.pulumi_mocks import ACCOUNT, REGION, RecordingMocks

STREAM = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders/stream/2026-01-05T03:00:00.000"
BUCKET_ARN = "arn:aws:s3:::acme-exports"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DELIVERY = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/h-delivery-1a2b3c4"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:h-dlq-1a2b3c4"
LOG_STREAM = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g:log-stream:S3Delivery"
KEYS = [Column("pk", "string"), Column("sk", "number")]


# -- the record and where it goes ------------------------------------------------------


def test_the_input_template_makes_one_json_line_per_stream_record():
    event = {
        "eventID": "abc",
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767582000,
            "Keys": {"pk": {"S": 'a "quoted" key'}},
            "NewImage": {"pk": {"S": 'a "quoted" key'}, "n": {"N": "2"}},
            "OldImage": {"pk": {"S": 'a "quoted" key'}, "n": {"N": "1"}},
            "SequenceNumber": "1000000000000000000001",
            "SizeBytes": 90,
        },
    }
    line = json.loads(change_stream.apply_template(history.input_template(), event))
    assert line == {
        "event_id": "abc",
        "event_name": "MODIFY",
        "keys": {"pk": {"S": 'a "quoted" key'}},
        "new_image": {"pk": {"S": 'a "quoted" key'}, "n": {"N": "2"}},
        "old_image": {"pk": {"S": 'a "quoted" key'}, "n": {"N": "1"}},
        "approximate_creation_time": 1767582000,
        "sequence_number": "1000000000000000000001",
        "size_bytes": 90,
    }
    del event["dynamodb"]["OldImage"]
    inserted = json.loads(change_stream.apply_template(history.input_template(), event))
    assert inserted["old_image"] is None


def test_prefixes_partition_by_day_and_hour_and_keep_errors_outside_the_history():
    assert history.firehose_prefix("/exports/", "orders") == (
        "exports/orders/history/!{timestamp:yyyy-MM-dd}/!{timestamp:HH}/"
    )
    errors = history.firehose_error_prefix("exports", "orders")
    assert errors.startswith("exports/orders/history-errors/")
    assert "!{firehose:error-output-type}" in errors
    assert not errors.startswith(history.history_root("exports", "orders"))
    assert (
        change_stream.evaluate_prefix(history.firehose_prefix("p", "t"), 1767582000.0)
        == "p/t/history/2026-01-05/03/"
    )


def test_firehose_configuration_is_gzip_newline_delimited_and_uses_the_key():
    config = history.firehose_s3_configuration(
        bucket_arn=BUCKET_ARN,
        role_arn="r",
        prefix="exports",
        table_name="orders",
        settings=HistorySettings(),
        kms_key_arn=KMS_KEY,
    )
    assert config["CompressionFormat"] == "GZIP" and config["FileExtension"] == ".json.gz"
    assert config["ProcessingConfiguration"]["Processors"] == [{"Type": "AppendDelimiterToRecord"}]
    assert config["EncryptionConfiguration"] == {"KMSEncryptionConfig": {"AWSKMSKeyARN": KMS_KEY}}


@pytest.mark.parametrize(
    "setting",
    [
        {"batch_size": 501},
        {"batch_size": 0},
        {"batching_window_seconds": 301},
        {"buffer_seconds": 901},
        {"buffer_mib": 129},
        {"maximum_retry_attempts": -2},
        {"parallelization_factor": 11},
    ],
)
def test_settings_outside_what_aws_accepts_are_refused(setting):
    with pytest.raises(ValueError, match="change history"):
        HistorySettings(**setting)


def test_the_pipe_reads_from_the_start_bisects_and_dead_letters():
    source = history.pipe_source_parameters(HistorySettings(), DLQ)["DynamoDBStreamParameters"]
    assert source["StartingPosition"] == "TRIM_HORIZON"
    assert source["OnPartialBatchItemFailure"] == "AUTOMATIC_BISECT"
    assert source["DeadLetterConfig"] == {"Arn": DLQ}
    assert source["BatchSize"] <= history.FIREHOSE_BATCH_LIMIT


# -- Glue and queries ------------------------------------------------------------------


def test_glue_table_projects_day_and_hour_partitions_without_a_crawler():
    table = history.glue_table_input(
        table_name="Customer.Events", bucket="b", prefix="crm", start_day="2026-01-01"
    )
    assert table["Name"] == "customer_events_history"
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.day.range"] == "2026-01-01,NOW"
    assert parameters["projection.hour.range"] == "0,23"
    assert parameters["storage.location.template"] == (
        "s3://b/crm/Customer.Events/history/${day}/${hour}/"
    )
    assert [k["Name"] for k in table["PartitionKeys"]] == ["day", "hour"]


def test_saved_queries_deduplicate_by_event_id_and_order_by_sequence_as_a_number():
    item = history.item_history_sql("db", "orders", KEYS)
    assert "PARTITION BY event_id" in item and "copy = 1" in item
    assert item.count("?") == 2 and "CAST(? AS DECIMAL(38, 9))" in item
    assert item.rstrip().endswith("ORDER BY length(sequence_number), sequence_number")
    ranged = history.time_range_sql("db", "orders", KEYS)
    assert ranged.count("?") == 2 and "INTERVAL '1' DAY" in ranged
    assert all(len(n) <= 128 for n in history.query_names("t" * 255).values())


# -- alarms ----------------------------------------------------------------------------


def test_alarms_use_documented_metric_names_and_choose_missing_data():
    alarms = {a.spec.role: a for a in history.alarm_specs(HistorySettings())}
    assert {(a.spec.namespace, a.spec.metric_name, a.dimension) for a in alarms.values()} == {
        ("AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName"),
        ("AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName"),
        ("AWS/EventBridge/Pipes", "ExecutionFailed", "PipeName"),
        ("AWS/EventBridge/Pipes", "ExecutionPartiallyFailed", "PipeName"),
        ("AWS/EventBridge/Pipes", "TargetStageFailed", "PipeName"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"),
    }
    assert all(a.spec.treat_missing_data == "notBreaching" for a in alarms.values())
    assert alarms["history-delivery-behind"].spec.threshold >= 900


# -- IAM -------------------------------------------------------------------------------


def _lint(document: dict[str, Any]) -> list[Any]:
    return [
        (f.issue, f.detail) for f in parliament.analyze_policy_string(json.dumps(document)).findings
    ]


def _pipe_policy(kms: str | None = KMS_KEY) -> dict[str, Any]:
    return history.pipe_role_policy(
        table_arn=STREAM.split("/stream/")[0],
        delivery_stream_arn=DELIVERY,
        dead_letter_queue_arn=DLQ,
        kms_key_arn=kms,
    )


def _firehose_policy(kms: str | None = KMS_KEY) -> dict[str, Any]:
    return history.firehose_role_policy(
        bucket_arn=BUCKET_ARN,
        prefix="exports",
        table_name="orders",
        kms_key_arn=kms,
        log_stream_arn=LOG_STREAM,
    )


@pytest.mark.parametrize("kms", [KMS_KEY, None])
def test_policies_pass_parliament_with_zero_findings(kms):
    assert _lint(_pipe_policy(kms)) == []
    assert _lint(_firehose_policy(kms)) == []


def test_the_pipe_role_reads_its_stream_and_writes_its_delivery_stream_only():
    policy = _pipe_policy()
    for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"):
        assert allowed(policy, action, STREAM)
        assert not allowed(policy, action, STREAM.replace("orders", "payments"))
    assert allowed(policy, "firehose:PutRecordBatch", DELIVERY)
    assert not allowed(policy, "firehose:PutRecordBatch", DELIVERY + "x")
    assert allowed(policy, "sqs:SendMessage", DLQ)
    via_sqs = {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    assert allowed(policy, "kms:GenerateDataKey", KMS_KEY, via_sqs)
    assert not allowed(policy, "kms:GenerateDataKey", KMS_KEY)
    assert not allowed(policy, "dynamodb:PutItem", STREAM.split("/stream/")[0])


def test_the_firehose_role_writes_the_history_and_error_folders_only():
    policy = _firehose_policy()
    for key in (
        "exports/orders/history/2026-01-05/03/x.json.gz",
        "exports/orders/history-errors/p",
    ):
        assert allowed(policy, "s3:PutObject", f"{BUCKET_ARN}/{key}")
    for key in ("exports/orders/AWSDynamoDB/x", "exports/payments/history/x", "other"):
        assert not allowed(policy, "s3:PutObject", f"{BUCKET_ARN}/{key}")
    obj = f"{BUCKET_ARN}/exports/orders/history/x"
    context = {
        "kms:ViaService": f"s3.{REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": obj,
    }
    assert allowed(policy, "kms:GenerateDataKey", KMS_KEY, context)
    elsewhere = {**context, "kms:EncryptionContext:aws:s3:arn": f"{BUCKET_ARN}/exports/other"}
    assert not allowed(policy, "kms:GenerateDataKey", KMS_KEY, elsewhere)
    assert allowed(policy, "logs:PutLogEvents", LOG_STREAM)


def test_trust_policies_admit_only_the_service_acting_for_this_accounts_resource():
    pipe_pattern = f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/h-pipe-???????"
    trust = history.pipes_trust_policy(ACCOUNT, pipe_pattern)
    role = f"arn:aws:iam::{ACCOUNT}:role/h-pipe-role"
    mine = {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": pipe_pattern.replace("???????", "1a2b3c4"),
    }
    assert service_may_assume(trust, "pipes.amazonaws.com", role, mine)
    assert not service_may_assume(
        trust, "pipes.amazonaws.com", role, {**mine, "aws:SourceAccount": "210987654321"}
    )
    assert not service_may_assume(
        trust, "pipes.amazonaws.com", role, {**mine, "aws:SourceArn": mine["aws:SourceArn"] + "x"}
    )
    assert not service_may_assume(trust, "firehose.amazonaws.com", role, mine)
    firehose = history.firehose_trust_policy(ACCOUNT, DELIVERY.replace("1a2b3c4", "???????"))
    context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": DELIVERY}
    assert service_may_assume(firehose, "firehose.amazonaws.com", role, context)
    assert not service_may_assume(
        firehose, "firehose.amazonaws.com", role, {"aws:SourceArn": DELIVERY}
    )


def test_cost_per_million_writes_is_dominated_by_pipes_and_firehose_rounding():
    small = history.cost_per_million_writes(record_bytes=1024)
    assert small.pipes == 0.4 and 0.13 < small.firehose < 0.14 and small.total < 0.6
    large = history.cost_per_million_writes(record_bytes=100_000)
    assert large.pipes == 0.8


# -- the stream check ------------------------------------------------------------------


def test_a_table_without_its_stream_or_with_another_view_type_is_refused_clearly():
    assert check_stream("orders", True, "NEW_AND_OLD_IMAGES", STREAM) == STREAM
    with pytest.raises(ChangeHistoryError, match=r"stream is off.*NEW_AND_OLD_IMAGES"):
        check_stream("orders", False, None, None)
    with pytest.raises(ChangeHistoryError, match="view type is KEYS_ONLY"):
        check_stream("orders", True, "KEYS_ONLY", STREAM)
    assert (
        key_columns_from("pk", "sk", [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}])
        == KEYS
    )


# -- the component under mocks ---------------------------------------------------------


class TableMocks(RecordingMocks):
    """Also answers the table look-up, with the stream on."""

    def __init__(self, view_type: str = "NEW_AND_OLD_IMAGES") -> None:
        super().__init__()
        self.view_type = view_type

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        physical, state = super().new_resource(args)
        arns = {
            "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": "deliverystream/",
            "aws:pipes/pipe:Pipe": "pipe/",
        }
        if args.typ in arns:
            service = "firehose" if "kinesis" in args.typ else "pipes"
            state["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{arns[args.typ]}{physical}"
        return physical, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], Any]:
        if args.token == "aws:dynamodb/getTable:getTable":
            return {
                "name": args.args["name"],
                "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{args.args['name']}",
                "streamEnabled": True,
                "streamViewType": self.view_type,
                "streamArn": STREAM,
                "hashKey": "pk",
                "rangeKey": "sk",
                "attributes": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}],
            }, []
        return super().call(args)


@pytest.fixture
def mocks() -> TableMocks:
    recording = TableMocks()
    pulumi.runtime.set_mocks(recording, preview=False)
    return recording


ARGS = ChangeHistoryArgs(
    table_name="orders",
    bucket_name="acme-exports",
    bucket_arn=BUCKET_ARN,
    prefix="exports",
    kms_key_arn=KMS_KEY,
    glue_database="exports_db",
    athena_workgroup="primary",
    alarm_topic_arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts",
    start_day="2026-01-01",
    tags={"team": "data"},
)


def _one(m: RecordingMocks, typ: str) -> Any:
    found = m.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0].inputs


@pulumi.runtime.test
def test_the_component_wires_stream_pipe_firehose_glue_queries_and_alarms(mocks):
    component = ChangeHistory("h", ARGS)

    def check(_: Any) -> None:
        types = {r.typ for r in mocks.resources}
        assert TYPE_TOKEN in types
        assert not [t for t in types if t.startswith("aws:lambda")]
        pipe = _one(mocks, "aws:pipes/pipe:Pipe")
        assert pipe["source"] == STREAM
        assert pipe["targetParameters"]["inputTemplate"] == history.input_template()
        ddb = pipe["sourceParameters"]["dynamodbStreamParameters"]
        assert ddb["startingPosition"] == "TRIM_HORIZON"
        assert ddb["deadLetterConfig"]["arn"].startswith("arn:aws:sqs:")
        assert pipe["kmsKeyIdentifier"] == KMS_KEY
        stream = _one(mocks, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
        s3 = stream["extendedS3Configuration"]
        assert s3["prefix"] == history.firehose_prefix("exports", "orders")
        assert s3["errorOutputPrefix"] == history.firehose_error_prefix("exports", "orders")
        assert s3["compressionFormat"] == "GZIP" and s3["kmsKeyArn"] == KMS_KEY
        assert stream["serverSideEncryption"]["keyType"] == "CUSTOMER_MANAGED_CMK"
        assert _one(mocks, "aws:sqs/queue:Queue")["kmsMasterKeyId"] == KMS_KEY
        glue = _one(mocks, "aws:glue/catalogTable:CatalogTable")
        assert glue["name"] == "orders_history" and glue["databaseName"] == "exports_db"
        assert glue["parameters"]["projection.hour.range"] == "0,23"
        queries = {
            q.inputs["name"]: q.inputs for q in mocks.of_type("aws:athena/namedQuery:NamedQuery")
        }
        assert set(queries) == {"orders_history_item_history", "orders_history_time_range"}
        assert '"sk" = CAST(? AS DECIMAL(38, 9))' in queries["orders_history_item_history"]["query"]
        alarms = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        assert len(alarms) == len(history.alarm_specs(HistorySettings())) == 6 and all(a.inputs["treatMissingData"] for a in alarms)
        for policy in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
            assert _lint(json.loads(policy.inputs["policy"])) == []
        trusts = [
            json.loads(r.inputs["assumeRolePolicy"]) for r in mocks.of_type("aws:iam/role:Role")
        ]
        conditions = [t["Statement"][0]["Condition"] for t in trusts]
        assert all(c["StringEquals"]["aws:SourceAccount"] == ACCOUNT for c in conditions)
        assert {t["Statement"][0]["Principal"]["Service"] for t in trusts} == {
            "pipes.amazonaws.com",
            "firehose.amazonaws.com",
        }

    return pulumi.Output.all(
        component.pipe.arn,
        component.history_location,
        *[a.arn for a in component.alarms.values()],
        *[q.id for q in component.named_queries.values()],
    ).apply(check)


@pulumi.runtime.test
def test_without_database_topic_or_key_only_the_path_is_made(mocks):
    component = ChangeHistory(
        "bare",
        ChangeHistoryArgs(
            table_name="orders",
            bucket_name="b",
            bucket_arn="arn:aws:s3:::b",
            prefix="p",
            stream_arn=STREAM,
            key_columns=[Column("pk", "string")],
        ),
    )

    def check(location: str) -> None:
        assert location == "s3://b/p/orders/history/"
        assert not mocks.of_type("aws:glue/catalogTable:CatalogTable")
        assert not mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        assert _one(mocks, "aws:sqs/queue:Queue")["sqsManagedSseEnabled"] is True
        stream = _one(mocks, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
        assert stream["serverSideEncryption"]["keyType"] == "AWS_OWNED_CMK"

    return pulumi.Output.all(component.pipe.arn, component.history_location).apply(
        lambda v: check(v[1])
    )


def test_the_firehose_role_may_encrypt_under_a_bucket_key_whose_context_is_the_bucket():
    """With S3 Bucket Keys (the bucket the component creates has them), S3 asks KMS with
    the bucket's ARN as ``aws:s3:arn``, not the object's ("Reducing the cost of SSE-KMS
    with Amazon S3 Bucket Keys"), so a grant conditioned on object ARNs denies every put."""
    policy = _firehose_policy()
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    bucket_key = {**via_s3, "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN}
    assert allowed(policy, "kms:GenerateDataKey", KMS_KEY, bucket_key)
    assert allowed(policy, "kms:Decrypt", KMS_KEY, bucket_key)
    other_bucket = {**via_s3, "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN + "-other"}
    assert not allowed(policy, "kms:GenerateDataKey", KMS_KEY, other_bucket)


def test_the_history_table_projects_every_day_since_a_fixed_start_never_a_moving_one():
    """A range relative to now (``NOW-1YEARS``) silently drops older days from every
    query; the default starts on a fixed day and runs to ``NOW``."""
    table = glue_table_input(
        table_name="orders", bucket="b", prefix="exports", start_day=DEFAULT_START_DAY
    )
    start, end = table["Parameters"]["projection.day.range"].split(",")
    assert end == "NOW"
    assert dt.date.fromisoformat(start) <= dt.date(2026, 1, 1)
    with pytest.raises(ChangeHistoryError, match="start_day: 'NOW-1YEARS' is not a day"):
        ChangeHistoryArgs(
            table_name="orders", bucket_name="b", bucket_arn="arn:aws:s3:::b", prefix="p",
            start_day="NOW-1YEARS",
        )
