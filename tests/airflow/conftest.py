"""End-to-end tests of the training DAG through Airflow (Airflow env; the TFX env's pytest skips them).

A throwaway deployment per session: its own AIRFLOW_HOME and port, ``infra/airflow/env.sh`` for the
settings (SimpleAuthManager users and generated passwords included), only the api-server running
(it takes the HITL answers); runs use ``airflow dags test``, which executes the tasks in order.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]

collect_ignore_glob = [] if importlib.util.find_spec("airflow") else ["test_*.py"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_shell(env: dict[str, str], command: str, **kwargs) -> subprocess.Popen:
    """``command`` in bash after sourcing env.sh (AIRFLOW_HOME/AIRFLOW_PORT from ``env``)."""
    script = f'source "{REPO}/infra/airflow/env.sh" && {command}'
    return subprocess.Popen(["bash", "-c", script], cwd=REPO, env=env, **kwargs)


SETTINGS_TOML = """
[data]
root = "{root}/data"
window_days = 10
[ingestion]
key_file = "{root}/pseudonym.key"
[model]
epochs = {epochs}
batch_size = 32
[evaluation]
# Lenient thresholds the generated signal clears (as in tests/test_pipeline_e2e.py): these tests are
# about who decides, not about model quality, and the drift and browser tests need a champion. (A
# floor of 0.0 does not bless: TFMA reports "Metric not found" for every slice then.)
auc_floor = {auc_floor}
regression_tolerance = 0.2
max_recall_gap = 1.0
[pipeline]
root = "{root}/pipeline"
metadata_path = "{root}/metadata/metadata.sqlite"
serving_root = "{root}/serving"
schema_dir = "{root}/schemas"
beam_workers = 0
"""


def settings_toml(root: Path, *, epochs: int = 12, auc_floor: float = 0.6) -> str:
    """The settings file of one test world under ``root`` (data, key, pipeline, schemas all inside it)."""
    return SETTINGS_TOML.format(root=root, epochs=epochs, auc_floor=auc_floor)


@pytest.fixture(scope="session")
def world_settings():
    """``settings_toml`` for the test modules (conftest helpers reach them as fixtures)."""
    return settings_toml


@pytest.fixture(scope="session")
def e2e_root(tmp_path_factory) -> Path:
    """Settings, key, curated schema copy and two spans of generated data (the second a new cohort)."""
    root = tmp_path_factory.mktemp("dropout-e2e")
    (root / "config").mkdir()
    (root / "config" / "e2e.toml").write_text(settings_toml(root))
    (root / "pseudonym.key").write_text(secrets.token_hex(32))
    shutil.copytree(REPO / "schemas", root / "schemas")
    # Near-zero drift thresholds in this copy of the curated schema: span 1 (a new cohort) must drift,
    # so the steward is asked deterministically; identical spans still compare as 0.
    schema = root / "schemas" / "schema.pbtxt"
    schema.write_text(
        re.sub(r"(drift_comparator \{[^}]*threshold: )[0-9.]+", r"\g<1>0.0001", schema.read_text())
    )
    subprocess.run(
        [
            str(REPO / ".venv-tfx" / "bin" / "python"),
            "-c",
            "import sys; from dropout.contract.settings import load_settings; from lab.demo import ensure_data; "
            "ensure_data(load_settings(sys.argv[1]), 1200, 3)",
            str(root / "config" / "e2e.toml"),
        ],
        cwd=REPO,
        check=True,
    )
    return root


@pytest.fixture(scope="session")
def airflow(tmp_path_factory):
    """A throwaway deployment whose api-server is up: ``.env``, ``.api`` (hitl.AirflowAPI), ``.shell``."""
    sys.path.insert(0, str(REPO / "infra" / "airflow"))
    from hitl import AirflowAPI

    home = tmp_path_factory.mktemp("airflow-home")
    port = _free_port()
    # The training DAG records to MLflow: a throwaway tracking server from the product's own script.
    ml_env = {**os.environ, "MLFLOW_HOME": str(home / "mlflow"), "MLFLOW_PORT": str(_free_port())}
    subprocess.run(["bash", str(REPO / "infra/mlflow/start.sh")], env=ml_env, check=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(port),
        "DROPOUT__TRACKING__URI": f"http://127.0.0.1:{ml_env['MLFLOW_PORT']}",
    }
    init = airflow_shell(env, "airflow_init")
    assert init.wait() == 0
    log = open(home / "api-server.log", "w")
    server = airflow_shell(env, "exec airflow api-server", stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://localhost:{port}"
    api = AirflowAPI(base_url, json.loads((home / "passwords.json").read_text()))
    import requests

    for _ in range(180):
        try:
            if requests.get(f"{base_url}/api/v2/monitor/health", timeout=30).ok:
                break
        except requests.RequestException:  # not up yet, or too busy to answer in time (two shared cores)
            pass
        assert server.poll() is None, (home / "api-server.log").read_text()[-3000:]
        time.sleep(2)
    yield SimpleNamespace(env=env, api=api, shell=partial(airflow_shell, env))
    server.terminate()
    server.wait(timeout=60)
    log.close()
    subprocess.run(["bash", str(REPO / "infra/mlflow/stop.sh")], env=ml_env, check=False)
