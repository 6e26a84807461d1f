"""Change history: DynamoDB stream to EventBridge Pipes to Firehose to S3, with its Glue table and pipe watch."""
