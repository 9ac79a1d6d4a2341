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
from typing import Any

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
_RESULT = "__execution_result__"  # where TFX records a failed execution's message


class NodeFailed(RuntimeError):
    """A node's execution ended FAILED in ML Metadata; the message is the one TFX recorded."""


@dataclass(frozen=True)
class NodeResult:
    """What running one node did, and where its time went (seconds)."""

    node_id: str
    # "ran" | "skipped" (already complete in this run) | "no-op" (nothing to execute) | "not-run" (an input
    # had no artifact, as DistributionValidator's baseline on the first span)
    status: str
    execution_id: int | None
    seconds: float = 0.0  # the node from the completion check to its published outputs
    executor_seconds: float = 0.0  # of which the component's executor (its work); 0 for resolvers


def _timed(operator_class: type, spent: list[float]) -> type:
    """``operator_class`` whose executor runs add their duration to ``spent[0]``."""

    class Timed(operator_class):  # type: ignore[misc, valid-type]
        def run_executor(self, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().run_executor(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

    return Timed


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
    started = time.perf_counter()
    done = completed_execution(run_ir, node_id, run_id)
    if done is not None:
        logging.info(
            "%s already completed in run %s (execution %d); not running it again", node_id, run_id, done
        )
        return NodeResult(node_id, "skipped", done, round(time.perf_counter() - started, 3))
    deployment, connection_config = _connection(run_ir)
    spent = [0.0]
    node_launcher = launcher.Launcher(
        pipeline_node=nodes[node_id],
        mlmd_connection=metadata.Metadata(connection_config),
        pipeline_info=run_ir.pipeline_info,
        pipeline_runtime_spec=run_ir.runtime_spec,
        executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
        custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
        custom_executor_operators={
            spec: _timed(operator, spent) for spec, operator in launcher.DEFAULT_EXECUTOR_OPERATORS.items()
        },
    )
    logging.info("running %s in run %s", node_id, run_id)
    info = node_launcher.launch()  # raises what the executor raised (the execution is then FAILED)
    seconds = round(time.perf_counter() - started, 3)
    execution_id = info.execution_id if info is not None else None
    if execution_id is not None:
        state, message = _execution_state(connection_config, execution_id)
        if state == metadata_store_pb2.Execution.FAILED:
            if "InsufficientInputError" in message:
                # TFX records an input it could not resolve as a failed execution, without raising. For
                # DistributionValidator on the first span (no earlier span to compare with) that is expected.
                reason = message.strip().splitlines()[-1] if message.strip() else "no message"
                logging.warning("%s did not run: an input it needs has no artifact (%s)", node_id, reason)
                return NodeResult(node_id, "not-run", execution_id, seconds, 0.0)
            raise NodeFailed(f"{node_id} failed in run {run_id} (execution {execution_id}):\n{message}")
    logging.info("%s finished in %.1f s (executor %.1f s)", node_id, seconds, spent[0])
    return NodeResult(
        node_id, "ran" if info is not None else "no-op", execution_id, seconds, round(spent[0], 3)
    )


def _execution_state(connection_config: Any, execution_id: int) -> tuple[int, str]:
    """``(last known state, the message TFX recorded)`` of an execution."""
    with metadata.Metadata(connection_config) as m:
        [execution] = m.store.get_executions_by_id([execution_id])
    result = execution.custom_properties.get(_RESULT)
    message = ""
    if result is not None and result.string_value:
        try:
            message = json.loads(result.string_value).get("resultMessage", result.string_value)
        except json.JSONDecodeError:
            message = result.string_value
    return execution.last_known_state, message


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
    run_id = args.run_id or new_run_id()
    try:
        if args.command == "node":
            print(json.dumps(run_node(ir, args.node_id, args.run_id).__dict__))
            return 0
        results = run_pipeline(ir, run_id)
    except NodeFailed as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    print(json.dumps({"run_id": run_id, "nodes": [r.__dict__ for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
