"""Benchmark: what running one TFX node as an orchestrated task costs beyond the node's own work.

The same small pipeline run (generated learners, one span) three ways, side by side in one run, each
with its own pipeline root and ML Metadata on the same data:

(a) **in-process**: every node through ``dropout.pipeline.runner.run_node`` in one process;
(b) **subprocess**: every node as a new ``python -m dropout.pipeline ... node`` process, as an Airflow
    task without the warm executor runs it;
(c) **warm**: every node forked by the warm executor (``python -m dropout.executor serve``), as an
    Airflow task with it runs it.

Each node reports how long its component's executor ran (``executor_seconds``: the work). The fixed
cost of a task is its wall time minus that (for (a): the launcher, ML Metadata and resolution around
the executor; for (b) and (c) everything the task adds on top: process start and imports, settings,
compiling the pipeline, connecting to ML Metadata, the launcher). The last line is::

    fixed cost per task: in-process 0.04 s, subprocess 20.10 s, warm 0.21 s

(medians over the nodes). Run it on an otherwise idle machine, or say what else ran::

    .venv-tfx/bin/python benchmarks/bench_overhead.py              # 300 learners, 1 epoch: a few minutes
    .venv-tfx/bin/python benchmarks/bench_overhead.py --learners 2000 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("in-process", "subprocess", "warm")


def world_env(work: Path, mode: str, epochs: int) -> dict[str, str]:
    """Settings overrides of one mode: shared data, its own pipeline root, metadata and serving root."""
    root = work / mode
    return {
        "DROPOUT_PSEUDONYM_KEY": "benchmark-key",
        "DROPOUT__DATA__ROOT": str(work / "data"),
        "DROPOUT__PIPELINE__ROOT": str(root / "pipeline"),
        "DROPOUT__PIPELINE__METADATA_PATH": str(root / "metadata.sqlite"),
        "DROPOUT__PIPELINE__SERVING_ROOT": str(root / "serving"),
        "DROPOUT__PIPELINE__BEAM_WORKERS": "0",
        "DROPOUT__WARNING__OUT_DIR": str(root / "warning"),
        "DROPOUT__MODEL__EPOCHS": str(epochs),
        "DROPOUT__MODEL__BATCH_SIZE": "64",
        "DROPOUT__EVALUATION__AUC_FLOOR": "0.5",
        "PYTHONWARNINGS": "ignore",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def _generate(data: str, learners: int, days: int) -> None:
    from lab.generator import GeneratorConfig, generate

    generate(Path(data), GeneratorConfig(learners=learners, days=days, seed=5, malformed_rate=0.001))


def _in_process(env: dict[str, str], config: str, run_id: str, queue: multiprocessing.Queue) -> None:
    """Mode (a), in a fresh process of its own (so the parent stays small): every node with run_node."""
    os.environ.update(env)
    import logging

    logging.basicConfig(level=logging.WARNING)
    from dropout.contract.settings import load_settings
    from dropout.pipeline import runner

    ir = runner.compile_ir(load_settings(config), 0)
    rows = []
    for node in runner.graph(ir)["nodes"]:
        started = time.perf_counter()
        cpu = time.process_time()
        result = runner.run_node(ir, node, run_id)
        rows.append(
            {
                "node": node,
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu,
                "executor_s": result.executor_seconds,
                "status": result.status,
            }
        )
    queue.put(rows)


def _node_argv(config: str, node: str, run_id: str) -> list[str]:
    return ["dropout.pipeline", "--config", config, "--span", "0", "node", node, "--run-id", run_id]


def _result(lines: list[str], node: str) -> dict:
    for line in reversed(lines):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"{node}: no result line; last output:\n" + "\n".join(lines[-30:]))


def _subprocess_node(env: dict[str, str], config: str, node: str, run_id: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", *_node_argv(config, node, run_id)],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = proc.communicate()
    wall = time.perf_counter() - started
    lines = out.decode(errors="replace").splitlines()
    if proc.returncode != 0:
        raise SystemExit(f"{node} failed:\n" + "\n".join(lines[-30:]))
    result = _result(lines, node)
    return {
        "node": node,
        "wall_s": wall,
        "executor_s": result["executor_seconds"],
        "status": result["status"],
    }


def _warm_node(socket_path: str, env: dict[str, str], config: str, node: str, run_id: str) -> dict:
    from dropout.executor import client

    lines: list[str] = []
    usage: dict[str, float] = {}
    started = time.perf_counter()
    code = client.run(
        socket_path, _node_argv(config, node, run_id), cwd=REPO, env=env, on_line=lines.append, usage=usage
    )
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{node} failed ({code}):\n" + "\n".join(lines[-30:]))
    result = _result(lines, node)
    return {
        "node": node,
        "wall_s": wall,
        "cpu_s": usage.get("cpu_s"),
        "executor_s": result["executor_seconds"],
        "status": result["status"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=300)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-overhead-"))
    config = str(REPO / "config" / "default.toml")
    spawn = multiprocessing.get_context("spawn")
    if not (work / "data" / "manifest.json").exists():
        with spawn.Pool(1) as pool:
            pool.apply(_generate, (str(work / "data"), args.learners, args.days))

    results: dict[str, list[dict]] = {}
    # (c) first starts the executor, whose import of TFX then overlaps nothing that is timed.
    socket_path = str(work / "executor.sock")
    server = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "dropout.executor", "serve", "--socket", socket_path],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.perf_counter()
    while not os.path.exists(socket_path):
        if server.poll() is not None:
            raise SystemExit("the warm executor did not start")
        time.sleep(0.2)
    executor_ready_s = time.perf_counter() - started
    try:
        # (a) in-process, in a process of its own.
        queue = spawn.Queue()
        child = spawn.Process(
            target=_in_process,
            args=(world_env(work, "in-process", args.epochs), config, "bench-in-process", queue),
        )
        child.start()
        results["in-process"] = queue.get()
        child.join()
        env_b = world_env(work, "subprocess", args.epochs)
        env_c = world_env(work, "warm", args.epochs)
        nodes = [r["node"] for r in results["in-process"]]
        results["subprocess"], results["warm"] = [], []
        for node in nodes:  # (b) and (c) node by node, side by side
            results["subprocess"].append(_subprocess_node(env_b, config, node, "bench-subprocess"))
            results["warm"].append(_warm_node(socket_path, env_c, config, node, "bench-warm"))
    finally:
        server.terminate()
        server.wait(timeout=60)

    fixed = {mode: [r["wall_s"] - r["executor_s"] for r in rows] for mode, rows in results.items()}
    print(
        f"{args.learners} learners x {args.days} days, {args.epochs} epoch(s); cores: {os.cpu_count()}; "
        f"warm executor ready {executor_ready_s:.1f} s after start (once per machine)"
    )
    print(
        f"{'node':24s} {'work (a)':>9s} "
        + " ".join(f"{m + ' wall':>16s}" for m in MODES)
        + " "
        + " ".join(f"{m + ' fixed':>17s}" for m in MODES)
    )
    for i, node in enumerate(r["node"] for r in results["in-process"]):
        print(
            f"{node:24s} {results['in-process'][i]['executor_s']:9.2f} "
            + " ".join(f"{results[m][i]['wall_s']:16.2f}" for m in MODES)
            + " "
            + " ".join(f"{fixed[m][i]:17.2f}" for m in MODES)
        )
    totals = {m: sum(r["wall_s"] for r in results[m]) for m in MODES}
    print("whole run (s): " + ", ".join(f"{m} {totals[m]:.1f}" for m in MODES))
    (work / "overhead.json").write_text(
        json.dumps({"results": results, "executor_ready_s": executor_ready_s})
    )
    print(f"per-node figures: {work / 'overhead.json'}")
    print("fixed cost per task: " + ", ".join(f"{m} {statistics.median(fixed[m]):.2f} s" for m in MODES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
