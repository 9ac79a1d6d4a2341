"""Distributed training with the real strategies, each scenario in fresh worker processes.

MirroredStrategy runs on two logical CPUs and MultiWorkerMirroredStrategy on two local worker
processes talking gRPC over loopback; both need a TensorFlow runtime configured from the start, so
they run ``tests/_distributed_worker.py`` in subprocesses (CPU only, so the result is the same on a
GPU host). A hang fails the test at the timeout instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import _synthetic as S
import numpy as np
import pytest
import tf_keras as keras

from dropout.pipeline import model as M

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_distributed_worker.py"
TIMEOUT_S = 480  # generous: TF start-up alone takes ~30 s on a loaded 2-core machine

pytestmark = pytest.mark.slow  # each scenario starts fresh TensorFlow processes (> 30 s)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:  # a file, not a pipe: two chatty workers could fill a pipe and stall
        return subprocess.Popen(
            [sys.executable, str(WORKER), *args], cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT
        )


def _wait(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    try:
        for proc in procs:
            proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.wait()
        tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
        pytest.fail(f"distributed worker still running after {TIMEOUT_S} s\n{tails}")
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, f"{log.name} exited {proc.returncode}\n{log.read_text()[-4000:]}"


def test_mirrored_strategy_trains_on_two_logical_cpus(tmp_path):
    result_path, log = tmp_path / "mirrored.json", tmp_path / "mirrored.log"
    proc = _start(["--mode", "mirrored", "--result", str(result_path)], log)
    _wait([proc], [log])

    result = json.loads(result_path.read_text())
    assert result["replicas"] == 2
    assert result["strategy"]["class"] == "MirroredStrategy"
    assert [d.rsplit("/", 1)[-1] for d in result["strategy"]["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert result["loss_after"] < 0.8 * result["loss_before"], result


def test_multi_worker_strategy_trains_two_local_workers_and_chief_saves(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    model_dir = tmp_path / "models"
    procs, logs, results = [], [], []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        results.append(tmp_path / f"worker{index}.json")
        logs.append(tmp_path / f"worker{index}.log")
        args = ["--mode", "multi_worker", "--tf-config", tf_config, "--model-dir", str(model_dir)]
        procs.append(_start([*args, "--result", str(results[-1])], logs[-1]))
    _wait(procs, logs)

    chief, other = (json.loads(p.read_text()) for p in results)
    for index, result in enumerate((chief, other)):
        assert result["replicas"] == 2
        assert result["strategy"]["task"] == {"type": "worker", "index": index}
        assert result["strategy"]["cluster"] == cluster
        assert result["loss_after"] < 0.8 * result["loss_before"], result
    # Both workers applied the same all-reduced updates.
    assert chief["loss_after"] == pytest.approx(other["loss_after"], rel=1e-5)
    assert chief["chief"] and not other["chief"]
    assert Path(chief["saved"]) == model_dir / "model"

    reloaded = keras.models.load_model(chief["saved"])
    features, _, _ = S.learners(384, seed=5)  # the workers' data
    probe = {k: v[: len(chief["probe_risk"])] for k, v in features.items()}
    risk = np.asarray(reloaded(probe, training=False)).ravel()
    np.testing.assert_allclose(risk, chief["probe_risk"], atol=1e-5)
    assert sorted(t.name for t in reloaded.inputs) == sorted(M.input_names())
