"""Live control: kill orders recorded in the store (what the guard, stage and shadow consult)."""
