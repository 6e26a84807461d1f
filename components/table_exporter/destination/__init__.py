"""Where exports land: the bucket the exporter can create and the policies a bucket in another account needs."""
