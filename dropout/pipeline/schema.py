"""The curated schema: loading it, adapting it to a window length, writing a copy (drift comparators: ``drift``)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from dropout.contract import features as F

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
