"""The champion: which model is being served, what it was trained on, how it was judged, its scores.

One definition for every stage that asks (the pipeline's no-regression baseline, the manager's
comparison, the drift monitor, the skew check, the early-warning job, the model server):

**The champion is the newest complete version under ``<serving_root>/<model_name>/``** (TF Serving's
layout: numbered directories, the highest one served). Pusher writes a new version for every approved,
blessed candidate; ``make rollback`` copies an earlier model to a new, higher version. Its TFX run is
the run whose Pusher pushed that directory, found in ML Metadata by ``pushed_destination``, or for a
rolled-back copy by the SavedModel fingerprint of the original push. From that run come its training
statistics and schema (StatisticsGen, ImportSchemaGen) and its evaluation at promotion (FairnessGate).

Heavy imports (ML Metadata, TensorFlow) happen inside the functions that need them, so the model
server and the plain-Python stages import this module for free.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropout.contract import features as F

_VERSION_DIR = re.compile(r"^[0-9]+$")
STATS_FILE = "FeatureStats.pb"


# --- The served versions (TF Serving layout) -----------------------------------------------------


def version_dirs(model_dir: str | Path) -> dict[int, Path]:
    """Numbered version directories that hold a complete SavedModel (``saved_model.pb`` present)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    found = {}
    for child in model_dir.iterdir():
        if child.is_dir() and _VERSION_DIR.match(child.name) and (child / "saved_model.pb").is_file():
            found[int(child.name)] = child
    return found


def fingerprint(model_dir: str | Path) -> bytes | None:
    """The SavedModel's ``fingerprint.pb`` (identical for identical models), or None."""
    path = Path(model_dir) / "fingerprint.pb"
    return path.read_bytes() if path.is_file() else None


def choose_push(
    pushes: Iterable[tuple[int, str]],
    served: str | Path | None,
    fingerprint_of: Callable[[str], bytes | None],
) -> tuple[int, str] | None:
    """The push (``(artifact id, how matched)``) that produced the served directory, or None.

    Args:
        pushes: ``(PushedModel artifact id, pushed destination)`` of pushes that pushed.
        served: the champion's directory (the newest version), or None when nothing is served.
        fingerprint_of: reads a directory's SavedModel fingerprint (``fingerprint``).
    """
    if served is None:
        return None
    newest_first = sorted(pushes, reverse=True)
    target = Path(served).resolve()
    for push_id, destination in newest_first:
        if Path(destination).resolve() == target:
            return push_id, "pushed_destination"
    mine = fingerprint_of(str(served))
    if mine is not None:
        for push_id, destination in newest_first:
            if fingerprint_of(destination) == mine:
                return push_id, "saved_model_fingerprint"
    return None


# --- The champion's TFX run ----------------------------------------------------------------------


@dataclass(frozen=True)
class Champion:
    """The served model and the TFX run that produced it."""

    version: int
    path: Path  # the served SavedModel directory
    run_id: str | None  # TFX pipeline run whose Pusher pushed it (None: unknown to this ML Metadata)
    matched_by: str  # "pushed_destination" | "saved_model_fingerprint" | "" (run unknown)


def _pushes(store) -> list[tuple[int, str]]:
    """``(artifact id, destination)`` of every PushedModel that really pushed."""
    out = []
    for artifact in store.get_artifacts_by_type("PushedModel"):
        props = artifact.custom_properties
        if props.get("pushed") and props["pushed"].int_value == 1 and props.get("pushed_destination"):
            out.append((artifact.id, props["pushed_destination"].string_value))
    return out


def _run_of(store, artifact_id: int) -> str | None:
    """Name of the pipeline run whose execution output ``artifact_id``."""
    from ml_metadata.proto import metadata_store_pb2

    run_type = store.get_context_type("pipeline_run")
    for event in store.get_events_by_artifact_ids([artifact_id]):
        if event.type == metadata_store_pb2.Event.OUTPUT:  # type: ignore[attr-defined]
            for ctx in store.get_contexts_by_execution(event.execution_id):
                if ctx.type_id == run_type.id:
                    return str(ctx.name)
    return None


def pushed_by(metadata_path: str | Path, model_path: str | Path) -> tuple[str | None, str]:
    """``(TFX run id, how matched)`` of the push that produced ``model_path``; ``(None, "")`` when none did."""
    from dropout.pipeline import outputs

    if not Path(metadata_path).is_file():
        return None, ""
    store = outputs.open_store(str(metadata_path))
    chosen = choose_push(_pushes(store), model_path, fingerprint)
    if chosen is None:
        return None, ""
    return _run_of(store, chosen[0]), chosen[1]


def find_champion(
    metadata_path: str | Path, model_dir: str | Path, *, exclude_run: str | None = None
) -> Champion | None:
    """The champion under ``model_dir`` and its TFX run; None before the first push.

    Args:
        metadata_path: the pipeline's ML Metadata (SQLite file); a missing file means no known run.
        model_dir: ``<serving_root>/<model_name>``.
        exclude_run: a candidate's own run: when the newest version is its push (a re-run after
            Pusher), the version before it is the champion the candidate is compared with.
    """
    versions = version_dirs(model_dir)
    for version in sorted(versions, reverse=True):
        run_id, matched_by = pushed_by(metadata_path, versions[version])
        if exclude_run is not None and run_id == exclude_run:
            continue
        return Champion(version, versions[version], run_id, matched_by)
    return None


