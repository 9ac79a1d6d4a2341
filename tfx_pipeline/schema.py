"""The curated schema: loading it, adapting it to a window length, and deriving drift settings from it."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.proto import distribution_validator_pb2

from dropout import features as F

SCHEMA_FILE = "schema.pbtxt"


def load_schema(path: str | Path) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    text_format.Parse(Path(path).read_text(), schema)
    return schema


def schema_for_window(curated: schema_pb2.Schema, window_days: int) -> schema_pb2.Schema:
    """Copy of the curated schema whose per-day features have ``window_days`` values.

    The curated file is written for the default window; a deployment with another window gets a
    derived copy, identical otherwise, so reviewers still own one file.
    """
    schema = schema_pb2.Schema()
    schema.CopyFrom(curated)
    per_day = set(F.sequence_keys())
    for feature in schema.feature:
        if feature.name in per_day:
            del feature.shape.dim[:]
            feature.shape.dim.add().size = window_days
    return schema


def write_schema(schema: schema_pb2.Schema, out_dir: str | Path) -> str:
    """Write ``schema`` as ``schema.pbtxt`` in ``out_dir``; return the file path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SCHEMA_FILE
    path.write_text(text_format.MessageToString(schema))
    return str(path)


def drift_config(schema: schema_pb2.Schema) -> distribution_validator_pb2.DistributionValidatorConfig:  # type: ignore[name-defined]
    """DistributionValidator config carrying the schema's drift comparator of every feature that has one."""
    config = distribution_validator_pb2.DistributionValidatorConfig()  # type: ignore[attr-defined]
    for feature in schema.feature:
        if feature.HasField("drift_comparator"):
            comparator = config.default_slice_config.feature.add()
            comparator.path.step.append(feature.name)
            comparator.distribution_comparator.CopyFrom(feature.drift_comparator)
    return config
