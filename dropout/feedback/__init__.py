"""The feedback loop's record: risk lists, interventions and outcomes (the early-warning store)."""
