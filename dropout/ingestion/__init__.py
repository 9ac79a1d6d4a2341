"""Plain-Python ingestion core: landing files -> validated events -> per-learner span examples.

Modules: ``adapters`` (file formats -> raw fields), ``validate`` (checks, quarantine, duplicates),
``pseudonymise`` (keyed pseudonyms, split), ``tables`` (learner and outcome tables), ``aggregate``
(daily features, sequences), ``interventions`` (the early-warning store's interventions and outcomes,
point in time) and ``span`` (the entry point). No TFX, TensorFlow or Beam here.
"""

from .span import QUARANTINE_SCHEMA, SPLIT_COLUMN, SpanResult, ingest_span, span_days

__all__ = ["QUARANTINE_SCHEMA", "SPLIT_COLUMN", "SpanResult", "ingest_span", "span_days"]
