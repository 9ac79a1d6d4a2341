"""A real pushed-model directory without a pipeline run, for tests, demos and benchmarks.

Generated learners go through the real ingestion (``dropout.ingestion.ingest_span``), the real
``preprocessing_fn`` through TF Transform, a small model from ``dropout.pipeline.model.build_model`` and
the Trainer's own ``export_signatures``, so the exported SavedModel has exactly the signatures the
Pusher publishes (``serving_default`` on serialized tf.Examples, ``raw_features`` on named
tensors). It takes about a minute on two cores instead of the pipeline's ten.

Usage::

    python -m lab.fixture_model --out /tmp/serving/dropout_risk --versions 1 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dropout.contract import features as F

log = logging.getLogger(__name__)
FIXTURE_KEY = b"fixture-model-key"  # the pseudonym key of the generated learners (test data only)


def rows_from_table(table: pa.Table) -> list[dict[str, Any]]:
    """Arrow examples (``ingest_span`` output) as TF Transform instance dicts of numpy values."""
    columns = table.to_pydict()
    rows = []
    for i in range(table.num_rows):
        row: dict[str, Any] = {}
        for key, values in columns.items():
            value = values[i]
            if isinstance(value, list):
                row[key] = np.asarray(value, np.float32)
            elif isinstance(value, str):
                row[key] = value.encode()
            else:
                row[key] = value
        rows.append(row)
    return rows


def ingest_generated(
    data_dir: Path,
    learners: int,
    window_days: int,
    seed: int,
    mode: str = "training",
    first_offset: int = 0,
    days: int | None = None,
):
    """Generate ``learners`` x ``days`` (default ``window_days``) landing data under ``data_dir`` (once)
    and ingest the window of ``window_days`` days starting ``first_offset`` days in."""
    from dropout.ingestion.span import ingest_span
    from lab.generator import GeneratorConfig, generate

    config = GeneratorConfig(learners=learners, days=days or window_days, seed=seed)
    if not (data_dir / "learners.csv").exists():
        generate(data_dir, config)
    return ingest_span(
        data_dir / "landing",
        data_dir / "learners.csv",
        data_dir / "outcomes.csv",
        first_day=dt.date.fromisoformat(config.first_day) + dt.timedelta(days=first_offset),
        span=0,
        window_days=window_days,
        key=FIXTURE_KEY,
        mode=mode,
        threads=1,
    )


def export_models(
    model_dir: str | Path,
    versions: list[int],
    *,
    learners: int = 300,
    window_days: int = F.DEFAULT_WINDOW_DAYS,
    epochs: int = 2,
    seed: int = 0,
    work_dir: str | Path | None = None,
    cut_offsets: tuple[int, ...] = (0,),
    data_days: int | None = None,
) -> dict[str, Any]:
    """Train one small model per version on generated learners and export each as ``model_dir/<version>``.

    Each version gets a different initial seed, so versions give different risks for the same
    learner (tests tell them apart). ``cut_offsets``: the training windows, as days from the first
    generated day (``(0,)``: one window at the start of the course, as a span trains today; several:
    the same learners cut at several points, so the model sees the windows the daily early-warning
    job scores); ``data_days`` generated days (default: enough for the last cut). Returns the
    training rows and the Transform output directory.
    """
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    import tf_keras as keras
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    from dropout.contract.settings import ModelSettings
    from dropout.pipeline import model as model_lib
    from dropout.pipeline import schema as schema_lib
    from dropout.pipeline.trainer import export_signatures
    from dropout.pipeline.transform import preprocessing_fn

    work = Path(work_dir or tempfile.mkdtemp(prefix="fixture-model-"))
    t0 = time.perf_counter()
    days = data_days or window_days + max(cut_offsets)
    results = [
        ingest_generated(work / "data", learners, window_days, seed, first_offset=o, days=days)
        for o in cut_offsets
    ]
    result = results[0]
    rows = [row for r in results for row in rows_from_table(r.examples)]
    repo = Path(__file__).resolve().parents[1]
    schema = schema_lib.schema_for_window(
        schema_lib.load_schema(repo / "schemas" / "schema.pbtxt"), window_days
    )
    transform_dir = work / "transform"
    with tft_beam.Context(temp_dir=str(work / "tft-tmp")):
        (transformed, _), transform_fn = (
            rows,
            dataset_metadata.DatasetMetadata(schema),
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
    # The raw metadata is what the Trainer's signatures read the raw feature spec from.
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema), str(transform_dir / "metadata"))
    tft_output = tft.TFTransformOutput(str(transform_dir))
    log.info("fixture model: ingestion and Transform took %.1f s", time.perf_counter() - t0)

    inputs = {name: np.stack([np.asarray(r[name]) for r in transformed]) for name in model_lib.input_names()}
    labels = np.asarray([r[F.LABEL_KEY] for r in transformed], np.int64)
    vocab_sizes = {key: tft_output.vocabulary_size_by_name(key) for key in F.CATEGORICAL_CONTEXT}
    settings = ModelSettings(lstm_units=16, dense_units=8, epochs=epochs)
    for version in versions:
        keras.utils.set_random_seed(seed + version)
        model = model_lib.build_model(settings, window_days, vocab_sizes)
        model.fit(
            inputs,
            labels,
            epochs=epochs,
            batch_size=32,
            class_weight=model_lib.class_weights(labels),
            verbose=0,
        )
        target = Path(model_dir) / str(version)
        model.save(str(target), save_format="tf", signatures=export_signatures(model, tft_output))
        tf.keras.backend.clear_session()
        log.info("fixture model: version %d exported after %.1f s", version, time.perf_counter() - t0)
    return {"rows": rows, "examples": result.examples, "transform_dir": transform_dir, "work_dir": work}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the model's directory: <serving_root>/<model_name>")
    parser.add_argument("--versions", type=int, nargs="+", default=[1])
    parser.add_argument("--learners", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    export_models(args.out, args.versions, learners=args.learners, epochs=args.epochs)
    print(f"exported versions {args.versions} under {args.out}")


if __name__ == "__main__":
    main()
