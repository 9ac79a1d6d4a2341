"""Benchmark: the whole pipeline, per component wall time and peak memory, at a given scale.

Generates ``--learners`` x ``--days`` of landing data with the seeded generator (timed on its own),
then runs every node of one pipeline run as its own process, exactly as the Airflow tasks do
(``python -m dropout.pipeline node <id> --run-id <id>``): with ``--mode warm`` (the default) forked by
the warm executor, as tasks run when ``make up`` started one; with ``--mode subprocess`` as new
processes. It reads each node's wall time, CPU seconds and peak RSS (from ``os.wait4``, or from the
executor; Beam's multi-processing workers are the node's children and are included once reaped; a
forked node's peak RSS starts at the executor's own, about 0.9 GiB).

    .venv-tfx/bin/python benchmarks/bench_pipeline.py --learners 10000 --days 60
    .venv-tfx/bin/python benchmarks/bench_pipeline.py --learners 100000 --days 60 --window-days 60 --beam-workers 2

Prints one line per component and a JSON summary (paste the table into the README).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--span", type=int, default=0)
    parser.add_argument("--window-days", type=int, default=10)
    parser.add_argument("--beam-workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workdir", default=None, help="keep data and outputs here (default: a temp dir)")
    parser.add_argument("--mode", choices=("warm", "subprocess"), default="warm")
    args = parser.parse_args()

    # This process stays small: a forked child's ru_maxrss starts at its parent's peak (Linux keeps the
    # high-water mark across exec), so generating or importing TFX here would floor every node's figure.
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-pipeline-"))
    data = work / "data"
    started = time.monotonic()
    if not (data / "manifest.json").exists():
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(_generate, (str(data), args.learners, args.days))
    lines = json.loads((data / "manifest.json").read_text())["lines_total"]
    generate_s = time.monotonic() - started

    env = dict(os.environ)
    env.update(
        {
            "DROPOUT_PSEUDONYM_KEY": env.get("DROPOUT_PSEUDONYM_KEY", "benchmark-key"),
            "DROPOUT__DATA__ROOT": str(data),
            "DROPOUT__DATA__WINDOW_DAYS": str(args.window_days),
            "DROPOUT__PIPELINE__ROOT": str(work / "pipeline"),
            "DROPOUT__PIPELINE__METADATA_PATH": str(work / "metadata.sqlite"),
            "DROPOUT__PIPELINE__SERVING_ROOT": str(work / "serving"),
            "DROPOUT__PIPELINE__BEAM_WORKERS": str(args.beam_workers),
            "DROPOUT__MODEL__EPOCHS": str(args.epochs),
            "DROPOUT__MODEL__BATCH_SIZE": str(args.batch_size),
            "PYTHONWARNINGS": "ignore",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    graph = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-W",
                "ignore",
                "-m",
                "dropout.pipeline",
                "--config",
                str(REPO / "config/default.toml"),
                "--span",
                str(args.span),
                "graph",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    run_id = f"bench-{args.learners}-{int(time.time())}"
    rows = []
    server = None
    if args.mode == "warm":
        socket_path = str(work / "executor.sock")
        server = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-m", "dropout.executor", "serve", "--socket", socket_path],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not os.path.exists(socket_path):
            time.sleep(0.2)
    total_started = time.monotonic()
    try:
        for node in graph["nodes"]:
            row = (
                timed_node(env, node, run_id, args.span)
                if server is None
                else warm_node(env, node, run_id, args.span, str(work / "executor.sock"))
            )
            rows.append(row)
            print(
                f"{node:24s} {row['wall_s']:8.1f} s  {row['cpu_s']:8.1f} CPU-s  peak RSS "
                f"{row['peak_rss_mib']:8.0f} MiB",
                flush=True,
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    total = time.monotonic() - total_started
    summary = {
        "learners": args.learners,
        "days": args.days,
        "landing_lines": lines,
        "window_days": args.window_days,
        "beam_workers": args.beam_workers,
        "epochs": args.epochs,
        "generate_s": round(generate_s, 1),
        "pipeline_s": round(total, 1),
        "pipeline_cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
        "mode": args.mode,
        "nodes": rows,
        "cores": os.cpu_count(),
        "workdir": str(work),
    }
    print(json.dumps(summary, indent=2))
    return 0


def _generate(data: str, learners: int, days: int) -> None:
    from lab.generator import GeneratorConfig, generate

    generate(
        Path(data),
        GeneratorConfig(learners=learners, days=days, seed=1, malformed_rate=0.001, duplicate_rate=0.002),
    )


def warm_node(env: dict[str, str], node: str, run_id: str, span: int, socket_path: str) -> dict:
    """Run one node on the warm executor; wall time, and the CPU seconds and peak RSS it reports."""
    from dropout.executor import client, protocol

    lines: list[str] = []
    usage: dict[str, float] = {}
    argv = [
        "dropout.pipeline",
        "--config",
        str(REPO / "config/default.toml"),
        "--span",
        str(span),
        "node",
        node,
        "--run-id",
        run_id,
    ]
    started = time.monotonic()
    code = client.run(
        socket_path, argv, cwd=REPO, env=protocol.forwarded_env(env), on_line=lines.append, usage=usage
    )
    wall = time.monotonic() - started
    if code != 0:
        sys.stderr.write("\n".join(lines[-60:]))
        raise SystemExit(f"{node} failed")
    return {
        "node": node,
        "wall_s": round(wall, 1),
        "peak_rss_mib": usage.get("max_rss_mib", 0.0),
        "cpu_s": round(usage.get("cpu_s", 0.0), 1),
    }


def timed_node(env: dict[str, str], node: str, run_id: str, span: int, config: str | None = None) -> dict:
    """Run one node in a child process; wall time and the peak RSS of it and its reaped children."""
    cmd = [
        sys.executable,
        "-W",
        "ignore",
        "-m",
        "dropout.pipeline",
        "--config",
        config or str(REPO / "config/default.toml"),
        "--span",
        str(span),
        "node",
        node,
        "--run-id",
        run_id,
    ]
    log = tempfile.TemporaryFile()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-5000:])
        raise SystemExit(f"{node} failed")
    return {
        "node": node,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 0),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
