"""Artifact types of our custom components."""

from tfx.types.artifact import Artifact, Property, PropertyType


class IngestionReport(Artifact):
    """Counts and quarantine of one ingestion run: ``counts.json`` and ``quarantine.parquet`` under the uri.

    Input records always reconcile: ``input_records == accepted + quarantined``.
    """

    TYPE_NAME = "IngestionReport"
    PROPERTIES = {
        "span": Property(type=PropertyType.INT),
    }
