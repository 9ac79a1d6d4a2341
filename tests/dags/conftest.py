"""Run each test module in the environment that can import it.

``test_dag_integrity.py`` and ``test_early_warning_dag.py`` need Airflow (``.venv-airflow``);
``test_pipeline_graph.py`` needs the TFX environment (``.venv-tfx``, where the project is installed). The two cannot share an interpreter (protobuf 7 vs < 5), so each interpreter's
pytest skips collecting the other's module instead of failing on import.
"""

import importlib.util
import os
import tempfile
from pathlib import Path

collect_ignore_glob = []
if importlib.util.find_spec("airflow") is None:
    collect_ignore_glob += ["test_dag_integrity.py", "test_early_warning_dag.py", "test_tfx_tasks.py"]
else:
    # A throwaway AIRFLOW_HOME before Airflow is imported: no examples, no access to a real deployment.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # Airflow puts the DAGs folder on sys.path; the DAG files import their helpers from it.
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[2] / "dags")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
if importlib.util.find_spec("tfx") is None:
    collect_ignore_glob += ["test_pipeline_graph.py"]
