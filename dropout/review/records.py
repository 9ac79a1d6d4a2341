"""The records of one training run's reviews: ``<pipeline root>/reviews/<run id>/<record>.json``.

Why the run exists (``run.json``), the steward's decision (``data_decision.json``), the candidate summary
the manager saw (``candidate.json``) and the manager's decision (``approval.json``). MLflow copies them
into the run's record (``dropout.registry.record``).
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

from dropout.contract.decisions import RUN_REASONS
from dropout.contract.settings import Settings

RUN = "run.json"
DATA_DECISION = "data_decision.json"
CANDIDATE = "candidate.json"
APPROVAL = "approval.json"
RECORDS = (RUN, DATA_DECISION, CANDIDATE, APPROVAL)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def review_dir(settings: Settings, run_id: str) -> Path:
    """``<pipeline root>/reviews/<run id with unsafe characters replaced>``, created."""
    path = Path(settings.pipeline.root) / "reviews" / re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_records(settings: Settings, run_id: str) -> dict[str, dict[str, Any]]:
    """The records of run ``run_id`` that exist, by file name."""
    folder = review_dir(settings, run_id)
    return {name: json.loads((folder / name).read_text()) for name in RECORDS if (folder / name).exists()}


def record_start(settings: Settings, run_id: str, span: int, reason: str, run_type: str, config: str) -> dict:
    """Why this run exists (weekly | drift | manual), for the people reading the run later."""
    if reason not in RUN_REASONS:
        raise ValueError(f"reason {reason!r} is not one of {RUN_REASONS}")
    record = {
        "run_id": run_id,
        "span": span,
        "reason": reason,
        "run_type": run_type,
        "config": config,
        "started_at": now(),
    }
    path = review_dir(settings, run_id) / RUN
    write_json(path, record)
    return {**record, "record": str(path)}
