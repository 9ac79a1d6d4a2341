"""Assets shared by the training DAG (consumer) and the drift monitor (producer)."""

from __future__ import annotations

from airflow.sdk import Asset

# An event means: drift beyond the thresholds in a span; extra["span"] names it.
DRIFT = Asset(name="dropout/drift", uri="dropout://drift")
