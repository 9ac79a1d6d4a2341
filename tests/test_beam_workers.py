"""The data components on Beam's DirectRunner in multi-processing mode: the local stand-in for a Beam
cluster (Dataflow, Flink, Spark; see ``infra/serving/README.md``).

``pipeline.beam_workers = 2`` runs StatisticsGen and Transform with two worker processes. Their outputs
must be what the same computation gives in one process: the statistics are compared with TFDV run
in this process on the same examples, and Transform must have written every example it was given.
"""

from __future__ import annotations

import glob
from pathlib import Path

import _worlds  # tests/_worlds.py
import pytest

from dropout.contract.settings import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NODES = ("ImportSchemaGen", "LearnerExampleGen", "StatisticsGen", "Transform")
RUN_ID = "beam-workers-2"


def _records(pattern: str) -> int:
    import tensorflow as tf

    files = sorted(glob.glob(pattern))
    assert files, f"no files match {pattern}"
    return sum(1 for _ in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from dropout.pipeline import outputs, runner
    from lab.generator import GeneratorConfig, generate

    root = tmp_path_factory.mktemp("beam-workers")
    generate(root / "data", GeneratorConfig(learners=300, days=10, seed=4))
    settings = load_settings(
        REPO / "config" / "default.toml",
        env=_worlds.world_env(root, "beam-workers-test-key", DROPOUT__PIPELINE__BEAM_WORKERS="2"),
    )
    assert settings.pipeline.beam_workers == 2
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DROPOUT_PSEUDONYM_KEY", "beam-workers-test-key")  # the ExampleGen executor reads it
        ir = runner.compile_ir(settings, 0)
        for node in runner.graph(ir)["nodes"]:
            if node in NODES:
                runner.run_node(ir, node, RUN_ID)
    run = outputs.run_outputs(settings.pipeline.metadata_path, settings.pipeline.name, RUN_ID)
    return {"root": root, "settings": settings, "run": run, "ir": ir}


def test_beam_nodes_run_with_two_worker_processes(world):
    from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

    from dropout.pipeline import outputs

    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    world["ir"].deployment_config.Unpack(deployment)
    store = outputs.open_store(world["settings"].pipeline.metadata_path)
    for node in ("StatisticsGen", "Transform"):
        spec = executable_spec_pb2.BeamExecutableSpec()
        assert deployment.executor_specs[node].Unpack(spec), f"{node} is not a Beam executor"
        assert {"--direct_running_mode=multi_processing", "--direct_num_workers=2"} <= set(
            spec.beam_pipeline_args
        )
        [execution_id] = world["run"].executions[node]
        [execution] = store.get_executions_by_id([execution_id])
        assert execution.last_known_state == execution.COMPLETE, node


def test_statistics_equal_the_in_process_computation(world):
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    run = world["run"]
    examples = Path(run.uri("LearnerExampleGen", "examples"))
    stats_dir = Path(run.uri("StatisticsGen", "statistics"))
    for split in ("train", "eval"):
        distributed = statistics_pb2.DatasetFeatureStatisticsList()
        distributed.ParseFromString((stats_dir / f"Split-{split}" / "FeatureStats.pb").read_bytes())
        local = tfdv.generate_statistics_from_tfrecord(str(examples / f"Split-{split}" / "*.gz"))
        [d], [loc] = distributed.datasets, local.datasets
        assert d.num_examples == loc.num_examples == _records(str(examples / f"Split-{split}" / "*.gz")) > 0
        by_name = {f.path.step[0]: f for f in loc.features}
        checked = 0
        for feature in d.features:
            name = feature.path.step[0]
            if feature.HasField("num_stats"):
                ours, theirs = feature.num_stats, by_name[name].num_stats
                assert ours.mean == pytest.approx(theirs.mean, rel=1e-6, abs=1e-9), (split, name)
                assert ours.max == pytest.approx(theirs.max) and ours.min == pytest.approx(theirs.min), (
                    split,
                    name,
                )
                checked += 1
        assert checked >= 10, f"only {checked} numeric features compared in {split}"


def test_transform_wrote_every_example(world):
    run = world["run"]
    examples = Path(run.uri("LearnerExampleGen", "examples"))
    transformed = Path(run.uri("Transform", "transformed_examples"))
    for split in ("train", "eval"):
        assert _records(str(transformed / f"Split-{split}" / "*.gz")) == _records(
            str(examples / f"Split-{split}" / "*.gz")
        )
    graph = Path(run.uri("Transform", "transform_graph"))
    assert (graph / "transform_fn" / "saved_model.pb").exists()
    assert not list(graph.rglob("*.tmp")), "half-written files left behind"