@dataclass(frozen=True)
class TrainingRun:
    """What a model was trained on and how it was judged, from its TFX run's outputs."""

    run_id: str
    span: int | None
    statistics: Path  # Split-train/FeatureStats.pb of the run's StatisticsGen
    schema: Path  # schema.pbtxt of the run's ImportSchemaGen
    metrics: dict[str, float]  # overall metrics of its evaluation (the FairnessGate's copy of TFMA's)
    matched_by: str = ""  # how the served model was matched to this run (``Champion.matched_by``)


def training_run(metadata_path: str | Path, pipeline_name: str, run_id: str) -> TrainingRun:
    """The training statistics, schema and evaluation of TFX run ``run_id``.

    Raises:
        LookupError: the run is not in ML Metadata, or its statistics or schema files were removed.
    """
    from dropout.pipeline import outputs

    run = outputs.run_outputs(str(metadata_path), pipeline_name, run_id)
    statistics = Path(run.uri("StatisticsGen", "statistics")) / "Split-train" / STATS_FILE
    schema_node = "ImportSchemaGen" if "ImportSchemaGen" in run.artifacts else "SchemaGen"
    schema = Path(run.uri(schema_node, "schema")) / "schema.pbtxt"
    for path in (statistics, schema):
        if not path.is_file():
            raise LookupError(
                f"run {run_id}: {path} is missing; the champion's training outputs were removed"
            )
    try:
        metrics = outputs.overall_metrics(outputs.read_fairness(run.uri("FairnessGate", "blessing")))
    except (LookupError, OSError):
        metrics = {}
    span = run.properties("StatisticsGen", "statistics").get("span")
    return TrainingRun(run_id, None if span is None else int(span), statistics, schema, metrics)


def champion_training(metadata_path: str | Path, pipeline_name: str, model_path: str | Path) -> TrainingRun:
    """``training_run`` of the pushed model at ``model_path`` (a version directory the champion was, or is).

    Raises:
        LookupError: no ML Metadata, the model is not the push of any run in it, or that run's outputs are gone.
    """
    if not Path(metadata_path).is_file():
        raise LookupError(
            f"no ML Metadata at {metadata_path}: cannot find the champion's training statistics"
        )
    run_id, matched_by = pushed_by(metadata_path, model_path)
    if run_id is None:
        raise LookupError(
            f"champion {model_path} is not the push of any TFX run in {metadata_path} "
            "(checked by pushed destination and SavedModel fingerprint)"
        )
    return dataclasses.replace(training_run(metadata_path, pipeline_name, run_id), matched_by=matched_by)


# --- Scoring with the champion -------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A pushed model loaded for scoring: its ``raw_features`` signature and the loaded object."""

    version: int
    path: Path
    predict: Any  # the raw_features concrete function
    owner: Any  # keeps the loaded SavedModel (variables, Transform layer) alive


def load(model_dir: str | Path) -> LoadedModel:
    """Load the champion (the newest version under ``model_dir``) for scoring.

    Raises:
        FileNotFoundError: no version has been pushed yet.
        KeyError: the model lacks the ``raw_features`` signature (pushed before it existed).
    """
    import tensorflow as tf

    versions = version_dirs(model_dir)
    if not versions:
        raise FileNotFoundError(f"no pushed model under {model_dir}; run the training pipeline first")
    version = max(versions)
    loaded = tf.saved_model.load(str(versions[version]))
    if F.RAW_FEATURES_SIGNATURE not in loaded.signatures:
        raise KeyError(
            f"model version {version} has no '{F.RAW_FEATURES_SIGNATURE}' signature; retrain with the current Trainer"
        )
    return LoadedModel(version, versions[version], loaded.signatures[F.RAW_FEATURES_SIGNATURE], loaded)


def model_inputs(columns: dict[str, np.ndarray], rows: slice | np.ndarray | None = None) -> dict[str, Any]:
    """The raw model inputs of ``columns`` (``dropout.ingestion.aggregate.feature_columns``) as tensors."""
    import tensorflow as tf

    sel = slice(None) if rows is None else rows
    out = {}
    for key in (*F.sequence_keys(), *F.NUMERIC_CONTEXT):
        out[key] = tf.constant(np.asarray(columns[key][sel], np.float32))
    for key in F.CATEGORICAL_CONTEXT:
        out[key] = tf.constant(np.asarray(columns[key][sel], dtype=object).astype(bytes))
    return out


def score(model: LoadedModel, columns: dict[str, np.ndarray], batch_size: int = 2048) -> np.ndarray:
    """Risk per learner, float32 ``[n]``; ``columns`` as ``feature_columns`` returns them."""
    n = len(columns[F.CATEGORICAL_CONTEXT[0]])
    risks = [
        model.predict(**model_inputs(columns, slice(start, start + batch_size)))[F.RISK_OUTPUT]
        .numpy()
        .reshape(-1)
        for start in range(0, n, batch_size)
    ]
    return np.concatenate(risks) if risks else np.zeros(0, np.float32)
