"""Benchmark: the unchanged TFX pipeline on real learners (OULAD), wall time and peak memory per component.

Data: Kuzilek J., Hlosta M., Zdrahal Z., *Open University Learning Analytics dataset*, Scientific
Data 4, 170171 (2017), CC BY 4.0.

Maps OULAD with a cutoff of ``--weeks`` weeks (``lab.oulad.mapping``; timed on its own), then runs
every node of one pipeline run of ``config/oulad.toml`` as its own process, exactly as the Airflow
tasks do (``python -m dropout.pipeline node <id> --run-id <id>``), and reads each process's wall
time, CPU time and peak RSS (``os.wait4``).

    .venv-tfx/bin/python benchmarks/bench_oulad_pipeline.py                 # 4 weeks (+ 4 before the start)
    .venv-tfx/bin/python benchmarks/bench_oulad_pipeline.py --weeks 8 --epochs 5

Prints one line per component, the ingestion counts, the blessing, and a JSON summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_pipeline import timed_node  # noqa: E402  (same measurement as the generated-data benchmark)

PRE_DAYS = 28


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", default=str(REPO / "../shared/data/oulad"))
    parser.add_argument("--config", default=str(REPO / "config/oulad.toml"))
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=None, help="override model.epochs")
    parser.add_argument("--workdir", default=None, help="data and outputs here (default: a temp dir)")
    args = parser.parse_args()

    from dropout.contract.settings import load_settings
    from lab.oulad import mapping as oulad

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-oulad-"))
    data = work / "data"
    started = time.monotonic()
    _, report = oulad.convert(args.src, data, cutoff_day=7 * args.weeks)
    adapter_s = time.monotonic() - started
    print(oulad.format_report(report))
    print(f"{'adapter (OULAD -> landing)':30s} {adapter_s:8.1f} s", flush=True)

    settings = load_settings(args.config)
    first_day = dt.date.fromisoformat(report["day0"]) - dt.timedelta(days=PRE_DAYS)
    env = dict(os.environ)
    env.update(
        {
            "DROPOUT_PSEUDONYM_KEY": env.get("DROPOUT_PSEUDONYM_KEY", "benchmark-key"),
            "DROPOUT__DATA__ROOT": str(data),
            "DROPOUT__DATA__FIRST_DAY": first_day.isoformat(),
            "DROPOUT__DATA__WINDOW_DAYS": str(PRE_DAYS + 7 * args.weeks),
            "DROPOUT__PIPELINE__ROOT": str(work / "pipeline"),
            "DROPOUT__PIPELINE__METADATA_PATH": str(work / "metadata.sqlite"),
            "DROPOUT__PIPELINE__SERVING_ROOT": str(work / "serving"),
            "PYTHONWARNINGS": "ignore",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    if args.epochs is not None:
        env["DROPOUT__MODEL__EPOCHS"] = str(args.epochs)
    graph = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-W",
                "ignore",
                "-m",
                "dropout.pipeline",
                "--config",
                args.config,
                "--span",
                "0",
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
    run_id = f"bench-oulad-{args.weeks}w-{int(time.time())}"
    rows = []
    total_started = time.monotonic()
    for node in graph["nodes"]:
        row = timed_node(env, node, run_id, 0, args.config)
        rows.append(row)
        print(
            f"{node:30s} {row['wall_s']:8.1f} s  cpu {row['cpu_s']:7.1f} s  peak RSS {row['peak_rss_mib']:6.0f} MiB",
            flush=True,
        )
    total = time.monotonic() - total_started
    outputs = summarise_outputs(work / "pipeline")
    summary = {
        "weeks": args.weeks,
        "window_days": PRE_DAYS + 7 * args.weeks,
        "first_day": first_day.isoformat(),
        "landing_events": report["events"]["total"],
        "learners": report["learners"]["mapped"],
        "adapter_s": round(adapter_s, 1),
        "pipeline_s": round(total, 1),
        "nodes": rows,
        "outputs": outputs,
        "cores": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "workdir": str(work),
        "pipeline_name": settings.pipeline.name,
    }
    print(json.dumps(summary, indent=2))
    return 0


def summarise_outputs(pipeline_root: Path) -> dict:
    """Ingestion counts, blessing and fairness decision of the run, read from the artifacts."""
    out: dict = {}
    for counts in pipeline_root.rglob("counts.json"):
        c = json.loads(counts.read_text())
        out["ingestion"] = {
            k: c.get(k) for k in ("input_records", "accepted", "quarantined", "examples", "split")
        }
    for name in ("BLESSED", "NOT_BLESSED"):
        if any(pipeline_root.glob(f"Evaluator/blessing/*/{name}")):
            out["evaluator"] = name
    for p in pipeline_root.rglob("fairness.json"):
        out["fairness"] = json.loads(p.read_text())
    return out


if __name__ == "__main__":
    sys.exit(main())
