"""LearnerExampleGen executor on a tiny generated landing zone: examples, splits, span, report, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from dropout.contract import features as F
from dropout.contract.settings import Settings
from dropout.feedback import store
from dropout.pipeline.components.artifacts import IngestionReport
from dropout.pipeline.components.learner_example_gen import executor
from lab.generator import GeneratorConfig, generate

KEY_ENV = "LEARNER_EXAMPLE_GEN_TEST_KEY"


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    manifest = generate(root, GeneratorConfig(learners=40, days=10, seed=5, malformed_rate=0.05))
    return root, manifest


def _run_exec(tmp_path: Path, data_root: Path, monkeypatch, **overrides):
    monkeypatch.setenv(KEY_ENV, "executor-test-key")
    properties = {
        "landing_root": str(data_root / "landing"),
        "learners_csv": str(data_root / "learners.csv"),
        "outcomes_csv": str(data_root / "outcomes.csv"),
        "first_day": "2026-09-01",
        "span": 0,
        "window_days": 10,
        "key_env": KEY_ENV,
        "key_file": str(tmp_path / "no-key-file"),
        "clock_skew_minutes": 15,
        "eval_fraction": 0.25,
        "label_column": "dropped_out",
        "mode": "training",
    }
    properties.update(overrides)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    report = IngestionReport()
    report.uri = str(tmp_path / "report")
    Path(report.uri).mkdir(parents=True)
    executor.Executor().Do({}, {"examples": [examples], "report": [report]}, properties)
    return examples, report


def _read(split_dir: Path) -> list[tf.train.Example]:
    files = [str(p) for p in split_dir.glob("*.gz")]
    return [
        tf.train.Example.FromString(r)
        for r in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
    ]


def test_training_mode_writes_train_and_eval_with_span(tmp_path, landing, monkeypatch):
    root, manifest = landing
    examples, report = _run_exec(tmp_path, root, monkeypatch, span=0)
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples.span == 0
    train = _read(Path(examples.uri) / "Split-train")
    evaluation = _read(Path(examples.uri) / "Split-eval")
    counts = json.loads(Path(report.uri, "counts.json").read_text())
    assert counts["examples_per_split"] == {"train": len(train), "eval": len(evaluation)}
    assert len(train) + len(evaluation) == counts["examples"] > 0
    assert counts["input_records"] == manifest.lines_total
    assert report.get_int_custom_property("quarantined") == sum(manifest.injected.values())
    feature = train[0].features.feature
    assert len(feature["logins"].float_list.value) == 10
    assert feature[F.LABEL_KEY].int64_list.value[0] in (0, 1)
    assert len(feature[F.LEARNER_KEY].bytes_list.value[0]) == 20  # a pseudonym, not LRN########
    # No store given: every example still carries the intervention context, as "none".
    assert {
        (
            e.features.feature[F.INTERVENTIONS_KEY].float_list.value[0],
            e.features.feature[F.INTERVENTION_OUTCOME_KEY].float_list.value[0],
        )
        for e in train
    } == {(0.0, -1.0)}
    assert (Path(report.uri) / "quarantine.parquet").exists()


def test_serving_mode_has_one_split_and_no_label(tmp_path, landing, monkeypatch):
    root, _ = landing
    examples, _ = _run_exec(tmp_path, root, monkeypatch, mode="serving", outcomes_csv="")
    assert artifact_utils.decode_split_names(examples.split_names) == ["serving"]
    served = _read(Path(examples.uri) / "Split-serving")
    assert served and F.LABEL_KEY not in served[0].features.feature


def test_interventions_from_the_store_reach_the_examples(tmp_path, landing, monkeypatch):
    root, _ = landing
    first, _ = _run_exec(tmp_path / "without", root, monkeypatch)
    learner = _read(Path(first.uri) / "Split-train")[0].features.feature
    pseudonym = learner[F.LEARNER_KEY].bytes_list.value[0].decode()
    course = learner["course_id"].bytes_list.value[0].decode()
    db = store.store_path(tmp_path / "warning")
    con = store.connect(db)
    for run_id, acted, back, checked in (
        ("r1", "2026-09-03", True, "2026-09-08"),
        ("r2", "2026-09-12", None, None),
    ):
        store.record_intervention(
            con,
            run_id=run_id,
            learner=pseudonym,
            course_id=course,
            band="high",
            action="email_learner",
            status="sent",
            detail="",
            acted_at=acted,
            outcome_due=acted,
        )
        if back is not None:
            store.set_outcome(con, run_id, pseudonym, course, back, checked)
    con.close()
    examples, report = _run_exec(tmp_path / "with", root, monkeypatch, interventions_db=str(db))
    values = {
        (
            e.features.feature[F.LEARNER_KEY].bytes_list.value[0].decode(),
            e.features.feature["course_id"].bytes_list.value[0].decode(),
        ): (
            e.features.feature[F.INTERVENTIONS_KEY].float_list.value[0],
            e.features.feature[F.INTERVENTION_OUTCOME_KEY].float_list.value[0],
        )
        for split in ("train", "eval")
        for e in _read(Path(examples.uri) / f"Split-{split}")
    }
    # r2 was sent after the span's last day (2026-09-10): it does not count yet.
    assert values.pop((pseudonym, course)) == (1.0, 1.0)
    assert set(values.values()) == {(0.0, -1.0)}
    counts = json.loads(Path(report.uri, "counts.json").read_text())["interventions"]
    assert (counts["store"], counts["rows"], counts["joined"], counts["after_window"]) == ("read", 2, 1, 1)


def test_pipeline_passes_the_early_warning_store(tmp_path):
    from dropout.pipeline.pipeline import create_pipeline

    settings = Settings().resolve(tmp_path)
    schema = Path(__file__).resolve().parents[4] / "schemas" / "schema.pbtxt"
    pipeline = create_pipeline(settings, span=0, schema_file=str(schema))
    example_gen = next(c for c in pipeline.components if c.id == "LearnerExampleGen")
    assert example_gen.exec_properties["interventions_db"] == str(
        tmp_path / "work" / "warning" / "risk.sqlite"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ({"mode": "batch"}, "mode 'batch'"),
        ({"window_days": 0}, "window_days"),
        ({"first_day": "2026-13-01"}, "first_day"),
        ({"landing_root": "/nonexistent"}, "landing_root"),
        ({"outcomes_csv": ""}, "outcomes_csv"),
    ],
)
def test_bad_parameters_fail_clearly(tmp_path, landing, monkeypatch, override, message):
    root, _ = landing
    with pytest.raises(ValueError, match=message):
        _run_exec(tmp_path, root, monkeypatch, **override)


def test_missing_key_fails_before_reading(tmp_path, landing, monkeypatch):
    root, _ = landing
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(RuntimeError, match="no pseudonymisation key"):
        executor.Executor().Do(
            {},
            {"examples": [standard_artifacts.Examples()], "report": [IngestionReport()]},
            {
                "landing_root": str(root / "landing"),
                "learners_csv": str(root / "learners.csv"),
                "outcomes_csv": str(root / "outcomes.csv"),
                "first_day": "2026-09-01",
                "span": 0,
                "window_days": 10,
                "key_env": KEY_ENV,
                "key_file": str(tmp_path / "none"),
                "clock_skew_minutes": 15,
                "eval_fraction": 0.2,
                "label_column": "dropped_out",
                "mode": "training",
            },
        )


def test_cut_offsets_never_reach_before_the_landing_data():
    assert executor.cut_offsets(span=0, window_days=10, cuts=4, step_days=3) == [0]
    assert executor.cut_offsets(span=1, window_days=10, cuts=5, step_days=3) == [0, 3, 6, 9]
    assert executor.cut_offsets(span=2, window_days=10, cuts=3, step_days=4) == [0, 4, 8]
    with pytest.raises(ValueError, match="training_cuts"):
        executor.cut_offsets(span=1, window_days=10, cuts=0, step_days=3)


def test_training_cuts_add_earlier_windows_to_train_only(tmp_path, monkeypatch):
    """Span 1 of 20 generated days with three cuts 4 days apart: evaluation unchanged, training grows."""
    root = tmp_path / "data"
    generate(root, GeneratorConfig(learners=40, days=20, seed=6))
    one, _ = _run_exec(tmp_path / "one", root, monkeypatch, span=1)
    three, report = _run_exec(tmp_path / "three", root, monkeypatch, span=1, training_cuts=3, cut_step_days=4)

    def learners(examples, split):
        return [
            e.features.feature[F.LEARNER_KEY].bytes_list.value[0]
            for e in _read(Path(examples.uri) / f"Split-{split}")
        ]

    assert learners(three, "eval") == learners(one, "eval")  # the span's own question only
    train_one, train_three = learners(one, "train"), learners(three, "train")
    counts = json.loads(Path(report.uri, "counts.json").read_text())
    assert [c["days_back"] for c in counts["training_cuts"]] == [0, 4, 8]
    assert sum(c["train_examples"] for c in counts["training_cuts"]) == len(train_three)
    assert counts["examples_per_split"]["train"] == len(train_three) > len(train_one)
    # Earlier cuts hold the same train learners (those enrolled by then), never an eval learner.
    assert set(train_three) == set(train_one)
    assert not set(train_three) & set(learners(three, "eval"))
    assert (
        counts["input_records"]
        == json.loads(Path(tmp_path / "one" / "report" / "counts.json").read_text())["input_records"]
    )  # the span's own records are reconciled once, as before
