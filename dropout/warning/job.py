"""One early-warning run in three steps, and the later outcome check, as plain functions the CLI and tests call.

``score`` (risk list, reasons, serving statistics; no actions) -> ``check_skew`` (against the
champion's training statistics; report for the stewards) -> ``act`` (interventions only once the
data is trusted: no skew, or a steward chose to act; otherwise held and recorded) -> later
``check_outcomes``. Each step reads what the previous one recorded in ``risk.sqlite`` (table ``runs``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropout.contract import features as F
from dropout.contract.decisions import ACT_ON_SCORES, HOLD_INTERVENTIONS, NO_SKEW, SKEW_DECISIONS
from dropout.feedback import store
from dropout.feedback.store import HELD, SENT, SKIPPED
from dropout.ingestion.adapters import newest_landing_day
from dropout.pipeline import champion as champion_lib

from . import actions as A
from . import lead_time as LT
from . import reasons as R
from . import scoring
from .examples import serving_examples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarningRun:
    """Everything one run needs (built from settings by the CLI)."""

    run_id: str
    data_root: Path
    model_dir: Path
    out_dir: Path
    key: bytes
    window_days: int
    threshold: float  # evaluation.threshold
    top_fraction: float  # evaluation.top_fraction
    high_actions: tuple[str, ...] = ()
    top_actions: tuple[str, ...] = ()
    # Flagged learners already silent (lead_time.silent over silent_days) get these instead of their
    # band's actions; None: the band's actions for everyone.
    silent_actions: tuple[str, ...] | None = None
    silent_days: int = 7
    channels: A.Channels | None = None
    outcome_days: int = 7
    as_of: dt.date | None = None
    ig_steps: int = 16


# The decision on a run's interventions (the steward's options in the early-warning DAG).
DECISIONS = SKEW_DECISIONS


def _paths(config: WarningRun) -> dict[str, Path]:
    runs = config.out_dir / "runs"
    return {
        "database": store.store_path(config.out_dir),
        "risk_csv": runs / f"risk-{config.run_id}.csv",
        "serving_statistics": runs / f"serving-stats-{config.run_id}.pb",
    }


def score(config: WarningRun) -> dict[str, Any]:
    """Score the active learners, explain the flagged ones, write the risk list and the serving statistics.

    No intervention is sent here (``act`` does, once the data is trusted). Returns a JSON-able
    summary: counts, the champion version, paths.
    """
    from dropout.monitoring import skew

    paths = _paths(config)
    columns, counts = serving_examples(
        config.data_root,
        config.key,
        config.window_days,
        as_of=config.as_of,
        interventions_db=paths["database"],
    )
    champion = champion_lib.load(config.model_dir)
    n = len(columns[F.LEARNER_KEY])
    risk = champion_lib.score(champion, columns) if n else np.zeros(0, np.float32)
    rank, band = scoring.rank_and_flag(risk, config.threshold, config.top_fraction)
    flagged = np.flatnonzero(band != "")
    activity = (
        LT.activity_labels(columns[F.ACTIVE_MASK_KEY], columns[F.ENROLLED_MASK_KEY], config.silent_days)
        if n
        else np.zeros(0, object)
    )
    reasons = [""] * n
    if len(flagged):
        attributions, _, _ = scoring.integrated_gradients(champion, columns, flagged, steps=config.ig_steps)
        for j, i in enumerate(flagged):
            row = {k: columns[k][i] for k in F.sequence_keys()}
            grouped = R.group_attributions(
                {k: v[j] for k, v in attributions.items()}, row[F.ENROLLED_MASK_KEY]
            )
            reasons[i] = R.reason(row, grouped)
    scored_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rows = [
        {
            "learner": str(columns[F.LEARNER_KEY][i]),
            "course_id": str(columns["course_id"][i]),
            "risk": float(risk[i]),
            "rank": int(rank[i]),
            "band": str(band[i]),
            "reason": reasons[i],
            "activity_state": str(activity[i]),
        }
        for i in range(n)
    ]
    con = store.connect(paths["database"])
    store.write_risk_list(con, paths["risk_csv"], config.run_id, scored_at, champion.version, rows)
    # What the skew check compares with the champion's training statistics: exactly what was scored.
    paths["serving_statistics"].write_bytes(skew.serving_statistics(columns).SerializeToString())
    store.record_run(
        con,
        run_id=config.run_id,
        scored_at=scored_at,
        window_first_day=counts["window_first_day"],
        window_last_day=counts["window_last_day"],
        model_version=champion.version,
        model_path=str(champion.path),
        active_learners=n,
        flagged=int(len(flagged)),
        serving_statistics=str(paths["serving_statistics"]),
    )
    con.close()
    return {
        "run_id": config.run_id,
        "model_version": champion.version,
        "model_path": str(champion.path),
        "window": [counts["window_first_day"], counts["window_last_day"]],
        "input_records": counts["input_records"],
        "quarantined": counts["quarantined"],
        "active_learners": n,
        "flagged": int(len(flagged)),
        "flagged_high": int((band == "high").sum()),
        "flagged_top_only": int((band == "top").sum()),
        # Still reachable vs already quiet for warning.silent_days (the list separates them; so do actions).
        "flagged_active": int(((band != "") & (activity == LT.ACTIVE)).sum()),
        "flagged_silent": int(((band != "") & (activity == LT.SILENT)).sum()),
        "risk_csv": str(paths["risk_csv"]),
        "database": str(paths["database"]),
        "serving_statistics": str(paths["serving_statistics"]),
    }


def check_skew(out_dir: Path, run_id: str, training) -> dict[str, Any]:
    """Skew of the run's serving statistics against the champion's training statistics; report written.

    Args:
        training: ``champion.TrainingRun`` of the champion (``champion.champion_training`` finds it in ML Metadata).

    Returns:
        ``skew.write_report``'s summary (``skew``, ``anomalies``, ``features``, report paths, ``body``
        for the steward) plus the training run it compared with.
    """
    import tensorflow_data_validation as tfdv

    from dropout.monitoring import skew
    from dropout.pipeline import schema as schema_lib

    con = store.connect(store.store_path(out_dir))
    record = store.get_run(con, run_id)
    serving_stats = tfdv.load_stats_binary(record["serving_statistics"])
    found = skew.find_skew(
        tfdv.load_stats_binary(str(training.statistics)),
        serving_stats,
        schema_lib.load_schema(training.schema),
    )
    report = {
        "run_id": run_id,
        "window": [record["window_first_day"], record["window_last_day"]],
        "active_learners": record["active_learners"],
        "flagged": record["flagged"],
        "model_version": record["model_version"],
        "model_path": record["model_path"],
        "training_run": training.run_id,
        "training_span": training.span,
        "training_statistics": str(training.statistics),
        "schema": str(training.schema),
        "matched_by": training.matched_by,
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **found,
    }
    summary = skew.write_report(report, out_dir)
    store.update_run(
        con,
        run_id,
        skew=int(summary["skew"]),
        skew_features=",".join(summary["features"]),
        skew_report=summary["report_html"],
        skew_checked_at=report["checked_at"],
    )
    con.close()
    return {**summary, "training_run": training.run_id, "training_span": training.span}


def act(
    config: WarningRun, decision: str | None = None, by: str = "", at: str = "", reason: str = ""
) -> dict[str, Any]:
    """Send (or hold) the interventions of a scored, skew-checked run, and record every planned action.

    ``decision``: ``NO_SKEW`` (the check found nothing), ``ACT_ON_SCORES`` or ``HOLD_INTERVENTIONS`` (a
    steward's answer). None means: act when the check found no skew, hold otherwise (nobody reviewed
    the skew). On hold nothing is sent; each planned action is recorded as ``held`` with who held it
    and why (ingestion counts only ``sent``), and the run records the decision. Actions already sent for this run are not sent again
    (a retried task does not e-mail twice).

    Raises:
        LookupError: the run was not scored; RuntimeError: its skew was not checked yet;
        ValueError: an unknown decision, or ``NO_SKEW`` for a run with skew.
    """
    con = store.connect(store.store_path(config.out_dir))
    record = store.get_run(con, config.run_id)
    if record["skew"] is None:
        raise RuntimeError(
            f"run {config.run_id}: skew not checked yet; run `python -m dropout.warning skew` first"
        )
    skewed = bool(record["skew"])
    if decision is None:
        decision, by = (HOLD_INTERVENTIONS, by or "policy") if skewed else (NO_SKEW, by or "pipeline")
        if skewed:
            reason = reason or (
                f"skew in {record['skew_features']} and no steward decision (report {record['skew_report']})"
            )
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r} is not one of {DECISIONS}")
    if decision == NO_SKEW and skewed:
        raise ValueError(
            f"run {config.run_id} has skew in {record['skew_features']}: a steward must decide "
            f"({ACT_ON_SCORES!r} or {HOLD_INTERVENTIONS!r}); report {record['skew_report']}"
        )
    hold = decision == HOLD_INTERVENTIONS
    if hold and not reason:
        reason = f"held by {by or 'steward'}: skew in {record['skew_features'] or '(none)'}"

    flagged = [A.Flagged(**r) for r in store.flagged_rows(con, config.run_id)]
    planned = [(item, action) for item in flagged for action in planned_actions(config, item)]
    done = store.intervention_statuses(con, config.run_id)
    last_day = dt.date.fromisoformat(record["window_last_day"])
    due = (last_day + dt.timedelta(days=config.outcome_days)).isoformat()
    addresses = {}
    if not hold and config.channels is not None and any(a == "email_learner" for _, a in planned):
        addresses = A.learner_addresses(config.data_root / "learners.csv", config.key)
    statuses: dict[str, int] = {}
    for item, action in planned:
        previous = done.get((item.learner, item.course_id, action))
        if previous == SENT:
            status = SENT  # sent by an earlier attempt of this run: never twice
        else:
            if hold:
                status, detail = HELD, f"{HOLD_INTERVENTIONS}: {reason}"
            elif config.channels is None:
                status, detail = SKIPPED, "no delivery channels configured"
            else:
                status, detail = A.HANDLERS[action](item, config.channels, addresses)
            store.record_intervention(
                con,
                run_id=config.run_id,
                learner=item.learner,
                course_id=item.course_id,
                band=item.band,
                action=action,
                status=status,
                detail=detail,
                acted_at=last_day.isoformat(),
                outcome_due=due,
            )
        statuses[status] = statuses.get(status, 0) + 1
    if sum(statuses.values()) != len(planned):
        raise AssertionError(f"run {config.run_id}: {len(planned)} planned actions, {statuses} recorded")
    decided_at = at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    store.update_run(
        con,
        config.run_id,
        decision="held" if hold else "acted",
        decided_by=by,
        decided_at=decided_at,
        decision_reason=reason or decision,
    )
    con.close()
    return {
        "run_id": config.run_id,
        "decision": decision,
        "held": hold,
        "by": by,
        "at": decided_at,
        "reason": reason or decision,
        "skew": skewed,
        "flagged": len(flagged),
        "planned_actions": len(planned),
        "actions": statuses,
    }


def planned_actions(config: WarningRun, item: A.Flagged) -> tuple[str, ...]:
    """The actions for one flagged learner: ``silent_actions`` when already silent, else the band's."""
    if config.silent_actions is not None and item.activity_state == LT.SILENT:
        return config.silent_actions
    return config.high_actions if item.band == "high" else config.top_actions


