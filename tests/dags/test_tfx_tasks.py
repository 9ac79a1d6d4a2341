"""How the Airflow tasks run TFX-environment commands (Airflow env): the warm executor when it answers, a new
process (said in the task log) when it does not, and never with Airflow's secrets. A few seconds."""

from __future__ import annotations

import logging
import os

import pytest


def test_a_new_process_never_sees_airflow_settings_or_secrets(monkeypatch):
    from dropout_airflow import tfx

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "s3cret")
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "k3y")
    monkeypatch.setenv("DROPOUT__MODEL__EPOCHS", "3")
    env = tfx._process_env()
    assert not any(name.startswith("AIRFLOW") for name in env)
    assert env["DROPOUT__MODEL__EPOCHS"] == "3" and env["PYTHONUNBUFFERED"] == "1"


def test_without_an_executor_the_task_says_so_and_a_failing_command_fails_it(monkeypatch, tmp_path, caplog):
    from dropout_airflow import tfx

    socket_path = tmp_path / "nobody.sock"
    monkeypatch.setenv("DROPOUT_TFX_EXECUTOR", str(socket_path))
    logger = logging.getLogger("test-task")
    with caplog.at_level(logging.INFO, logger="test-task"), pytest.raises(tfx.TfxCommandError) as failed:
        tfx.run_tfx(["dropout.executor", "ping", "--socket", str(socket_path)], logger=logger)
    assert "running a new TFX-environment process instead" in caplog.text  # no executor: said, then fallback
    assert "exited with 1" in str(failed.value) and f"no warm executor at {socket_path}" in str(failed.value)
    assert os.environ["DROPOUT_TFX_EXECUTOR"] == str(socket_path)
