"""End-to-end tests through Airflow (Airflow env; the TFX env's pytest skips them).

One throwaway deployment and one world for the whole session, shared by every test (a new end-to-end
test joins them instead of building its own):

- **deployment** (``airflow``): its own AIRFLOW_HOME and port, ``infra/airflow/env.sh`` for the settings
  (SimpleAuthManager users and generated passwords), the api-server (it takes the HITL answers), an
  MLflow server, and the warm TFX executor its tasks run on (``dropout/executor``), as ``make up`` starts
  them; task retries wait 2 s instead of a minute. Runs use ``airflow dags test``, which executes the
  tasks in order in one process.
- **world**: 600 learners x 30 days of generated landing data (seed 11; from day 20, span 2, a new app
  version halves dwell times and doubles logins), a fixed pseudonymisation key, and settings files:
  ``world.toml`` trains with a schema copy that does not list the device "android" (span 0 has a schema
  anomaly, so the steward is asked) and whose drift thresholds are near zero (every later span drifts,
  so the steward is asked again); ``monitor.toml`` is the same deployment with the drift thresholds the
  drift monitor is tested at (``test_drift_monitor.py``).
- **approved_run**: the first training run on span 0, answered by the steward ("Accept once") and the
  manager ("Approve") in headless Chromium when it is installed, else through the REST API. Its model
  is the champion of the later tests. About 2 min on an idle two-core machine.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
TFX_PY = str(REPO / ".venv-tfx" / "bin" / "python")
DAG = "dropout_training"
TEST_KEY = "5" * 64  # fixed: the train/eval split, and so every statistic, is the same on every machine
NUMERIC_DRIFT_THRESHOLD = 0.22  # the drift monitor's Jensen-Shannon threshold here (test_drift_monitor.py)

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
# about who decides, not about model quality, and the drift tests need a champion. (A floor of 0.0
# does not bless: TFMA reports "Metric not found" for every slice then.)
auc_floor = {auc_floor}
regression_tolerance = 0.2
max_recall_gap = 1.0
[pipeline]
root = "{root}/pipeline"
metadata_path = "{root}/metadata/metadata.sqlite"
serving_root = "{root}/serving"
schema_dir = "{root}/{schema_dir}"
beam_workers = 0
[warning]
out_dir = "{root}/warning"
"""

GENERATE = """
import sys
from lab.generator import GeneratorConfig, generate
generate(sys.argv[1], GeneratorConfig(learners=600, days=30, seed=11, app_version_change_day=20))
"""


def settings_toml(
    root: Path, *, schema_dir: str = "schemas", epochs: int = 8, auc_floor: float = 0.55
) -> str:
    """The settings file of the test world under ``root`` (data, key, pipeline, schemas all inside it)."""
    return SETTINGS_TOML.format(root=root, epochs=epochs, auc_floor=auc_floor, schema_dir=schema_dir)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    """The shared world (see the module docstring); returns its root."""
    root = tmp_path_factory.mktemp("dropout-world")
    (root / "pseudonym.key").write_text(TEST_KEY)
    (root / "world.toml").write_text(settings_toml(root))
    (root / "monitor.toml").write_text(settings_toml(root, schema_dir="schemas-monitor"))
    for name in ("schemas", "schemas-monitor"):
        shutil.copytree(REPO / "schemas", root / name)
    training = root / "schemas" / "schema.pbtxt"
    text = training.read_text()
    assert 'value: "web" value: "ios" value: "android"' in text
    text = text.replace('value: "web" value: "ios" value: "android"', 'value: "web" value: "ios"')
    training.write_text(re.sub(r"(drift_comparator \{[^}]*threshold: )[0-9.]+", r"\g<1>0.0001", text))
    monitor = root / "schemas-monitor" / "schema.pbtxt"
    monitor.write_text(
        re.sub(
            r"(drift_comparator \{ jensen_shannon_divergence \{ threshold: )[0-9.]+",
            rf"\g<1>{NUMERIC_DRIFT_THRESHOLD}",
            monitor.read_text(),
        )
    )
    subprocess.run([TFX_PY, "-c", GENERATE, str(root / "data")], cwd=REPO, check=True)
    return root


