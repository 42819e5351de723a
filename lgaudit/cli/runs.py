"""``lgaudit runs``: what was recorded."""
