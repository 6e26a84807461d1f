"""``ChangeHistory``: one table's writes to S3 within minutes, without Lambda.

A child component: the table's DynamoDB stream -> an EventBridge Pipe -> an Amazon Data
Firehose delivery stream -> GZIP JSON lines under ``<prefix>/<table>/history/``, with a
Glue table and saved Athena queries over them, alarms, and least-privilege roles. The
table stays the user's: this component never modifies it. Its stream must be on with
view type ``NEW_AND_OLD_IMAGES``; the component looks the table up at preview and stops
with a message saying what to change when it is not. See ``docs/change-history.md``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from table_exporter.catalog.schema import KEY_ATTRIBUTE_TYPES, Column
from table_exporter.history import spec as history
from table_exporter.history.spec import HistorySettings
from table_exporter.kernel.limits import max_history_name
from table_exporter.kernel.policies import AUTONAME_SUFFIX

TYPE_TOKEN = "table-exporter:index:ChangeHistory"


class ChangeHistoryError(ValueError):
    """The table cannot feed a change history as it is configured."""


def check_stream(
    table_name: str, stream_enabled: bool | None, view_type: str | None, stream_arn: str | None
) -> str:
    """The table's stream ARN, or a clear error saying what the table's owner must set."""
    if not stream_enabled or not stream_arn:
        raise ChangeHistoryError(
            f"change history for table {table_name!r}: its DynamoDB stream is off. Enable it "
            f"with view type {history.VIEW_TYPE} (stream_enabled=True, "
            f"stream_view_type='{history.VIEW_TYPE}' on aws.dynamodb.Table, or "
            f"StreamSpecification in UpdateTable), or turn change history off for it."
        )
    if view_type != history.VIEW_TYPE:
        raise ChangeHistoryError(
            f"change history for table {table_name!r}: its stream's view type is {view_type}; "
            f"it must be {history.VIEW_TYPE} so each record holds the item before and after "
            "the write. A stream's view type cannot be changed in place: disable the stream and "
            "enable it again with the new type (its ARN changes, and the pipe is replaced)."
        )
    return stream_arn


def key_columns_from(
    hash_key: str, range_key: str | None, attributes: Sequence[Mapping[str, str]]
) -> list[Column]:
    types = {a["name"]: a["type"] for a in attributes}
    names = [hash_key] + ([range_key] if range_key else [])
    return [Column(n, KEY_ATTRIBUTE_TYPES[types.get(n, "S")]) for n in names]


@dataclass
class ChangeHistoryArgs:
    table_name: str
    """The table (plain: it names the S3 folders and the Glue table)."""
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    prefix: str
    """The table's export prefix; the history goes under ``<prefix>/<table>/history/``."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The exporter's key: on the delivery stream, the objects and the dead-letter queue."""
    glue_database: str | None = None
    """With it: the ``<table>_history`` Glue table and the two saved queries."""
    athena_workgroup: pulumi.Input[str] | None = None
    alarm_topic_arn: pulumi.Input[str] | None = None
    """With it: the alarms (``history.alarm_specs``), actions to this topic."""
    stream_arn: pulumi.Input[str] | None = None
    """Skip the look-up (and its check) when given together with ``key_columns``."""
    key_columns: Sequence[Column] | None = None
    settings: HistorySettings = field(default_factory=HistorySettings)
    start_day: str | None = None
    """First day the Glue projection lists (``yyyy-MM-dd``); default
    ``history.DEFAULT_START_DAY``. A day relative to now (``NOW-1YEARS``), which Athena
    allows, would drop older history from every query, so it is refused."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start_day is not None:
            try:
                dt.date.fromisoformat(self.start_day)
            except ValueError:
                raise ChangeHistoryError(
                    f"start_day: {self.start_day!r} is not a day (yyyy-MM-dd); a day relative "
                    "to now would drop older history from every query"
                ) from None