def executor_pid(home: Path) -> int | None:
    """The warm executor's server process (the child of its supervisor), or None while it restarts."""
    supervisor = int((home / "tfx-executor.pid").read_text())
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return int(children[0]) if children else None


@pytest.fixture(scope="session")
def airflow(tmp_path_factory):
    """The throwaway deployment: ``.env``, ``.api`` (hitl.AirflowAPI), ``.shell``, ``.home``."""
    sys.path.insert(0, str(REPO / "infra" / "airflow"))
    from hitl import AirflowAPI

    home = tmp_path_factory.mktemp("airflow-home")
    (home / "logs").mkdir()
    port = _free_port()
    # The training DAG records to MLflow: a throwaway tracking server from the product's own script.
    ml_env = {
        **__import__("os").environ,
        "MLFLOW_HOME": str(home / "mlflow"),
        "MLFLOW_PORT": str(_free_port()),
    }
    subprocess.run(["bash", str(REPO / "infra/mlflow/start.sh")], env=ml_env, check=True)
    env = {
        **__import__("os").environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_PORT": str(port),
        "DROPOUT__TRACKING__URI": f"http://127.0.0.1:{ml_env['MLFLOW_PORT']}",
        "DROPOUT_TFX_EXECUTOR": str(home / "tfx-executor.sock"),
        "DROPOUT_TASK_RETRY_DELAY_SECONDS": "2",
    }
    # The warm executor first: its import of TFX overlaps the api-server's start.
    assert airflow_shell(env, f'tfx_executor_start "{home}/tfx-executor.pid"').wait() == 0
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
    ping = [TFX_PY, "-m", "dropout.executor", "ping", "--socket", env["DROPOUT_TFX_EXECUTOR"]]
    for _ in range(120):
        if subprocess.run(ping, cwd=REPO, capture_output=True).returncode == 0:
            break
        time.sleep(1)
    yield SimpleNamespace(env=env, api=api, shell=partial(airflow_shell, env), home=home)
    server.terminate()
    server.wait(timeout=60)
    log.close()
    supervisor = int((home / "tfx-executor.pid").read_text())
    try:
        __import__("os").kill(supervisor, signal.SIGTERM)
    except ProcessLookupError:
        pass
    subprocess.run(["bash", str(REPO / "infra/mlflow/stop.sh")], env=ml_env, check=False)


def run_dag(
    airflow,
    world: Path,
    span: int,
    answers: dict[str, str],
    *,
    name: str,
    config: str = "world.toml",
    during=None,
    timeout_s: float = 1800,
) -> dict:
    """One ``airflow dags test`` run of the training DAG, reviews answered through the REST API by ``answers``.

    ``during(log_path)``, when given, runs in a thread beside the run (the kill tests). Returns answer_run's
    result plus ``log`` (the run's output: task logs included) and ``returncode``.
    """
    from hitl import answer_run

    conf = json.dumps({"span": span, "config": str(world / config), "reason": "manual"})
    log_path = world / f"dags-test-{name}.log"
    started = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 1))
    with open(log_path, "w") as log:
        proc = airflow.shell(
            f"exec airflow dags test {DAG} -c '{conf}'", stdout=log, stderr=subprocess.STDOUT
        )
        helper = threading.Thread(target=during, args=(log_path,), daemon=True) if during else None
        if helper:
            helper.start()
        try:
            result = answer_run(
                airflow.api,
                DAG,
                answers,
                "platform",
                after=started,
                timeout_s=timeout_s,
                poll_s=2,
                probe_unassigned=True,
            )
            returncode = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        if helper:
            helper.join(timeout=60)
    return {**result, "log": log_path.read_text(), "returncode": returncode}


def review_record(world: Path, run_id: str, name: str) -> dict:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return json.loads((world / "pipeline" / "reviews" / safe / name).read_text())


@pytest.fixture(scope="session")
def approved_run(airflow, world):
    """Span 0 answered "Accept once" by the steward and "Approve" by the manager: in the browser when
    chromium is installed (``_browser.answer_in_ui``), else through the REST API. Its model is the champion."""
    import _browser

    if _browser.available():
        return _browser.approved_in_ui(airflow, world)
    result = run_dag(
        airflow, world, 0, {"steward_review": "Accept once", "manager_approval": "Approve"}, name="approved"
    )
    return {**result, "browser": None}
