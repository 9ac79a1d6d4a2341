"""Run TFX-environment commands from Airflow tasks: on the warm executor, else as a new process.

``TfxNodeOperator`` runs one node of the TFX pipeline (``python -m dropout.pipeline ... node``);
``run_tfx`` runs any other module of the TFX environment (review, registry, monitoring, early
warning). Both pass the Airflow run id as the TFX pipeline run id, stream the command's output into
the task log, fail the task with the command's last lines when it fails, and return the JSON object
the command prints as its last line (its result, pushed to XCom).

Where the command runs: this machine's warm executor (``python -m dropout.executor``, started by
``make up`` beside the scheduler and workers; its socket is ``$DROPOUT_TFX_EXECUTOR``) forks it from a
process that has already imported TFX, which saves the ~30 s of imports a new process spends. When no
executor answers, the task says so in its log and starts ``.venv-tfx/bin/python -m ...`` itself.
Either way the command sees only the environment it needs (``protocol.forwarded_env`` for the
executor; without ``AIRFLOW*`` variables for a new process): never Airflow's own secrets.
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

from dropout.executor import client, protocol

REPO = Path(__file__).resolve().parents[2]
POOL = "tfx_metadata"  # one slot: SQLite ML Metadata must not be written concurrently
TFX_PYTHON_ENV = "DROPOUT_TFX_PYTHON"  # override of the TFX interpreter (default .venv-tfx/bin/python)

log = logging.getLogger(__name__)


class TfxCommandError(RuntimeError):
    pass


def tfx_python() -> str:
    return os.environ.get(TFX_PYTHON_ENV) or str(REPO / ".venv-tfx" / "bin" / "python")


def _process_env() -> dict[str, str]:
    """A new TFX-environment process's environment: this one's without Airflow's settings and secrets."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {"PYTHONUNBUFFERED": "1"}


def _run(args: list[str], on_line, logger: logging.Logger) -> int:
    """Run ``python -m <args>`` on the warm executor, or as a new process when there is none."""
    socket_path = os.environ.get(protocol.SOCKET_ENV, "")
    if socket_path:
        usage: dict[str, float] = {}
        try:
            code = client.run(
                socket_path,
                args,
                cwd=REPO,
                env=protocol.forwarded_env(os.environ),
                on_line=on_line,
                usage=usage,
                on_start=lambda pid: logger.info(
                    "running on the warm executor %s as pid %d", socket_path, pid
                ),
            )
        except client.Unavailable as exc:
            logger.warning("%s; running a new TFX-environment process instead (about 30 s slower)", exc)
        else:
            logger.info("exit status %d, %.1f CPU-s", code, usage.get("cpu_s", 0.0))
            return code
    else:
        logger.info(
            "no warm executor configured ($%s); running a new TFX-environment process", protocol.SOCKET_ENV
        )
    argv = [tfx_python(), "-m", *args]
    with subprocess.Popen(
        argv,
        cwd=REPO,
        env=_process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        return proc.wait()


def run_tfx(args: Sequence[str], logger: logging.Logger | None = None) -> dict[str, Any]:
    """Run ``python -m <args>`` in the TFX environment, in the repository root; return its last-line JSON.

    Raises:
        TfxCommandError: when the command exits non-zero (with the last lines of its output), its
            last line is not a JSON object, or the warm executor went away while it ran.
    """
    logger = logger or log
    args = [str(a) for a in args]
    command = "python -m " + " ".join(args)
    logger.info("running in the TFX environment: %s", command)
    tail: deque[str] = deque(maxlen=40)

    def on_line(line: str) -> None:
        tail.append(line)
        logger.info("%s", line)

    try:
        rc = _run(args, on_line, logger)
    except client.Lost as exc:
        raise TfxCommandError(f"`{command}`: {exc}; last output:\n" + "\n".join(tail)) from exc
    if rc != 0:
        raise TfxCommandError(f"`{command}` exited with {rc}; last output:\n" + "\n".join(tail))
    last = next((t for t in reversed(tail) if t.strip()), "")
    try:
        result = json.loads(last)
    except json.JSONDecodeError as exc:
        raise TfxCommandError(f"`{command}` did not end with a JSON line; last line: {last!r}") from exc
    if not isinstance(result, dict):
        raise TfxCommandError(f"`{command}` ended with {last!r}, expected a JSON object")
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
