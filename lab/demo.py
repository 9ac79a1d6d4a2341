"""The main job on embedded defaults: generate learner logs, run the pipeline on two spans, report.

Span 0 trains the first model. Span 1 brings a new cohort that behaves differently, so the drift
check between spans has something to find; its model is evaluated against span 0's blessed model.
Everything lands under ``work/`` (SQLite ML Metadata, local files); nothing to install by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

from dropout.contract.settings import Settings, load_settings
from lab.generator import GeneratorConfig, generate


def ensure_data(settings: Settings, learners: int, seed: int) -> None:
    """Generate two spans of landing data unless a dataset is already there."""
    root = Path(settings.data.root)
    if (root / "manifest.json").exists():
        logging.info("using the dataset already in %s", root)
        return
    window = settings.data.window_days
    config = GeneratorConfig(
        learners=learners,
        days=2 * window,
        seed=seed,
        first_day=settings.data.first_day,
        malformed_rate=0.002,
        duplicate_rate=0.005,
        clock_skew_rate=0.01,
        drift_cohort_from_day=window,
    )
    generate(root, config)


def summarise(settings: Settings, run_id: str, span: int) -> dict:
    """What one pipeline run produced, in the words the people who act on it use."""
    from dropout.pipeline import outputs

    run = outputs.run_outputs(settings.pipeline.metadata_path, settings.pipeline.name, run_id)
    counts = json.loads(Path(run.uri("LearnerExampleGen", "report"), "counts.json").read_text())
    fairness = outputs.read_fairness(run.uri("FairnessGate", "blessing"))
    metrics = outputs.overall_metrics(fairness)
    pushed = run.artifacts.get("Pusher", {}).get("pushed_model", [{}])[0].get("properties", {})
    return {
        "span": span,
        "run_id": run_id,
        "ingestion": {k: counts[k] for k in ("input_records", "accepted", "quarantined", "by_reason")},
        "quarantine": run.uri("LearnerExampleGen", "report"),
        "schema_anomalies": outputs.read_anomalies(run.uri("ExampleValidator", "anomalies")),
        # No previous span (the first run): the drift check has no baseline and does not run.
        "drift_anomalies": (
            outputs.read_anomalies(run.uri("DistributionValidator", "anomalies"))
            if "DistributionValidator" in run.artifacts
            else None
        ),
        "evaluation": run.uri("Evaluator", "evaluation"),
        "metrics": {
            k: round(v, 4)
            for k, v in metrics.items()
            if k
            in (
                "auc",
                "pr_auc",
                "precision",
                "recall",
                "f1",
                "precision_at_top",
                "recall_at_top",
                "calibration",
                "example_count",
            )
        },
        "blessed": fairness["blessed"],
        "decision": fairness["reason"],
        "pushed": bool(pushed.get("pushed")),
        "pushed_to": pushed.get("pushed_destination"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="config/default.toml")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spans", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for noisy in ("absl", "apache_beam", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from dropout.pipeline import runner  # TFX: imported here, so ensure_data stays light for run_demo.sh

    settings = load_settings(args.config)
    ensure_data(settings, args.learners, args.seed)
    summaries = []
    for span in range(args.spans):
        started = time.monotonic()
        ir = runner.compile_ir(settings, span)
        run_id = f"demo-span{span}-{time.strftime('%Y%m%dT%H%M%S')}"
        results = runner.run_pipeline(ir, run_id)
        summary = summarise(settings, run_id, span)
        summary["node_seconds"] = {r.node_id: r.seconds for r in results}
        summary["seconds"] = round(time.monotonic() - started, 1)
        summaries.append(summary)
    print(json.dumps(summaries, indent=2))
    print("\nWhere things are:")
    print(f"  landing data and labels   {settings.data.root}")
    print(f"  ML Metadata (SQLite)      {settings.pipeline.metadata_path}")
    print(f"  pipeline artifacts        {settings.pipeline.root}")
    print(
        f"  pushed models (TF Serving layout) {settings.pipeline.serving_root}/{settings.pipeline.model_name}/"
    )
    for s in summaries:
        print(f"  span {s['span']}: evaluation {s['evaluation']}")
        print(
            f"          quarantine {s['quarantine']}  ({s['ingestion']['quarantined']} of "
            f"{s['ingestion']['input_records']} records)"
        )
        print(
            f"          anomalies: {len(s['schema_anomalies'])} schema, {'no baseline' if s['drift_anomalies'] is None else len(s['drift_anomalies'])} drift; "
            f"blessed={s['blessed']} pushed={s['pushed']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