class ChangeHistory(pulumi.ComponentResource):
    """Children: dead-letter queue, log group and stream (Firehose errors), Firehose
    role and policy, delivery stream, pipe role and policy, pipe, and with a database
    the Glue table and two named queries, and with a topic the alarms. No Lambda."""

    delivery_stream: aws.kinesis.FirehoseDeliveryStream
    pipe: aws.pipes.Pipe
    dead_letter_queue: aws.sqs.Queue
    pipe_role: aws.iam.Role
    firehose_role: aws.iam.Role
    glue_table: aws.glue.CatalogTable | None
    named_queries: dict[str, aws.athena.NamedQuery]
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    history_location: pulumi.Output[str]

    def __init__(
        self, name: str, args: ChangeHistoryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if len(name) > max_history_name():
            raise ChangeHistoryError(
                f"change history name {name!r}: at most {max_history_name()} characters, "
                "so its children's names fit AWS's limits (roles, delivery streams and "
                "pipes take 64, Pulumi adds 8); see limits.history_names"
            )
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        table, prefix, settings = args.table_name, args.prefix, args.settings
        tags = dict(args.tags)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = aws.get_caller_identity_output(opts=invoke).account_id

        stream_arn: pulumi.Output[str]
        keys: pulumi.Output[list[Column]]
        if args.stream_arn is not None and args.key_columns is not None:
            stream_arn = pulumi.Output.from_input(args.stream_arn)
            keys = pulumi.Output.from_input(list(args.key_columns))  # type: ignore[arg-type]
        else:
            found = aws.dynamodb.get_table_output(name=table, opts=invoke)
            stream_arn = found.apply(
                lambda t: check_stream(table, t.stream_enabled, t.stream_view_type, t.stream_arn)
            )
            keys = found.apply(
                lambda t: key_columns_from(
                    t.hash_key,
                    t.range_key,
                    [{"name": a.name, "type": a.type} for a in t.attributes],
                )
            )
            if args.stream_arn is not None:
                stream_arn = pulumi.Output.from_input(args.stream_arn)

        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=14 * 86400,
            kms_master_key_id=args.kms_key_arn,
            sqs_managed_sse_enabled=None if args.kms_key_arn else True,
            tags=tags,
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-delivery-errors", retention_in_days=30, tags=tags, opts=child
        )
        log_stream = aws.cloudwatch.LogStream(
            f"{name}-delivery-errors", log_group_name=log_group.name, name="S3Delivery", opts=child
        )

        firehose_name, pipe_name = f"{name}-delivery", f"{name}-pipe"
        self.firehose_role = aws.iam.Role(
            f"{name}-firehose-role",
            assume_role_policy=pulumi.Output.all(partition, region, account).apply(
                lambda v: json.dumps(
                    history.firehose_trust_policy(
                        v[2],
                        f"arn:{v[0]}:firehose:{v[1]}:{v[2]}:deliverystream/"
                        f"{firehose_name}{AUTONAME_SUFFIX}",
                    )
                )
            ),
            tags=tags,
            opts=child,
        )
        firehose_policy = aws.iam.RolePolicy(
            f"{name}-firehose-policy",
            role=self.firehose_role.id,
            policy=pulumi.Output.all(
                args.bucket_arn,
                args.kms_key_arn,
                pulumi.Output.concat(
                    "arn:",
                    partition,
                    ":logs:",
                    region,
                    ":",
                    account,
                    ":log-group:",
                    log_group.name,
                    ":log-stream:",
                    log_stream.name,
                ),
            ).apply(
                lambda v: json.dumps(
                    history.firehose_role_policy(
                        bucket_arn=v[0],
                        prefix=prefix,
                        table_name=table,
                        kms_key_arn=v[1],
                        log_stream_arn=v[2],
                    )
                )
            ),
            opts=child,
        )
        s3_config = history.firehose_s3_configuration(
            bucket_arn=args.bucket_arn,
            role_arn=self.firehose_role.arn,
            prefix=prefix,
            table_name=table,
            settings=settings,
            kms_key_arn=args.kms_key_arn,
            log_group_name=log_group.name,
            log_stream_name=log_stream.name,
        )
        self.delivery_stream = aws.kinesis.FirehoseDeliveryStream(
            firehose_name,
            destination="extended_s3",
            extended_s3_configuration={
                "bucket_arn": s3_config["BucketARN"],
                "role_arn": s3_config["RoleARN"],
                "prefix": s3_config["Prefix"],
                "error_output_prefix": s3_config["ErrorOutputPrefix"],
                "buffering_interval": settings.buffer_seconds,
                "buffering_size": settings.buffer_mib,
                "compression_format": s3_config["CompressionFormat"],
                "file_extension": s3_config["FileExtension"],
                "kms_key_arn": args.kms_key_arn,
                "processing_configuration": {
                    "enabled": True,
                    "processors": [{"type": "AppendDelimiterToRecord"}],
                },
                "cloudwatch_logging_options": {
                    "enabled": True,
                    "log_group_name": log_group.name,
                    "log_stream_name": log_stream.name,
                },
            },
            server_side_encryption={
                "enabled": True,
                "key_type": "CUSTOMER_MANAGED_CMK" if args.kms_key_arn else "AWS_OWNED_CMK",
                "key_arn": args.kms_key_arn,
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[firehose_policy]),
        )

        self.pipe_role = aws.iam.Role(
            f"{name}-pipe-role",
            assume_role_policy=pulumi.Output.all(partition, region, account).apply(
                lambda v: json.dumps(
                    history.pipes_trust_policy(
                        v[2], f"arn:{v[0]}:pipes:{v[1]}:{v[2]}:pipe/{pipe_name}{AUTONAME_SUFFIX}"
                    )
                )
            ),
            tags=tags,
            opts=child,
        )
        pipe_policy = aws.iam.RolePolicy(
            f"{name}-pipe-policy",
            role=self.pipe_role.id,
            policy=pulumi.Output.all(
                pulumi.Output.concat(
                    "arn:", partition, ":dynamodb:", region, ":", account, ":table/", table
                ),
                self.delivery_stream.arn,
                self.dead_letter_queue.arn,
                args.kms_key_arn,
            ).apply(
                lambda v: json.dumps(
                    history.pipe_role_policy(
                        table_arn=v[0],
                        delivery_stream_arn=v[1],
                        dead_letter_queue_arn=v[2],
                        kms_key_arn=v[3],
                    )
                )
            ),
            opts=child,
        )
        source = history.pipe_source_parameters(settings, self.dead_letter_queue.arn)[
            "DynamoDBStreamParameters"
        ]
        self.pipe = aws.pipes.Pipe(
            pipe_name,
            role_arn=self.pipe_role.arn,
            source=stream_arn,
            target=self.delivery_stream.arn,
            source_parameters={
                "dynamodb_stream_parameters": {
                    "starting_position": source["StartingPosition"],
                    "batch_size": source["BatchSize"],
                    "maximum_batching_window_in_seconds": source["MaximumBatchingWindowInSeconds"],
                    "maximum_retry_attempts": source["MaximumRetryAttempts"],
                    "maximum_record_age_in_seconds": source["MaximumRecordAgeInSeconds"],
                    "on_partial_batch_item_failure": source["OnPartialBatchItemFailure"],
                    "parallelization_factor": source["ParallelizationFactor"],
                    "dead_letter_config": {"arn": self.dead_letter_queue.arn},
                }
            },
            target_parameters={"input_template": history.input_template()},
            kms_key_identifier=args.kms_key_arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipe_policy]),
        )

        self.history_location = pulumi.Output.concat(
            "s3://", args.bucket_name, "/", history.history_root(prefix, table)
        )
        self.glue_table = None
        self.named_queries = {}
        if args.glue_database:
            self._catalog(name, args, keys, tags)
        self.alarms = {}
        if args.alarm_topic_arn is not None:
            self._alarms(name, args, tags)

        self.register_outputs(
            {
                "deliveryStreamArn": self.delivery_stream.arn,
                "pipeArn": self.pipe.arn,
                "deadLetterQueueUrl": self.dead_letter_queue.url,
                "historyLocation": self.history_location,
            }
        )

    def _catalog(
        self,
        name: str,
        args: ChangeHistoryArgs,
        keys: pulumi.Output[list[Column]],
        tags: dict[str, str],
    ) -> None:
        database = args.glue_database or ""
        start = args.start_day or history.DEFAULT_START_DAY
        table_input: pulumi.Output[dict[str, Any]] = pulumi.Output.from_input(
            args.bucket_name
        ).apply(
            lambda bucket: history.glue_table_input(
                table_name=args.table_name, bucket=bucket, prefix=args.prefix, start_day=start
            )
        )
        storage = table_input.apply(lambda t: t["StorageDescriptor"])
        # What does not depend on the bucket, known at preview: the same builder's output.
        shape = history.glue_table_input(
            table_name=args.table_name, bucket="b", prefix=args.prefix, start_day=start
        )
        form = shape["StorageDescriptor"]
        self.glue_table = aws.glue.CatalogTable(
            f"{name}-glue-table",
            name=history.history_glue_name(args.table_name),
            database_name=database,
            table_type="EXTERNAL_TABLE",
            parameters=table_input.apply(lambda t: t["Parameters"]),
            partition_keys=[{"name": k["Name"], "type": k["Type"]} for k in shape["PartitionKeys"]],
            storage_descriptor={
                "location": storage.apply(lambda s: s["Location"]),
                "input_format": form["InputFormat"],
                "output_format": form["OutputFormat"],
                "columns": [{"name": c["Name"], "type": c["Type"]} for c in form["Columns"]],
                "ser_de_info": {
                    "serialization_library": form["SerdeInfo"]["SerializationLibrary"],
                    "parameters": form["SerdeInfo"]["Parameters"],
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        names = history.query_names(args.table_name)
        queries = {
            "item": keys.apply(lambda k: history.item_history_sql(database, args.table_name, k)),
            "range": keys.apply(lambda k: history.time_range_sql(database, args.table_name, k)),
        }
        for role, sql in queries.items():
            self.named_queries[role] = aws.athena.NamedQuery(
                f"{name}-query-{role}",
                name=names[role],
                database=database,
                workgroup=args.athena_workgroup,
                query=sql,
                description=(
                    "History of one item (parameters: its key values), deduplicated, oldest first."
                    if role == "item"
                    else "Changes in a time range (parameters: from, to; ISO-8601), deduplicated."
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.glue_table]),
            )

    def _alarms(self, name: str, args: ChangeHistoryArgs, tags: dict[str, str]) -> None:
        subjects: dict[str, pulumi.Input[str]] = {
            "DeliveryStreamName": self.delivery_stream.name,
            "PipeName": self.pipe.name,
            "QueueName": self.dead_letter_queue.name,
        }
        topic = args.alarm_topic_arn
        assert topic is not None
        for alarm in history.alarm_specs(args.settings):
            spec = alarm.spec
            self.alarms[spec.role] = aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-{spec.role}",
                alarm_description=f"{spec.description} Table {args.table_name}. "
                "Runbook: docs/change-history.md#operations",
                namespace=spec.namespace,
                metric_name=spec.metric_name,
                dimensions={alarm.dimension: subjects[alarm.dimension]},
                statistic=spec.statistic,
                period=spec.period_seconds,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.evaluation_periods,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=[topic],
                ok_actions=[topic],
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
