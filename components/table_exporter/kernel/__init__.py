"""What every feature builds on: ASL states and fragments, retries, polling, IAM documents, alarms, limits and names."""
