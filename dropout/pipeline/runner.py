"""Runners: the whole pipeline locally, or one node of a compiled pipeline run (what Airflow calls).

Both compile the pipeline to IR, substitute the pipeline-run-id runtime parameter with the run id,
and launch nodes with TFX's portable ``Launcher``, as ``LocalDagRunner.run_with_ir`` does in its loop.
So one Airflow DAG run (one task per node) is one TFX pipeline run in ML Metadata.

Re-running a node that already completed in the same run is a no-op (task retries are safe).

CLI::

    python -m dropout.pipeline --config config/default.toml --span 0 run [--run-id ID]
    python -m dropout.pipeline --config config/default.toml --span 0 node Trainer --run-id ID
    python -m dropout.pipeline --config config/default.toml graph     # nodes and edges as JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from dropout.contract.settings import Settings, load_settings
from dropout.pipeline import pipeline as pipeline_lib
from dropout.pipeline import schema as schema_lib

_DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


@dataclass(frozen=True)
class NodeResult:
    node_id: str
    status: str  # "ran" | "skipped" (already complete in this run) | "no-op" (nothing to execute)
    execution_id: int | None
    seconds: float = 0.0


def prepared_schema(settings: Settings) -> str:
    """The curated schema adapted to the configured window, written under the pipeline root."""
    curated = schema_lib.load_schema(Path(settings.pipeline.schema_dir) / schema_lib.SCHEMA_FILE)
    adapted = schema_lib.schema_for_window(curated, settings.data.window_days)
    return schema_lib.write_schema(
        adapted, Path(settings.pipeline.root) / "_schema" / f"w{settings.data.window_days}"
    )


def compile_ir(settings: Settings, span: int) -> pipeline_pb2.Pipeline:
    """Compile the training pipeline for ``span`` to IR (deterministic for the same settings and span)."""
    pipeline = pipeline_lib.create_pipeline(settings, span=span, schema_file=prepared_schema(settings))
    return compiler.Compiler().compile(pipeline)


def graph(ir: pipeline_pb2.Pipeline) -> dict[str, list]:
    """Node ids in topological order and (upstream, downstream) edges."""
    nodes = [n.pipeline_node.node_info.id for n in ir.nodes]
    edges = sorted(
        (up, n.pipeline_node.node_info.id) for n in ir.nodes for up in n.pipeline_node.upstream_nodes
    )
    return {"nodes": nodes, "edges": [list(e) for e in edges]}


def _with_run_id(ir: pipeline_pb2.Pipeline, run_id: str) -> pipeline_pb2.Pipeline:
    run_ir = pipeline_pb2.Pipeline()
    run_ir.CopyFrom(ir)
    runtime_parameter_utils.substitute_runtime_parameter(
        run_ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    return run_ir


def _connection(ir: pipeline_pb2.Pipeline):
    deployment = runner_utils.extract_local_deployment_config(ir)
    config = deployment.metadata_connection_config
    return deployment, getattr(config, config.WhichOneof("connection_config"))


def completed_execution(ir: pipeline_pb2.Pipeline, node_id: str, run_id: str) -> int | None:
    """Id of an execution of ``node_id`` that already completed in pipeline run ``run_id``, if any."""
    _, connection_config = _connection(ir)
    pipeline_name = ir.pipeline_info.id
    with metadata.Metadata(connection_config) as m:
        store = m.store
        run_ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
        node_ctx = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
        if run_ctx is None or node_ctx is None:
            return None
        in_node = {e.id for e in store.get_executions_by_context(node_ctx.id)}
        for execution in store.get_executions_by_context(run_ctx.id):
            if execution.id in in_node and execution.last_known_state in _DONE:
                return execution.id
    return None


def run_node(ir: pipeline_pb2.Pipeline, node_id: str, run_id: str) -> NodeResult:
    """Run one node of pipeline run ``run_id``; a node already complete in that run is skipped."""
    run_ir = _with_run_id(ir, run_id)
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in run_ir.nodes}
    if node_id not in nodes:
        raise ValueError(
            f"node '{node_id}' is not in pipeline '{run_ir.pipeline_info.id}'; nodes: {sorted(nodes)}"
        )
    done = completed_execution(run_ir, node_id, run_id)
    if done is not None:
        logging.info(
            "%s already completed in run %s (execution %d); not running it again", node_id, run_id, done
        )
        return NodeResult(node_id, "skipped", done)
    deployment, connection_config = _connection(run_ir)
    node_launcher = launcher.Launcher(
        pipeline_node=nodes[node_id],
        mlmd_connection=metadata.Metadata(connection_config),
        pipeline_info=run_ir.pipeline_info,
        pipeline_runtime_spec=run_ir.runtime_spec,
        executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
        custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
    )
    logging.info("running %s in run %s", node_id, run_id)
    started = time.monotonic()
    info = node_launcher.launch()
    seconds = round(time.monotonic() - started, 2)
    execution_id = info.execution_id if info is not None else None
    logging.info("%s finished in %.1f s", node_id, seconds)
    return NodeResult(node_id, "ran" if info is not None else "no-op", execution_id, seconds)


def run_pipeline(ir: pipeline_pb2.Pipeline, run_id: str) -> list[NodeResult]:
    """Run every node in topological order (the local development runner)."""
    return [run_node(ir, node_id, run_id) for node_id in graph(ir)["nodes"]]


def new_run_id() -> str:
    return "manual__" + datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f%z")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropout.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="config/default.toml", help="settings TOML file")
    parser.add_argument("--span", type=int, default=0, help="ingestion period to train on")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the whole pipeline")
    run_p.add_argument("--run-id", default=None)
    node_p = sub.add_parser("node", help="run one node of a pipeline run")
    node_p.add_argument("node_id")
    node_p.add_argument("--run-id", required=True)
    sub.add_parser("graph", help="print nodes and edges as JSON")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    settings = load_settings(args.config)
    ir = compile_ir(settings, args.span)
    if args.command == "graph":
        print(json.dumps(graph(ir)))
        return 0
    if args.command == "node":
        result = run_node(ir, args.node_id, args.run_id)
        print(json.dumps(result.__dict__))
        return 0
    run_id = args.run_id or new_run_id()
    results = run_pipeline(ir, run_id)
    print(json.dumps({"run_id": run_id, "nodes": [r.__dict__ for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
