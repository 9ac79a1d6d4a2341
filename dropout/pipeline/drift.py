"""Drift between two sets of statistics: which features are compared, by what, and the comparison.

One definition for the training pipeline and the drift monitor:

- ``comparator_config`` takes the curated schema's ``drift_comparator`` of every feature (Jensen-Shannon
  divergence for numeric, L-infinity distance for categorical features, each with its threshold) into
  the config of the pipeline's DistributionValidator;
- ``compare`` is what DistributionValidator computes for one split pair, for statistics that are not
  a pipeline artifact (the drift monitor's newest span against the champion's training span).

``compare`` calls the DistributionValidator executor's own steps (TFX 1.16, pinned), so both paths give
the same anomalies for the same statistics; ``tests/test_drift.py`` checks that against a pipeline run.
"""

from __future__ import annotations

from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.proto import distribution_validator_pb2

DistributionValidatorConfig = distribution_validator_pb2.DistributionValidatorConfig  # type: ignore[attr-defined]


def comparator_config(schema: schema_pb2.Schema) -> Any:
    """DistributionValidator config carrying the schema's drift comparator of every feature that has one."""
    config = DistributionValidatorConfig()
    for feature in schema.feature:
        if feature.HasField("drift_comparator"):
            comparator = config.default_slice_config.feature.add()
            comparator.path.step.append(feature.name)
            comparator.distribution_comparator.CopyFrom(feature.drift_comparator)
    return config


def compared_features(schema: schema_pb2.Schema) -> list[str]:
    """Names of the features whose drift is checked."""
    return [f.name for f in schema.feature if f.HasField("drift_comparator")]


def compare(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> anomalies_pb2.Anomalies:
    """Drift anomalies of ``statistics`` against ``baseline`` by ``schema``'s drift comparators.

    The DistributionValidator's steps for one split pair: a schema inferred from the baseline carrying
    the configured comparators, TFDV's validation against the previous statistics, only the comparison
    anomalies kept, and an anomaly for every configured feature that could not be compared.
    """
    import tensorflow_data_validation as tfdv
    from tfx.components.distribution_validator import executor as dv

    config = comparator_config(schema)
    checked = dv._make_schema_from_config(config, baseline)
    full = tfdv.validate_statistics(statistics, checked, previous_statistics=baseline)
    anomalies = dv._get_comparison_only_anomalies(full)
    return dv._add_anomalies_for_missing_comparisons(anomalies, config)
