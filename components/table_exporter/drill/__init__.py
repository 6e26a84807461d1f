"""Restore drills: import the newest export into a scratch table, compare counts, delete it."""
