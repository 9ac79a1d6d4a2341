"""Benchmark: the work of one training span as a plain script, for the overhead ratio of orchestration.

The same work a training DAG run does for the model, without TFX, Beam, ML Metadata, Airflow or MLflow:
the project's own ingestion (``ingest_span``: validation, quarantine, pseudonyms, daily sequences), the
Transform step in numpy (z-scores over active days, vocabularies), the project's Keras model
(``build_model``, class weights, early stopping on validation AUC, the configured epochs and batch
size), evaluation with sklearn (AUC, PR-AUC, precision / recall / F1 at the threshold, precision in
the top fraction) and the model saved as a SavedModel. What it leaves out is what the orchestration
adds: statistics, schema and drift checks, TFMA's sliced evaluation and plots, lineage, reviews,
tracking, push.

    .venv-tfx/bin/python benchmarks/bench_plain.py --data work/data --span 0
    DROPOUT__MODEL__EPOCHS=5 .venv-tfx/bin/python benchmarks/bench_plain.py --data /srv/bench/data

Prints wall and CPU seconds per step and in all; the last line is
``plain script: <wall> s wall, <cpu> CPU-s`` (compare with the orchestrated run in docs/figures.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Steps:
    """Wall and CPU seconds per step."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []
        self._start = (time.perf_counter(), time.process_time())

    def done(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.rows.append((name, wall - self._start[0], cpu - self._start[1]))
        print(f"{name:12s} {wall - self._start[0]:8.1f} s wall {cpu - self._start[1]:8.1f} CPU-s", flush=True)
        self._start = (wall, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(REPO / "config" / "default.toml"))
    parser.add_argument("--data", default=None, help="data root (default: the settings' data.root)")
    parser.add_argument("--span", type=int, default=0)
    parser.add_argument("--out", default=None, help="where the SavedModel goes (default: a temp dir)")
    args = parser.parse_args()
    steps = Steps()
    started = (time.perf_counter(), time.process_time())

    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    from dropout.contract import features as F
    from dropout.contract.settings import load_settings, pseudonym_key
    from dropout.ingestion import SPLIT_COLUMN, ingest_span
    from dropout.ingestion.aggregate import feature_columns

    settings = load_settings(args.config)
    data = Path(args.data or settings.data.root)
    window = settings.data.window_days
    steps.done("imports")

    result = ingest_span(
        data / "landing",
        data / "learners.csv",
        data / "outcomes.csv",
        first_day=dt.date.fromisoformat(settings.data.first_day),
        span=args.span,
        window_days=window,
        key=pseudonym_key(settings.ingestion),
        clock_skew_minutes=settings.ingestion.clock_skew_minutes,
        eval_fraction=settings.ingestion.eval_fraction,
        label_column=settings.data.label_column,
        mode="training",
    )
    columns = feature_columns(result.examples, window)
    split = np.asarray(result.examples.column(SPLIT_COLUMN).to_pylist())
    train, evaluate = np.flatnonzero(split == "train"), np.flatnonzero(split == "eval")
    steps.done("ingestion")

    # Transform, in numpy: statistics from the train split only, as TF Transform's analysers.
    inputs: dict[str, np.ndarray] = {}
    active = columns[F.ACTIVE_MASK_KEY] > 0.5
    for key in F.SEQUENCE_FEATURES:
        fit = columns[key][train][active[train]]
        mean, std = (float(fit.mean()), float(np.sqrt(max(fit.var(), 1e-12)))) if fit.size else (0.0, 1.0)
        inputs[F.transformed_name(key)] = np.where(active, (columns[key] - mean) / std, 0.0).astype(
            np.float32
        )
    for key in F.MASK_FEATURES:
        inputs[F.transformed_name(key)] = columns[key].astype(np.float32)
    vocab_sizes = {}
    for key in F.CATEGORICAL_CONTEXT:
        vocabulary = {v: i for i, v in enumerate(sorted(set(columns[key][train].tolist())))}
        vocab_sizes[key] = len(vocabulary)
        inputs[F.transformed_name(key)] = np.array(
            [vocabulary.get(v, len(vocabulary)) for v in columns[key]], np.int64
        )
    for key in F.NUMERIC_CONTEXT:
        fit = columns[key][train]
        inputs[F.transformed_name(key)] = ((columns[key] - fit.mean()) / max(float(fit.std()), 1e-6)).astype(
            np.float32
        )
    labels = columns[F.LABEL_KEY].astype(np.float32)
    steps.done("transform")

    import tf_keras as keras

    from dropout.pipeline import model as model_lib

    keras.utils.set_random_seed(7)
    model = settings.model
    built = model_lib.build_model(model, window, vocab_sizes)

    def rows(selection: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[selection] for k, v in inputs.items()}

    built.fit(
        rows(train),
        labels[train],
        validation_data=(rows(evaluate), labels[evaluate]),
        epochs=model.epochs,
        batch_size=model.batch_size,
        class_weight=model_lib.class_weights(labels[train].astype(np.int64)),
        callbacks=[
            model_lib.RiskEarlyStopping(
                monitor="val_auc",
                mode="max",
                patience=model.early_stopping_patience,
                restore_best_weights=True,
            )
        ],
        verbose=0,
    )
    steps.done("training")

    risk = np.asarray(built.predict(rows(evaluate), batch_size=512, verbose=0), np.float64).reshape(-1)
    truth = labels[evaluate].astype(int)
    threshold = settings.evaluation.threshold
    flagged = (risk >= threshold).astype(int)
    top = np.argsort(-risk)[: max(1, int(np.ceil(settings.evaluation.top_fraction * len(risk))))]
    metrics = {
        "auc": roc_auc_score(truth, risk),
        "pr_auc": average_precision_score(truth, risk),
        "precision": precision_score(truth, flagged, zero_division=0),
        "recall": recall_score(truth, flagged, zero_division=0),
        "f1": f1_score(truth, flagged, zero_division=0),
        "precision_at_top": float(truth[top].mean()),
    }
    steps.done("evaluation")

    out = Path(args.out or tempfile.mkdtemp(prefix="bench-plain-"))
    built.save(str(out / "model"), save_format="tf")
    steps.done("save")

    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    print(
        json.dumps(
            {
                "learners": int(len(labels)),
                "train": int(len(train)),
                "eval": int(len(evaluate)),
                "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
                "steps": {n: [round(w, 1), round(c, 1)] for n, w, c in steps.rows},
            }
        )
    )
    print(f"plain script: {wall:.1f} s wall, {cpu:.1f} CPU-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
