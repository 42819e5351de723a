"""``lgaudit demo``."""