def check_outcomes(
    data_root: Path, out_dir: Path, key: bytes, outcome_days: int, today: dt.date
) -> dict[str, Any]:
    """Record, for each due intervention, whether the learner was active within ``outcome_days`` after it.

    The days after the intervention go through the same ingestion (SERVING mode); "came back" means
    at least one accepted event on one of those days. An outcome is decided only once the landing data
    covers all of those days (up to the newest landing day, not just the calendar): days that have
    not landed yet are not evidence that the learner stayed away. Until then it stays pending. The
    outcome is stamped with that data day (``outcome_checked_at``), which is what the point-in-time
    join into later training data compares with window ends (the same as the calendar in production,
    and still right when older data is replayed).
    """
    landed_through = newest_landing_day(Path(data_root) / "landing")
    decided_through = min(today, landed_through)
    con = store.connect(store.store_path(out_dir))
    due = store.due_outcomes(con, decided_through.isoformat())
    pending = store.due_outcomes(con, today.isoformat())
    by_day: dict[str, list[tuple[str, str, str]]] = {}
    for run_id, learner, course, acted_at in due:
        by_day.setdefault(acted_at, []).append((run_id, learner, course))
    came_back = 0
    for acted_at, items in by_day.items():
        last = dt.date.fromisoformat(acted_at) + dt.timedelta(days=outcome_days)
        columns, _ = _all_enrolled(data_root, key, outcome_days, last)
        active = {
            (str(lr), str(c)): bool(np.asarray(a).sum() > 0)
            for lr, c, a in zip(
                columns[F.LEARNER_KEY], columns["course_id"], columns[F.ACTIVE_MASK_KEY], strict=True
            )
        }
        for run_id, learner, course in items:
            back = active.get((learner, course), False)
            came_back += int(back)
            store.set_outcome(con, run_id, learner, course, back, decided_through.isoformat())
    con.close()
    return {
        "checked": len(due),
        "came_back": came_back,
        "landed_through": landed_through.isoformat(),
        "waiting_for_landing_data": len(pending) - len(due),
    }


def _all_enrolled(data_root: Path, key: bytes, days: int, last: dt.date):
    from dropout.ingestion.span import ingest_span

    first = last - dt.timedelta(days=days - 1)
    result = ingest_span(
        Path(data_root) / "landing",
        Path(data_root) / "learners.csv",
        None,
        first_day=first,
        span=0,
        window_days=days,
        key=key,
        mode="serving",
        threads=1,
    )
    table = result.examples.to_pydict()
    columns = {
        F.LEARNER_KEY: table[F.LEARNER_KEY],
        "course_id": table["course_id"],
        F.ACTIVE_MASK_KEY: table[F.ACTIVE_MASK_KEY],
    }
    return columns, result.counts
