"""End to end: the real TFX pipeline on a small generated dataset, two spans, through the per-node runner.

Asserts what each component produced: reconciled ingestion with quarantine equal to the injected faults,
interventions the early-warning job recorded joined point in time and sliced in the evaluation,
a blessed and pushed model whose AUC on held-out learners clears a floor the generated signal supports,
drift flagged for the span that brings a new cohort, safe node re-runs, a servable pushed model, and no
raw identifier anywhere under the pipeline root, the serving root or ML Metadata.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from pathlib import Path

import _worlds  # tests/_worlds.py
import pytest

from dropout.contract import features as F
from dropout.contract.settings import load_settings
from dropout.ingestion.pseudonymise import pseudonym
from dropout.pipeline import outputs, runner
from lab.generator import RAW_ID_PATTERNS, GeneratorConfig, generate

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
LEARNERS = 1200
WINDOW = 10
AUC_FLOOR = 0.72  # logistic regression on 10-day totals reaches ~0.88 on this generator; leave room for noise
RUNS = {0: "e2e-span0", 1: "e2e-span1"}
INTERVENED, LATE = 100, 20  # learners acted on within span 0, and only during span 1


def _seed_store(data_root: Path, db: Path, key: bytes) -> None:
    """What earlier early-warning runs recorded: INTERVENED learners acted on 2026-09-05 (outcome
    checked 2026-09-09, came back or not at random), LATE more acted on 2026-09-14 (after span 0)."""
    from dropout.feedback import store

    with (data_root / "learners.csv").open(newline="") as fh:
        enrolled = [r for r in csv.DictReader(fh) if r["enrolled_on"] <= "2026-09-01"]
    chosen = random.Random(7).sample(enrolled, INTERVENED + LATE)
    con = store.connect(db)
    for i, r in enumerate(chosen):
        learner, course = pseudonym(r["learner_id"], key), r["course_id"]
        acted = "2026-09-05" if i < INTERVENED else "2026-09-14"
        store.record_intervention(
            con,
            run_id=f"warn-{acted}",
            learner=learner,
            course_id=course,
            band="high",
            action="email_learner",
            status="sent",
            detail="",
            acted_at=acted,
            outcome_due=acted,
        )
        if i < INTERVENED:
            store.set_outcome(con, f"warn-{acted}", learner, course, i % 2 == 0, "2026-09-09")
    con.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    manifest = generate(
        root / "data",
        GeneratorConfig(
            learners=LEARNERS,
            days=2 * WINDOW,
            seed=3,
            malformed_rate=0.003,
            duplicate_rate=0.005,
            clock_skew_rate=0.01,
            drift_cohort_from_day=WINDOW,
            app_version_change_day=WINDOW,
        ),
    )
    env = _worlds.world_env(
        root,
        "e2e-test-key",
        DROPOUT__PIPELINE__BEAM_WORKERS="0",
        DROPOUT__MODEL__EPOCHS="12",
        DROPOUT__MODEL__BATCH_SIZE="32",
        DROPOUT__EVALUATION__AUC_FLOOR="0.6",
        DROPOUT__EVALUATION__REGRESSION_TOLERANCE="0.2",
    )
    _seed_store(root / "data", root / "warning" / "risk.sqlite", env["DROPOUT_PSEUDONYM_KEY"].encode())
    settings = load_settings(REPO / "config" / "default.toml", env=env)
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DROPOUT_PSEUDONYM_KEY", env["DROPOUT_PSEUDONYM_KEY"])  # the ExampleGen executor reads it
        for span, run_id in RUNS.items():
            ir = runner.compile_ir(settings, span)
            results[span] = runner.run_pipeline(ir, run_id)
    return {"root": root, "manifest": manifest, "settings": settings, "results": results}


def _outputs(world, span):
    s = world["settings"]
    return outputs.run_outputs(s.pipeline.metadata_path, s.pipeline.name, RUNS[span])


def test_every_component_ran_once(world):
    ran = {r.node_id: r.status for r in world["results"][0]}
    executed = _outputs(world, 0).executions
    for node in (
        "LearnerExampleGen",
        "StatisticsGen",
        "ImportSchemaGen",
        "ExampleValidator",
        "Transform",
        "Trainer",
        "Evaluator",
        "FairnessGate",
        "Pusher",
    ):
        assert ran[node] == "ran", node
        assert len(executed[node]) == 1, node
    # The first span has no previous statistics, so there is no drift baseline yet.
    assert "DistributionValidator" not in _outputs(world, 0).artifacts


def test_ingestion_reconciles_with_injected_faults(world):
    manifest = world["manifest"]
    first = sorted(manifest.per_day)[:WINDOW]
    injected = {
        reason: sum(manifest.per_day[d]["injected"][reason] for d in first) for reason in manifest.injected
    }
    lines = sum(manifest.per_day[d]["lines"] for d in first)
    counts = json.loads(
        Path(_outputs(world, 0).uri("LearnerExampleGen", "report"), "counts.json").read_text()
    )
    assert counts["input_records"] == lines
    assert counts["input_records"] == counts["accepted"] + counts["quarantined"]
    assert counts["by_reason"] == injected
    assert sum(injected.values()) > 0


def test_model_blessed_pushed_and_above_floor(world):
    run = _outputs(world, 0)
    fairness = outputs.read_fairness(run.uri("FairnessGate", "blessing"))
    metrics = outputs.overall_metrics(fairness)
    assert metrics["auc"] >= AUC_FLOOR, metrics
    assert 0.0 <= metrics["precision_at_top"] <= 1.0
    assert fairness["blessed"] is True, fairness["reason"]
    pushed = run.properties("Pusher", "pushed_model")
    assert pushed["pushed"] == 1
    destination = Path(pushed["pushed_destination"])
    assert (
        destination.parent
        == Path(world["settings"].pipeline.serving_root) / world["settings"].pipeline.model_name
    )
    assert (destination / "saved_model.pb").exists()


def test_pushed_model_serves_examples(world):
    import tensorflow as tf

    run = _outputs(world, 0)
    destination = run.properties("Pusher", "pushed_model")["pushed_destination"]
    examples_dir = Path(run.uri("LearnerExampleGen", "examples")) / "Split-eval"
    records = list(
        tf.data.TFRecordDataset([str(p) for p in examples_dir.glob("*.gz")], compression_type="GZIP")
        .take(16)
        .as_numpy_iterator()
    )
    serve = tf.saved_model.load(destination).signatures["serving_default"]
    risk = serve(examples=tf.constant(records))["risk"].numpy()
    assert risk.shape == (16, 1)
    assert ((risk >= 0) & (risk <= 1)).all()
    raw_inputs = tf.saved_model.load(destination).signatures["raw_features"].structured_input_signature[1]
    assert set(F.INTERVENTION_CONTEXT) <= set(raw_inputs)


def test_interventions_recorded_by_the_early_warning_job_reach_training(world):
    for span, (joined, after) in {0: (INTERVENED, LATE), 1: (INTERVENED + LATE, 0)}.items():
        report = _outputs(world, span).uri("LearnerExampleGen", "report")
        counts = json.loads(Path(report, "counts.json").read_text())["interventions"]
        assert (counts["store"], counts["rows"], counts["joined"], counts["after_window"]) == (
            "read",
            INTERVENED + LATE,
            joined,
            after,
        ), counts
        assert counts["examples_intervened"] == joined and counts["examples_with_outcome"] == INTERVENED
    fairness = outputs.read_fairness(_outputs(world, 0).uri("FairnessGate", "blessing"))
    outcome_slices = {
        float(row["slice"][F.INTERVENTION_OUTCOME_KEY]): row["metrics"]
        for row in fairness["slices"]
        if set(row["slice"]) == {F.INTERVENTION_OUTCOME_KEY}
    }
    assert set(outcome_slices) == {-1.0, 0.0, 1.0}, sorted(outcome_slices)
    assert (
        sum(m["example_count"] for m in outcome_slices.values())
        == outputs.overall_metrics(fairness)["example_count"]
    )


def test_drift_flagged_for_the_span_with_a_new_app_version(world):
    run = _outputs(world, 1)
    anomalies = outputs.read_anomalies(run.uri("DistributionValidator", "anomalies"))
    drifted = {a["feature"]: a for a in anomalies if a["split"] == "train_train"}
    # App 3.0 halves dwell times and doubles logins from the first day of span 1.
    assert {"mean_dwell_seconds", "logins"} & set(drifted), anomalies
    for anomaly in drifted.values():
        measurement = anomaly["measurements"][0]
        assert measurement["value"] > measurement["threshold"]


def test_the_drift_monitor_compares_as_the_pipeline_does(world):
    """One definition of drift: ``drift.compare`` on the two spans' statistics gives the pipeline's anomalies."""
    import tensorflow_data_validation as tfdv

    from dropout.pipeline import drift
    from dropout.pipeline import schema as schema_lib

    def stats(span):
        uri = _outputs(world, span).uri("StatisticsGen", "statistics")
        return tfdv.load_stats_binary(str(Path(uri) / "Split-train" / "FeatureStats.pb"))

    schema = schema_lib.load_schema(
        Path(_outputs(world, 1).uri("ImportSchemaGen", "schema")) / schema_lib.SCHEMA_FILE
    )
    by_monitor = outputs.anomaly_rows(drift.compare(stats(1), stats(0), schema), "train_train")
    by_pipeline = [
        a
        for a in outputs.read_anomalies(_outputs(world, 1).uri("DistributionValidator", "anomalies"))
        if a["split"] == "train_train"
    ]
    assert by_monitor == by_pipeline and by_pipeline


def test_rerunning_a_completed_node_is_a_no_op(world):
    before = _outputs(world, 0).executions["Trainer"]
    ir = runner.compile_ir(world["settings"], 0)
    result = runner.run_node(ir, "Trainer", RUNS[0])
    assert result.status == "skipped"
    assert result.execution_id == before[0]
    assert _outputs(world, 0).executions["Trainer"] == before


def _readable(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def test_no_raw_identifier_in_any_artifact(world):
    s = world["settings"]
    patterns = {name: re.compile(p.pattern.encode()) for name, p in RAW_ID_PATTERNS.items()}
    roots = [Path(s.pipeline.root), Path(s.pipeline.serving_root), Path(s.pipeline.metadata_path).parent]
    scanned = 0
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            data = _readable(path)
            scanned += 1
            for name, pattern in patterns.items():
                match = pattern.search(data)
                assert match is None, f"raw {name} {match.group(0)!r} in {path}"
    assert scanned > 50
    # The scan can find what it looks for: the landing data does hold raw ids.
    landing = next((Path(s.data.root) / "landing").rglob("*.jsonl")).read_bytes()
    assert patterns["learner_id"].search(landing)
