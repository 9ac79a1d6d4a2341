"""Run TFX-environment commands from Airflow tasks, as subprocesses of the TFX virtualenv.

``TfxNodeOperator`` runs one node of the TFX pipeline (``python -m dropout.pipeline ... node``);
``run_tfx`` runs any other module of the TFX environment (the review helpers). Both pass the Airflow
run id as the TFX pipeline run id, stream the child's output into the task log, and read the JSON
object the child prints as its last line (its result, pushed to XCom).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

REPO = Path(__file__).resolve().parents[2]
POOL = "tfx_metadata"  # one slot: SQLite ML Metadata must not be written concurrently
TFX_PYTHON_ENV = "DROPOUT_TFX_PYTHON"  # override of the TFX interpreter (default .venv-tfx/bin/python)

log = logging.getLogger(__name__)


class TfxCommandError(RuntimeError):
    pass


def tfx_python() -> str:
    return os.environ.get(TFX_PYTHON_ENV) or str(REPO / ".venv-tfx" / "bin" / "python")


def run_tfx(args: Sequence[str], logger: logging.Logger | None = None) -> dict[str, Any]:
    """Run ``<tfx python> -m <args>`` in the repository root; return the JSON object on its last line.

    Raises:
        TfxCommandError: when the command exits non-zero (with the last lines of its output) or its
            last line is not a JSON object.
    """
    logger = logger or log
    argv = [tfx_python(), "-m", *map(str, args)]
    logger.info("running in the TFX environment: %s", " ".join(argv))
    tail: deque[str] = deque(maxlen=40)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            logger.info("%s", line)
        rc = proc.wait()
    if rc != 0:
        raise TfxCommandError(f"`{' '.join(argv)}` exited with {rc}; last output:\n" + "\n".join(tail))
    last = next((t for t in reversed(tail) if t.strip()), "")
    try:
        result = json.loads(last)
    except json.JSONDecodeError as exc:
        raise TfxCommandError(
            f"`{' '.join(argv)}` did not end with a JSON line; last line: {last!r}"
        ) from exc
    if not isinstance(result, dict):
        raise TfxCommandError(f"`{' '.join(argv)}` ended with {last!r}, expected a JSON object")
    return result


class TfxNodeOperator(BaseOperator):
    """One node of the TFX pipeline, run in the TFX environment as part of TFX run ``run_id``.

    The task id is the TFX node id. Re-running a node that already completed in this run is a no-op
    (``dropout.pipeline.runner.run_node``), so Airflow retries are safe.

    Args:
        node_id: the TFX node id (also the task id).
        config: settings file, relative to the repository root (templated).
        span: ingestion period (templated; rendered to a string).
    """

    template_fields: Sequence[str] = ("config", "span")
    ui_color = "#ff9900"

    def __init__(self, *, node_id: str, config: str, span: str, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", node_id)
        kwargs.setdefault("pool", POOL)
        super().__init__(**kwargs)
        self.tfx_node_id = node_id
        self.config = config
        self.span = span

    def execute(self, context: Any) -> dict[str, Any]:
        return run_tfx(
            [
                "dropout.pipeline",
                "--config",
                self.config,
                "--span",
                str(self.span),
                "node",
                self.tfx_node_id,
                "--run-id",
                context["run_id"],
            ],
            logger=self.log,
        )
