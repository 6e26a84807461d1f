"""Scheduled exports: the run machine, the per-table machine, their policies, alarms and dashboard."""
