"""The model registry: one registered model, aliases ``challenger`` and ``champion``, rollback.

- A blessed candidate is registered as a new version and gets ``challenger`` (``log_and_register``,
  called by ``tracking.record_training``). Unblessed models are logged in their run, not registered.
- ``promote_champion``: after the manager approved and Pusher pushed, ``champion`` moves to the run's
  version; the previous champion stays registered (aliases move, versions are never deleted).
- ``rollback``: ``champion`` moves back to an earlier version, whose serving model (the Trainer's
  SavedModel, logged as the run's ``serving_model`` artifact) is pushed again into
  ``<serving_root>/<model_name>/<new version>/``. TF Serving serves the highest version number, so
  the rolled-back model gets a new, higher number instead of overwriting an old directory.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from dropout.contract.settings import Settings
from dropout.registry import connection as T
from dropout.review import records

CHALLENGER = "challenger"
CHAMPION = "champion"
PROMOTED_TAG = "champion.promoted_at"
SERVING_ARTIFACT = "serving_model"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def log_and_register(
    mlflow_client,
    settings: Settings,
    run_id: str,
    *,
    serving_dir: str,
    blessed: bool,
    tfx_run_id: str,
    span: int | None,
    blessing_reason: str,
) -> str | None:
    """Log the Trainer's model in run ``run_id``; register it when blessed. Returns the new version or None.

    The exact SavedModel with the serving signatures that Pusher deploys (``serving_model/``, which
    rollback re-pushes), and the same SavedModel as an MLflow model (``model/``, ``served_model.py``:
    loadable with ``mlflow.pyfunc.load_model``) that the registry's versions point to. Nothing is
    re-traced or re-saved, so recording takes seconds.
    """
    import mlflow
    import tensorflow as tf

    if not serving_dir or not Path(serving_dir, "saved_model.pb").exists():
        raise LookupError(f"run {tfx_run_id}: no Trainer SavedModel at {serving_dir}")
    mlflow_client.log_artifacts(run_id, serving_dir, SERVING_ARTIFACT)
    requirements = [f"tensorflow=={tf.__version__}", f"mlflow=={mlflow.__version__}"]
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("served_model.py")),
            artifacts={"saved_model": serving_dir},
            pip_requirements=requirements,
        )

    if not blessed:
        return None
    version = mlflow.register_model(
        info.model_uri,
        settings.tracking.registered_model,
        tags={T.TFX_RUN_TAG: tfx_run_id, "span": str(span)},
    )
    mlflow_client.update_model_version(
        settings.tracking.registered_model,
        version.version,
        description=f"Span {span}, TFX run {tfx_run_id}; blessed: {blessing_reason}",
    )
    return str(version.version)


def alias_version(mlflow_client, name: str, alias: str) -> str | None:
    """The version an alias points to, or None when the alias (or the registered model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise


def pushed_destination(settings: Settings, tfx_run_id: str) -> str | None:
    """Where Pusher pushed this run's model, or None when it did not run or pushed nothing."""
    from dropout.pipeline import outputs

    pipe = settings.pipeline
    try:
        props = outputs.run_outputs(pipe.metadata_path, pipe.name, tfx_run_id).properties(
            "Pusher", "pushed_model"
        )
    except LookupError:
        return None
    return props.get("pushed_destination") if props.get("pushed") == 1 else None


def _training_run(c, settings: Settings, tfx_run_id: str):
    exp_id = T.experiment_id(c, settings.tracking.experiment)
    runs = [r for r in T.find_runs(c, exp_id, tfx_run_id) if r.data.tags.get(T.COMPLETE_TAG) == "true"]
    if not runs:
        raise T.TrackingError(
            f"no complete MLflow record of TFX run {tfx_run_id} in experiment "
            f"'{settings.tracking.experiment}'; run `python -m dropout.registry record` first"
        )
    return runs[0]


def promote_champion(settings: Settings, tfx_run_id: str) -> dict[str, Any]:
    """Record the manager's decision and the push; move ``champion`` only when approved and pushed.

    Returns what happened (``champion`` true or false and why).

    Raises:
        TrackingError: no record of the run, or approved but nothing was pushed (champion unchanged).
    """
    tracking = settings.tracking
    T.configure(tracking)
    T.check_server(tracking)
    c = T.client(tracking)
    name = tracking.registered_model
    run = _training_run(c, settings, tfx_run_id)
    run_id, version = run.info.run_id, run.data.tags.get(T.VERSION_TAG) or None
    approval = records.read_records(settings, tfx_run_id).get(records.APPROVAL)
    destination = pushed_destination(settings, tfx_run_id)
    approved = bool(approval and approval.get("approved"))
    decision = approval["decision"] if approval else "none recorded"
    c.log_metric(run_id, "decision/approved", float(approved))
    c.log_metric(run_id, "decision/pushed", float(destination is not None))
    c.set_tag(run_id, "approval.decision", decision)
    if approval:
        c.set_tag(run_id, "approval.by", str(approval.get("by", "")))
        c.set_tag(run_id, "approval.at", str(approval.get("at", "")))
    if destination:
        c.set_tag(run_id, "pushed_destination", destination)
    result: dict[str, Any] = {
        "mlflow_run_id": run_id,
        "model_version": version,
        "approval": decision,
        "pushed_destination": destination,
        "champion": False,
        "previous_champion": alias_version(c, name, CHAMPION) if version else None,
    }
    if version is None:
        return {**result, "reason": "candidate not blessed: not registered, nothing to promote"}
    if not approved:
        if alias_version(c, name, CHALLENGER) == version:
            c.delete_registered_model_alias(name, CHALLENGER)
        return {**result, "reason": f"manager decision: {decision}; champion unchanged"}
    if destination is None:
        raise T.TrackingError(
            f"TFX run {tfx_run_id} was approved but Pusher pushed nothing; champion stays at "
            f"version {result['previous_champion']}. Check the Pusher task."
        )
    c.set_model_version_tag(name, version, PROMOTED_TAG, _now())
    c.set_model_version_tag(name, version, "pushed_destination", destination)
    assert approval is not None  # approved implies a record
    c.set_model_version_tag(name, version, "approved_by", str(approval.get("by", "")))
    c.set_registered_model_alias(name, CHAMPION, version)
    if alias_version(c, name, CHALLENGER) == version:
        c.delete_registered_model_alias(name, CHALLENGER)
    return {**result, "champion": True, "reason": f"approved by {approval.get('by')} and pushed"}


def push_to_serving(model_dir: str | Path, base: str | Path) -> Path:
    """Copy a SavedModel into ``base/<version>/`` (TF Serving layout) under a new, highest version number.

    Copied to a hidden directory first and renamed, so TF Serving never sees a half-written version.
    """
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    version = max([int(time.time()), *(v + 1 for v in existing)])
    staging = Path(tempfile.mkdtemp(prefix=".rollback-", dir=base))
    shutil.copytree(model_dir, staging, dirs_exist_ok=True)
    target = base / str(version)
    os.rename(staging, target)
    return target


def rollback(settings: Settings, to_version: str | None = None) -> dict[str, Any]:
    """Move ``champion`` to an earlier registered version and push that version's model again.

    Args:
        to_version: the version to serve; default the latest version before the current champion that
            was champion itself.

    Raises:
        TrackingError: no champion, no earlier champion, or the version has no serving model.
    """
    import mlflow

    tracking, pipe = settings.tracking, settings.pipeline
    T.configure(tracking)
    T.check_server(tracking)
    c = T.client(tracking)
    name = tracking.registered_model
    current = alias_version(c, name, CHAMPION)
    if current is None:
        raise T.TrackingError(f"registered model '{name}' has no champion to roll back from")
    if to_version is None:
        earlier = [
            int(v.version)
            for v in c.search_model_versions(f"name = '{name}'")
            if int(v.version) < int(current) and PROMOTED_TAG in v.tags
        ]
        if not earlier:
            raise T.TrackingError(
                f"no version of '{name}' before champion {current} was ever champion; "
                "name one with --to-version"
            )
        to_version = str(max(earlier))
    to_version = str(to_version)
    if to_version == current:
        raise T.TrackingError(f"version {to_version} of '{name}' is already the champion")
    target = c.get_model_version(name, to_version)
    with tempfile.TemporaryDirectory(prefix="rollback-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=target.run_id, artifact_path=SERVING_ARTIFACT, dst_path=tmp, tracking_uri=tracking.uri
            )
        except Exception as exc:  # noqa: BLE001 - re-raised with what to do
            raise T.TrackingError(
                f"version {to_version} of '{name}' (run {target.run_id}) has no "
                f"'{SERVING_ARTIFACT}' artifact to push: {exc}"
            ) from exc
        destination = push_to_serving(local, Path(pipe.serving_root) / pipe.model_name)
    c.set_model_version_tag(name, to_version, "rollback.at", _now())
    c.set_model_version_tag(name, to_version, "rollback.from_version", current)
    c.set_model_version_tag(name, to_version, "pushed_destination", str(destination))
    c.set_registered_model_alias(name, CHAMPION, to_version)
    return {
        "registered_model": name,
        "champion": to_version,
        "previous_champion": current,
        "pushed_destination": str(destination),
    }
