"""The drift baseline and champion resolvers (``tfx_pipeline.resolvers``): the plain choices, and the TFX
strategies against a real SQLite ML Metadata store holding a Pusher's lineage."""

from __future__ import annotations

import json

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from tfx_pipeline import resolvers


def test_previous_statistics_is_the_latest_earlier_span_not_rejected():
    candidates = [(0, 1), (1, 2), (2, 3), (1, 5), (3, 6)]  # (span, id); span 1 ran twice
    assert resolvers.choose_previous_statistics(candidates, span=3, rejected=set()) == 3
    assert resolvers.choose_previous_statistics(candidates, span=3, rejected={2}) == 5  # newest run of span 1
    assert resolvers.choose_previous_statistics(candidates, span=3, rejected={1, 2}) == 1
    # A re-run of span 1 compares with span 0, never with itself or a later span.
    assert resolvers.choose_previous_statistics(candidates, span=1, rejected=set()) == 1
    assert resolvers.choose_previous_statistics(candidates, span=0, rejected=set()) is None
    assert resolvers.choose_previous_statistics(candidates, span=1, rejected={0}) is None


def test_rejected_spans_are_read_from_the_steward_records(tmp_path):
    assert resolvers.rejected_spans(tmp_path / "missing") == set()
    for name in ("span-2.json", "span-10.json", "notes.txt", "span-x.json"):
        (tmp_path / name).write_text("{}")
    assert resolvers.rejected_spans(tmp_path) == {2, 10}


def test_champion_is_the_latest_push_that_pushed():
    model_of_push = {10: 1, 11: 2, 12: 3}
    # Push 12 did not push (unblessed); a manager-rejected candidate (model 4) has no push at all.
    assert resolvers.choose_champion([(10, True), (11, True), (12, False)], model_of_push) == (11, 2)
    assert resolvers.choose_champion([(10, False)], model_of_push) is None
    assert resolvers.choose_champion([], model_of_push) is None


@pytest.fixture
def store(tmp_path):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def _put(store, artifact):
    """Store a TFX artifact in ML Metadata (so it gets a real id) and return it."""
    artifact.set_mlmd_artifact_type(
        store.get_artifact_type(artifact.type_name)
        if artifact.type_name in {t.name for t in store.get_artifact_types()}
        else _register(store, artifact)
    )
    [artifact.id] = store.put_artifacts([artifact.mlmd_artifact])
    return artifact


def _register(store, artifact):
    artifact_type = artifact.artifact_type
    artifact_type.id = store.put_artifact_type(artifact_type)
    return artifact_type


def _push(store, model, pushed: bool):
    """A Pusher execution that read ``model`` and wrote a PushedModel with ``pushed``."""
    push = standard_artifacts.PushedModel()
    push.uri = f"/serving/{model.id}"
    push.set_int_custom_property("pushed", int(pushed))
    push = _put(store, push)
    execution_type = metadata_store_pb2.ExecutionType(name="Pusher")
    execution = metadata_store_pb2.Execution(type_id=store.put_execution_type(execution_type))

    [execution_id] = store.put_executions([execution])

    def event(kind, artifact_id, key):
        e = metadata_store_pb2.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id)
        e.path.steps.add().key = key
        return e

    store.put_events(
        [
            event(metadata_store_pb2.Event.INPUT, model.id, "model"),
            event(metadata_store_pb2.Event.OUTPUT, push.id, "pushed_model"),
        ]
    )
    return push


def test_pushed_model_strategy_skips_a_blessed_candidate_that_was_never_pushed(store):
    models = []
    for i in range(3):
        model = standard_artifacts.Model()
        model.uri = f"/models/{i}"
        models.append(_put(store, model))
    first = _push(store, models[0], pushed=True)
    _push(store, models[1], pushed=False)  # unblessed: Pusher ran, pushed nothing
    # models[2] was blessed but a manager rejected it: Pusher skipped, no PushedModel.
    strategy = resolvers.LatestPushedModelStrategy()
    pushes = [a for a in _all(store, standard_artifacts.PushedModel)]
    result = strategy.resolve_artifacts(store, {"model": models, "pushed_model": pushes})
    assert [m.id for m in result["model"]] == [models[0].id]
    assert [p.id for p in result["pushed_model"]] == [first.id]
    second = _push(store, models[2], pushed=True)  # a later approved push becomes the champion
    pushes = [a for a in _all(store, standard_artifacts.PushedModel)]
    result = strategy.resolve_artifacts(store, {"model": models, "pushed_model": pushes})
    assert [m.id for m in result["model"]] == [models[2].id] and [p.id for p in result["pushed_model"]] == [
        second.id
    ]
    # Before any push: no baseline (the Evaluator then checks the floors only).
    assert strategy.resolve_artifacts(store, {"model": models, "pushed_model": []}) == {
        "model": [],
        "pushed_model": [],
    }


def _all(store, cls):
    out = []
    for mlmd_artifact in store.get_artifacts_by_type(cls.TYPE_NAME):
        artifact = cls()
        artifact.set_mlmd_artifact(mlmd_artifact)
        out.append(artifact)
    return out


def test_statistics_strategy_reads_the_rejections(store, tmp_path):
    stats = []
    for span in (0, 1, 2):
        artifact = standard_artifacts.ExampleStatistics()
        artifact.uri = f"/stats/{span}"
        artifact.span = span
        stats.append(_put(store, artifact))
    rejected = tmp_path / "rejected_spans"
    rejected.mkdir()
    strategy = resolvers.PreviousSpanStatisticsStrategy(span=3, rejected_dir=str(rejected))
    assert [a.span for a in strategy.resolve_artifacts(store, {"statistics": stats})["statistics"]] == [2]
    (rejected / "span-2.json").write_text(json.dumps({"span": 2, "decision": "Reject batch"}))
    assert [a.span for a in strategy.resolve_artifacts(store, {"statistics": stats})["statistics"]] == [1]
    first = resolvers.PreviousSpanStatisticsStrategy(span=0, rejected_dir=str(rejected))
    assert first.resolve_artifacts(store, {"statistics": stats}) == {"statistics": []}
