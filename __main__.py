"""Pulumi program: one TableExporter per stack, configured from Pulumi.<stack>.yaml."""

import sys
from pathlib import Path

# The component comes from this checkout (requirements.txt locks only its dependencies,
# with hashes), so a preview shows exactly the component in the commit under review.
sys.path.insert(0, str(Path(__file__).resolve().parent / "components"))

import pulumi
from table_exporter import TableExporter, TableExporterArgsError

from program.exporter_args import exporter_args
from program.stack_config import load_settings

settings = load_settings()  # fails the preview with config-key-named errors, before any resource
try:
    exporter = TableExporter("exporter", exporter_args(settings, stack=pulumi.get_stack()))
except TableExporterArgsError as err:  # a combination only the component can judge
    raise pulumi.RunError(f"exporter: {err}") from err

pulumi.export("runStateMachineArn", exporter.run_state_machine_arn)
pulumi.export("runStateMachineName", exporter.run_state_machine_name)
pulumi.export("tableExportStateMachineArn", exporter.table_export_state_machine_arn)
pulumi.export("scheduleArn", exporter.schedule_arn)
pulumi.export("scheduleInput", exporter.schedule_input)
pulumi.export("bucketName", exporter.bucket_name)
pulumi.export("runRoleArn", exporter.run_role_arn)
pulumi.export("tableExportRoleArn", exporter.table_export_role_arn)
pulumi.export("schedulerRoleArn", exporter.scheduler_role_arn)
pulumi.export("alarmArns", exporter.alarm_arns)
pulumi.export("alarmTopicArn", exporter.alarm_topic_arn)
pulumi.export("deadLetterQueueArn", exporter.dead_letter_queue_arn)
