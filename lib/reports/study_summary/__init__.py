"""The cross-report summary: reads what the report notebooks wrote, trains nothing."""
