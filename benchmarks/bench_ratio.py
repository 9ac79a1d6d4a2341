"""Benchmark: the Airflow-orchestrated training run against a plain script doing the same work, side by side.

On one freshly generated dataset (``--learners`` x one span):

1. the plain script (``bench_plain.py``: the project's ingestion and model code called directly,
   numpy / Keras / sklearn, no TFX, Beam, ML Metadata, Airflow or MLflow);
2. the same span through the real training DAG: a throwaway deployment (``infra/airflow/run_demo.sh``
   with its own AIRFLOW_HOME, ports, MLflow and warm executor), the reviews answered by the demo
   policy, every TFX node, both reviews, MLflow and the push. Its figure is the DAG run alone; the
   deployment's start (once per machine) is reported beside it.

The last line is ``overhead ratio at <N> learners: <orchestrated>/<plain> = <x>`` (goal: at most 4x
at 2,000 learners). Run it on an otherwise idle machine, or say what else ran::

    .venv-tfx/bin/python benchmarks/bench_ratio.py --learners 2000
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-ratio-"))
    mlflow_port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW_PORT": str(_free_port()),
        "MLFLOW_HOME": str(work / "mlflow"),
        "MLFLOW_PORT": str(mlflow_port),
        "DROPOUT__TRACKING__URI": f"http://127.0.0.1:{mlflow_port}",
        "DROPOUT__DATA__ROOT": str(work / "data"),
        "DROPOUT__PIPELINE__ROOT": str(work / "pipeline"),
        "DROPOUT__PIPELINE__METADATA_PATH": str(work / "metadata" / "metadata.sqlite"),
        "DROPOUT__PIPELINE__SERVING_ROOT": str(work / "serving"),
        "DROPOUT__WARNING__OUT_DIR": str(work / "warning"),
        "DROPOUT_PSEUDONYM_KEY": "benchmark-key",
        "DEMO_SPANS": "0",
        "DEMO_LEARNERS": str(args.learners),
    }
    tfx_py = str(REPO / ".venv-tfx" / "bin" / "python")
    generate = (
        "import sys, logging; from dropout.contract.settings import load_settings; from lab.demo import ensure_data;"
        f" ensure_data(load_settings('config/default.toml'), {args.learners}, 7)"
    )
    subprocess.run([tfx_py, "-c", generate], cwd=REPO, env=env, check=True)

    plain = subprocess.run(
        [tfx_py, "-W", "ignore", str(REPO / "benchmarks" / "bench_plain.py"), "--span", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    plain_s = float(re.search(r"plain script: ([0-9.]+) s wall", plain).group(1))
    print(plain.strip().splitlines()[-1], flush=True)

    started = time.monotonic()
    demo = subprocess.run(
        ["bash", str(REPO / "infra" / "airflow" / "run_demo.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    total_s = time.monotonic() - started
    subprocess.run(
        ["bash", str(REPO / "infra" / "airflow" / "stop.sh")], cwd=REPO, env=env, capture_output=True
    )
    seconds_file = work / "airflow" / "logs" / "demo-span0.seconds"
    if demo.returncode != 0 or not seconds_file.exists():
        sys.stderr.write(demo.stdout[-4000:] + demo.stderr[-4000:])
        raise SystemExit("the orchestrated run failed")
    orchestrated_s = float(seconds_file.read_text())
    print(
        f"orchestrated span 0 (one DAG run): {orchestrated_s:.0f} s; deployment start, data check and summary "
        f"around it: {total_s - orchestrated_s:.0f} s"
    )
    print(
        f"overhead ratio at {args.learners} learners: {orchestrated_s:.0f}/{plain_s:.0f} = "
        f"{orchestrated_s / plain_s:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
