"""Typed settings, loaded once at an entry point from a TOML file and overridden by environment variables.

Nothing here runs at import time. Entry points call ``load_settings(path)`` and pass the result (or
the plain values in it) down; pipeline, component and model code never read the environment.

Environment overrides use ``DROPOUT__<SECTION>__<FIELD>`` (double underscores), for example
``DROPOUT__MODEL__EPOCHS=3`` or ``DROPOUT__PIPELINE__ROOT=/srv/dropout``. The pseudonymisation key
is never a setting: it comes from the environment variable named by ``ingestion.key_env`` or from
the file named by ``ingestion.key_file``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropout.contract.features import DEFAULT_WINDOW_DAYS

ENV_PREFIX = "DROPOUT__"


@dataclass(frozen=True)
class DataSettings:
    root: str = "work/data"  # holds landing/, learners.csv, outcomes.csv
    first_day: str = "2026-09-01"  # first landing day of span 0
    window_days: int = DEFAULT_WINDOW_DAYS  # days per span and per example sequence
    label_column: str = "dropped_out"  # or "churned" on paid platforms
    # Training examples per learner and span: the span's window and windows ending cut_step_days, 2 x
    # cut_step_days, ... earlier (never before first_day), each labelled with the eventual outcome, so
    # the model learns the question the daily early-warning job asks. 1: the span's window only.
    training_cuts: int = 1
    cut_step_days: int = 3


@dataclass(frozen=True)
class IngestionSettings:
    key_env: str = "DROPOUT_PSEUDONYM_KEY"
    key_file: str = "work/secrets/pseudonym.key"  # used when key_env is unset
    clock_skew_minutes: int = 15  # events this far outside their landing day are accepted
    eval_fraction: float = 0.2  # share of learners (by pseudonym hash) in the eval split


@dataclass(frozen=True)
class ModelSettings:
    architecture: str = "lstm"  # lstm | attention | multitask
    lstm_units: int = 64
    dropout: float = 0.5
    dense_units: int = 32
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    early_stopping_patience: int = 3
    strategy: str = "auto"  # auto | default | mirrored | multi_worker
    train_steps: int = 0  # 0: one pass over the train split per epoch
    eval_steps: int = 0


@dataclass(frozen=True)
class EvaluationSettings:
    threshold: float = 0.8  # operating risk threshold
    top_fraction: float = 0.1  # precision / recall at the top 10 % of risk scores
    auc_floor: float = 0.65  # absolute floor for blessing
    regression_tolerance: float = 0.02  # allowed AUC drop against the current blessed model
    fairness_attribute: str = "gender"
    max_recall_gap: float = 0.25  # largest recall gap across the fairness slice


@dataclass(frozen=True)
class PipelineSettings:
    name: str = "dropout-risk"
    root: str = "work/pipeline"
    metadata_path: str = "work/metadata/metadata.sqlite"
    serving_root: str = "work/serving"
    model_name: str = "dropout_risk"
    schema_dir: str = "schemas"
    beam_workers: int = 0  # DirectRunner multi_processing workers; 0 = in-process


@dataclass(frozen=True)
class TrackingSettings:
    uri: str = "http://127.0.0.1:5000"  # MLflow tracking server (infra/mlflow/start.sh starts one here)
    experiment: str = "dropout-risk"  # one experiment for the model: every retrain and monitor decision
    registered_model: str = "dropout_risk"  # one registered model; aliases champion / challenger
    http_retries: int = 3  # retries per request while the server is unreachable, then a clear failure
    http_timeout_seconds: int = 30  # per request


@dataclass(frozen=True)
class ServingSettings:
    host: str = "127.0.0.1"
    port: int = 8501  # TF Serving's REST port
    token_env: str = "DROPOUT_SERVING_TOKEN"  # bearer token; never a setting value, never committed
    token_file: str = "work/secrets/serving.token"  # used when token_env is unset
    poll_seconds: float = 2.0  # how often the model directory is checked for a newly pushed version
    keep_versions: int = 2  # newest versions kept loaded (stable + canary)
    stable_version: int = 0  # pin the stable label; 0 = the newest version before the canary
    canary_version: int = 0  # pin the canary label; 0 = the newest version
    canary_fraction: float = 0.1  # share of unlabelled requests answered by the canary
    max_batch_size: int = 32  # examples per model call when concurrent requests are batched
    batch_timeout_ms: float = 2.0  # how long the first request of a batch waits for company
    max_body_bytes: int = 4194304  # larger request bodies get a 400
    max_instances: int = 1000  # examples per request
    model_threads: int = 2  # threads running model calls


@dataclass(frozen=True)
class WarningSettings:
    out_dir: str = "work/warning"  # risk lists (CSV per run), risk.sqlite with risk lists and interventions
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "early-warning@localhost"
    staff_email: str = ""  # course staff address for the staff e-mail action
    webhook_url: str = ""  # the app's push-notification endpoint for the webhook action
    high_actions: str = "email_learner,email_staff,webhook"  # actions for flagged risk >= threshold
    top_actions: str = "email_learner"  # actions for flagged learners in the top fraction only
    # A flagged learner with no activity on any of their last silent_days enrolled days is "silent": a
    # nudge reaches nobody, so they get silent_actions (a check-in from course staff) instead of the band's.
    silent_days: int = 7
    silent_actions: str = "email_staff"
    outcome_days: int = 7  # a flagged learner "came back" when active within this many days


@dataclass(frozen=True)
class Settings:
    data: DataSettings = field(default_factory=DataSettings)
    ingestion: IngestionSettings = field(default_factory=IngestionSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    warning: WarningSettings = field(default_factory=WarningSettings)

    def resolve(self, base: Path) -> Settings:
        """Return a copy whose relative paths are anchored at ``base``."""

        def anchor(p: str) -> str:
            return p if os.path.isabs(p) else str((base / p).resolve())

        return dataclasses.replace(
            self,
            data=dataclasses.replace(self.data, root=anchor(self.data.root)),
            ingestion=dataclasses.replace(self.ingestion, key_file=anchor(self.ingestion.key_file)),
            pipeline=dataclasses.replace(
                self.pipeline,
                root=anchor(self.pipeline.root),
                metadata_path=anchor(self.pipeline.metadata_path),
                serving_root=anchor(self.pipeline.serving_root),
                schema_dir=anchor(self.pipeline.schema_dir),
            ),
            serving=dataclasses.replace(self.serving, token_file=anchor(self.serving.token_file)),
            warning=dataclasses.replace(self.warning, out_dir=anchor(self.warning.out_dir)),
        )


def _coerce(value: str, like: Any, where: str) -> Any:
    if isinstance(like, bool):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"{where}: '{value}' is not a boolean (use true or false)")
    try:
        return type(like)(value)
    except ValueError as exc:
        raise ValueError(f"{where}: '{value}' is not a {type(like).__name__}") from exc


def _build(cls: type, values: dict[str, Any], section: str, env: dict[str, str]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"settings [{section}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for name in known:
        default = getattr(defaults, name)
        value = values.get(name, default)
        env_key = f"{ENV_PREFIX}{section.upper()}__{name.upper()}"
        if env_key in env:
            value = _coerce(env[env_key], default, env_key)
        elif type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
            raise ValueError(f"settings [{section}] {name}: expected {type(default).__name__}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load settings from a TOML file (optional) with environment overrides.

    Relative paths in the file are anchored at the file's directory's parent when the file lives in
    a ``config/`` folder (the repository layout), otherwise at the current directory.

    Raises:
        ValueError: on unknown sections or keys, or values of the wrong type, naming the key.
    """
    env = dict(os.environ) if env is None else env
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
        base = path.resolve().parent
        if base.name == "config":
            base = base.parent
    sections = {f.name: f.type for f in dataclasses.fields(Settings)}
    unknown = set(raw) - set(sections)
    if unknown:
        raise ValueError(f"settings: unknown sections {sorted(unknown)}; known: {sorted(sections)}")
    classes = {
        "data": DataSettings,
        "ingestion": IngestionSettings,
        "model": ModelSettings,
        "evaluation": EvaluationSettings,
        "pipeline": PipelineSettings,
        "tracking": TrackingSettings,
        "serving": ServingSettings,
        "warning": WarningSettings,
    }
    built = {name: _build(cls, raw.get(name, {}), name, env) for name, cls in classes.items()}
    return Settings(**built).resolve(base)


def pseudonym_key(settings: IngestionSettings, env: dict[str, str] | None = None) -> bytes:
    """Return the pseudonymisation key: the environment variable first, then the key file.

    Raises:
        RuntimeError: when neither is set, saying how to provide one.
    """
    env = dict(os.environ) if env is None else env
    if env.get(settings.key_env):
        return env[settings.key_env].encode()
    key_path = Path(settings.key_file)
    if key_path.is_file():
        key = key_path.read_bytes().strip()
        if key:
            return key
    raise RuntimeError(
        f"no pseudonymisation key: set ${settings.key_env} or write a secret to {key_path} "
        "(`make setup` creates a random local one for development)"
    )
