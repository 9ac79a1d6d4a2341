"""The drift baseline and champion resolvers (``dropout.pipeline.resolvers``): the plain choices, and the TFX
strategies against a real SQLite ML Metadata store holding a Pusher's lineage."""

from __future__ import annotations

import json

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from dropout.pipeline import champion, resolvers


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


def _version(model_dir, version: int, fingerprint: bytes):
    """A served version directory: a SavedModel marker and its fingerprint."""
    path = model_dir / str(version)
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"model")
    (path / "fingerprint.pb").write_bytes(fingerprint)
    return path


def test_champion_is_the_push_of_the_newest_served_version(tmp_path):
    one, two = _version(tmp_path, 1, b"fp-a"), _version(tmp_path, 2, b"fp-b")
    pushes = [(10, str(one)), (11, str(two))]
    assert champion.choose_push(pushes, two, champion.fingerprint) == (11, "pushed_destination")
    # make rollback copies version 1 to a new, higher version: matched to push 10 by its fingerprint.
    rolled_back = _version(tmp_path, 3, b"fp-a")
    assert champion.choose_push(pushes, rolled_back, champion.fingerprint) == (10, "saved_model_fingerprint")
    assert champion.choose_push(pushes, None, champion.fingerprint) is None  # nothing served
    stranger = _version(tmp_path, 4, b"fp-z")  # copied in by hand: no push produced it
    assert champion.choose_push(pushes, stranger, champion.fingerprint) is None
    assert sorted(champion.version_dirs(tmp_path)) == [1, 2, 3, 4]


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


def _push(store, model, pushed: bool, destination: str = ""):
    """A Pusher execution that read ``model`` and wrote a PushedModel with ``pushed`` (to ``destination``)."""
    push = standard_artifacts.PushedModel()
    push.uri = f"/pushes/{model.id}"
    push.set_int_custom_property("pushed", int(pushed))
    if destination:
        push.set_string_custom_property("pushed_destination", destination)
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


def test_champion_strategy_resolves_the_served_model_not_a_rejected_candidate(store, tmp_path):
    models = []
    for i in range(3):
        model = standard_artifacts.Model()
        model.uri = f"/models/{i}"
        models.append(_put(store, model))
    serving = tmp_path / "serving" / "dropout_risk"
    strategy = resolvers.ChampionModelStrategy(model_dir=str(serving))
    # Before any push: no baseline (the Evaluator then checks the floors only).
    assert strategy.resolve_artifacts(store, {"model": models, "pushed_model": []}) == {
        "model": [],
        "pushed_model": [],
    }
    first = _push(store, models[0], pushed=True, destination=str(_version(serving, 1, b"fp-0")))
    _push(store, models[1], pushed=False)  # unblessed: Pusher ran, pushed nothing
    # models[2] was blessed but a manager rejected it: Pusher skipped, no PushedModel.
    pushes = _all(store, standard_artifacts.PushedModel)
    result = strategy.resolve_artifacts(store, {"model": models, "pushed_model": pushes})
    assert [m.id for m in result["model"]] == [models[0].id]
    assert [p.id for p in result["pushed_model"]] == [first.id]
    second = _push(store, models[2], pushed=True, destination=str(_version(serving, 2, b"fp-2")))
    pushes = _all(store, standard_artifacts.PushedModel)
    result = strategy.resolve_artifacts(store, {"model": models, "pushed_model": pushes})
    assert [m.id for m in result["model"]] == [models[2].id] and [p.id for p in result["pushed_model"]] == [
        second.id
    ]
    # A rollback serves model 0 again (a copy as version 3): it is the baseline again.
    _version(serving, 3, b"fp-0")
    result = strategy.resolve_artifacts(store, {"model": models, "pushed_model": pushes})
    assert [m.id for m in result["model"]] == [models[0].id] and [p.id for p in result["pushed_model"]] == [
        first.id
    ]


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
