"""The TableImporter component: imports the newest export into a new table on a schedule."""
