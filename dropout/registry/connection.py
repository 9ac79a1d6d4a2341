"""The MLflow tracking server: connection, bounded retries, the experiment, the tags every record carries.

Credentials for a server with basic auth come from MLflow's own ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` environment variables, never from settings.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from dropout.contract.settings import TrackingSettings

COMPLETE_TAG = "complete"  # "true" once a record is whole; readers skip runs without it
KIND_TAG = "dropout.kind"  # "training" | "drift_check"
TFX_RUN_TAG = "tfx.pipeline_run_id"
VERSION_TAG = "registry.version"


class TrackingError(RuntimeError):
    """Recording in MLflow failed; the message says what, where, and what was cleaned up."""


def configure(tracking: TrackingSettings) -> None:
    """Point MLflow at the configured server with bounded retries (called once by entry points)."""
    import mlflow

    # MLflow reads these per request; its defaults (7 retries, 120 s) would hide an outage for minutes.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(tracking.http_retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(tracking.http_timeout_seconds)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no usage reports from pipeline tasks
    mlflow.set_tracking_uri(tracking.uri)


def check_server(tracking: TrackingSettings) -> None:
    """Fail clearly when the tracking server does not answer ``/health`` after the configured retries."""
    if not tracking.uri.startswith(("http://", "https://")):
        return
    url = tracking.uri.rstrip("/") + "/health"
    error: Exception | None = None
    for attempt in range(tracking.http_retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=min(tracking.http_timeout_seconds, 10)) as response:
                if response.status == 200:
                    return
                error = RuntimeError(f"HTTP {response.status}")
        except (urllib.error.URLError, OSError) as exc:
            error = exc
        if attempt < tracking.http_retries:
            time.sleep(min(2**attempt, 10))
    raise TrackingError(
        f"MLflow tracking server {tracking.uri} is not reachable ({error}) after {tracking.http_retries + 1} "
        "tries; nothing was recorded. Start it with `bash infra/mlflow/start.sh` (or `make up`), or point "
        "DROPOUT__TRACKING__URI at the right server, then retry this task."
    )


def client(tracking: TrackingSettings):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.uri)


def experiment_id(mlflow_client, name: str) -> str:
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow experiment '{name}' is deleted; restore it or configure another name"
            )
        return experiment.experiment_id
    return mlflow_client.create_experiment(name)


def find_runs(mlflow_client, exp_id: str, tfx_run_id: str, kind: str = "training") -> list:
    return mlflow_client.search_runs(
        [exp_id],
        filter_string=f"tags.`{TFX_RUN_TAG}` = '{tfx_run_id}' and tags.`{KIND_TAG}` = '{kind}'",
    )
