"""Executor of LearnerExampleGen: unpacks artifacts, checks parameters, calls the ingestion core."""

from __future__ import annotations

import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx_bsl.coders import example_coder

from dropout.contract.features import SPAN_KEY
from dropout.contract.settings import IngestionSettings, pseudonym_key
from dropout.ingestion import ingest_span
from dropout.ingestion.aggregate import to_list_columns

MODES = ("training", "serving")
_SPLIT_COLUMN = "split"


def write_split(table: pa.Table, split_dir: Path) -> int:
    """Write ``table`` as gzipped tf.Example TFRecords under ``split_dir``; return the example count."""
    split_dir.mkdir(parents=True, exist_ok=True)
    path = split_dir / "data_tfrecord-00000-of-00001.gz"
    count = 0
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for batch in table.to_batches(max_chunksize=8192):
            for record in example_coder.RecordBatchToExamples(
                to_list_columns(pa.Table.from_batches([batch]))
            ):
                writer.write(record)
                count += 1
    return count


def split_examples(examples: pa.Table, mode: str) -> dict[str, pa.Table]:
    """Return the tables per output split: train/eval by the ``split`` column, or one ``serving`` split."""
    if mode == "serving":
        return {"serving": examples}
    splits = examples.column(_SPLIT_COLUMN).to_pylist()
    out = {}
    for name in ("train", "eval"):
        mask = pa.array([s == name for s in splits])
        out[name] = examples.filter(mask).drop([_SPLIT_COLUMN])
    return out


def cut_offsets(span: int, window_days: int, cuts: int, step_days: int) -> list[int]:
    """Days back from the span's window of each training cut: ``0, step, 2 x step, ...`` (``cuts`` at most).

    A cut whose window would start before span 0's first day is left out: days before the landing
    data begins would read as inactive days, which they are not.
    """
    if cuts < 1 or step_days < 1:
        raise ValueError(
            f"LearnerExampleGen: training_cuts ({cuts}) and cut_step_days ({step_days}) must be at least 1"
        )
    room = span * window_days  # landing days before this span's window
    return [k * step_days for k in range(cuts) if k * step_days <= room]


def check_parameters(exec_properties: dict[str, Any]) -> None:
    """Raise ValueError naming the parameter and what to do when a parameter cannot work."""
    if exec_properties["mode"] not in MODES:
        raise ValueError(f"LearnerExampleGen: mode '{exec_properties['mode']}' is not one of {MODES}")
    if exec_properties["window_days"] < 1:
        raise ValueError("LearnerExampleGen: window_days must be at least 1")
    if exec_properties["span"] < 0:
        raise ValueError("LearnerExampleGen: span must be 0 or more")
    try:
        datetime.date.fromisoformat(exec_properties["first_day"])
    except ValueError as exc:
        raise ValueError(
            f"LearnerExampleGen: first_day '{exec_properties['first_day']}' is not YYYY-MM-DD"
        ) from exc
    if not os.path.isdir(exec_properties["landing_root"]):
        raise ValueError(
            f"LearnerExampleGen: landing_root {exec_properties['landing_root']} is not a directory"
        )
    if exec_properties["mode"] == "training" and not exec_properties.get("outcomes_csv"):
        raise ValueError("LearnerExampleGen: training mode needs outcomes_csv (the labels)")


class Executor(base_executor.BaseExecutor):
    """Runs the ingestion core on one span and writes examples plus the ingestion report."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        check_parameters(exec_properties)
        key = pseudonym_key(
            IngestionSettings(key_env=exec_properties["key_env"], key_file=exec_properties["key_file"])
        )
        mode = exec_properties["mode"]
        first_day = datetime.date.fromisoformat(exec_properties["first_day"])

        def ingest(days_back: int):
            return ingest_span(
                exec_properties["landing_root"],
                exec_properties["learners_csv"],
                exec_properties.get("outcomes_csv") or None,
                first_day=first_day - datetime.timedelta(days=days_back),
                span=exec_properties["span"],
                window_days=exec_properties["window_days"],
                key=key,
                clock_skew_minutes=exec_properties["clock_skew_minutes"],
                eval_fraction=exec_properties["eval_fraction"],
                label_column=exec_properties["label_column"],
                mode=mode,
                interventions_db=exec_properties.get("interventions_db") or None,
            )

        result = ingest(0)
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        per_split = split_examples(result.examples, mode)
        offsets = (
            cut_offsets(
                exec_properties["span"],
                exec_properties["window_days"],
                exec_properties.get("training_cuts") or 1,
                exec_properties.get("cut_step_days") or 3,
            )
            if mode == "training"
            else [0]
        )
        cuts = [{"days_back": 0, "train_examples": per_split.get("train", result.examples).num_rows}]
        for days_back in offsets[1:]:
            # Earlier windows of the same learners, for training only: evaluation stays the span's
            # own question (comparable with the champion's), and the same split by pseudonym keeps
            # a learner's cuts together.
            earlier = split_examples(ingest(days_back).examples, mode)["train"]
            per_split["train"] = pa.concat_tables([per_split["train"], earlier])
            cuts.append({"days_back": days_back, "train_examples": earlier.num_rows})
        examples.split_names = artifact_utils.encode_split_names(list(per_split))
        written = {
            name: write_split(table, Path(artifact_utils.get_split_uri([examples], name)))
            for name, table in per_split.items()
        }
        examples.span = exec_properties["span"]
        examples.version = 0
        examples.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
        examples.set_string_custom_property("file_format", "tfrecords_gzip")
        examples.set_int_custom_property("examples", sum(written.values()))

        report = artifact_utils.get_single_instance(output_dict["report"])
        report.span = exec_properties["span"]
        counts = dict(result.counts)
        counts["examples_per_split"] = written
        counts["training_cuts"] = cuts
        counts[SPAN_KEY] = exec_properties["span"]
        result.write_reports(report.uri)
        Path(report.uri, "counts.json").write_text(json.dumps(counts, indent=2, sort_keys=True))
        for name in ("input_records", "accepted", "quarantined"):
            report.set_int_custom_property(name, int(counts[name]))
        logging.info(
            "span %d: %d records in, %d accepted, %d quarantined; examples %s; interventions joined %d (store %s)",
            exec_properties["span"],
            counts["input_records"],
            counts["accepted"],
            counts["quarantined"],
            written,
            counts["interventions"]["joined"],
            counts["interventions"]["store"],
        )
