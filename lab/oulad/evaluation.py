"""Point-in-time evaluation on OULAD: from the first N weeks, predict how a presentation ends.

Data: Kuzilek J., Hlosta M., Zdrahal Z., *Open University Learning Analytics dataset*, Scientific
Data 4, 170171 (2017), CC BY 4.0 - cite it wherever these results are shown.

Protocol (``docs/oulad.md``):

* Split by time: fit on AAA 2013J and BBB 2013B (``TRAIN_COURSES``), score AAA 2014J
  (``EVAL_COURSES``). 20 % of the training learners (stratified, seeded) are held out of fitting to
  stop the sequence model early and to choose each model's threshold (max F1).
* Cutoff ``N`` weeks = presentation day ``7 N``: only days ``[-pre_days, 7 N)`` are seen (the VLE
  opens before the start). Learners who unregistered before the cutoff (outcome already known) or
  registered on or after it (not yet enrolled) are left out of fitting and scoring.
* Labels: ``dropped_out`` (final_result Withdrawn) and ``at_risk`` (Withdrawn or Fail).
* Models, on the same learners: ``sequence`` - the project's Keras model
  (``dropout.pipeline.model.build_model``) on the daily sequences our ingestion (``ingest_span``)
  produces from the adapter's landing files; ``gbt`` - scikit-learn's HistGradientBoostingClassifier
  on hand-built weekly click and activity-type counts (:func:`hand_features`); ``clicks`` - the
  trivial baseline, total clicks so far (a one-feature logistic regression on log1p clicks, so it
  yields probabilities; its ranking is that of the click total).
* Demographics (gender, age band, disability, IMD band, region) are fairness slices only.

Plain functions on DataFrames and arrays; TensorFlow is imported only by :func:`fit_sequence_model`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from dropout.contract import features as F
from dropout.contract.settings import EvaluationSettings
from dropout.ingestion.pseudonymise import pseudonymise
from lab.oulad.mapping import ACTIVITY_EVENT_TYPES, DEFAULT_DAY0, FAIRNESS_SLICES, OuladMapping

CITATION = (
    "Data: Kuzilek J., Hlosta M., Zdrahal Z., *Open University Learning Analytics dataset*, "
    "Scientific Data 4, 170171 (2017), https://doi.org/10.1038/sdata.2017.171, CC BY 4.0."
)
CUTOFF_WEEKS: tuple[int, ...] = (2, 4, 8, 12)
TRAIN_COURSES: tuple[str, ...] = ("AAA-2013J", "BBB-2013B")
EVAL_COURSES: tuple[str, ...] = ("AAA-2014J",)
LABELS: tuple[str, ...] = ("dropped_out", "at_risk")
PRE_DAYS = 28  # the earliest click in these presentations is day -24
OPERATING_THRESHOLD = EvaluationSettings().threshold  # the product's default operating threshold
TOP_FRACTION = 0.1
ACTIVITY_TYPES: tuple[str, ...] = tuple(sorted(ACTIVITY_EVENT_TYPES))


def cohort(info: pd.DataFrame, cutoff_day: int) -> pd.DataFrame:
    """Learners scored at ``cutoff_day``: registered before it and not unregistered before it.

    Args:
        info: ``OuladMapping.info`` (``date_registration``, ``date_unregistration`` in presentation days).

    Returns:
        The kept rows (index reset) with a ``split`` column: ``train`` / ``eval`` by course, rows of
        other courses dropped.
    """
    unreg = info["date_unregistration"]
    keep = (info["date_registration"] < cutoff_day) & ~(unreg < cutoff_day)
    keep &= info["course_id"].isin([*TRAIN_COURSES, *EVAL_COURSES])
    out = info[keep].reset_index(drop=True).copy()
    out["split"] = np.where(out["course_id"].isin(EVAL_COURSES), "eval", "train")
    return out


def hand_features(
    mapping: OuladMapping, learners: pd.DataFrame, cutoff_day: int, pre_days: int = PRE_DAYS
) -> pd.DataFrame:
    """Hand-built features from clicks on days ``[-pre_days, cutoff_day)`` only.

    Columns: ``clicks_w<k>`` per presentation week ``k`` (``floor(day / 7)``, negative before the
    start), ``clicks_<activity type>`` per activity type, ``total_clicks``, ``active_days``,
    ``days_since_active`` (cutoff_day minus the last active day; ``pre_days + cutoff_day`` when
    never active) and ``first_active_day`` (``cutoff_day`` when never active).

    Returns:
        One row per row of ``learners`` (keyed by ``learner_id``, ``course_id``), same order.
    """
    c = mapping.clicks
    c = c[(c["day"] >= -pre_days) & (c["day"] < cutoff_day)]
    keys = learners[["learner_id", "course_id"]].reset_index(drop=True)
    key_index = pd.MultiIndex.from_frame(keys)
    weeks = range(-((pre_days + 6) // 7), (cutoff_day + 6) // 7)
    week = (c["day"] // 7).astype(int)
    by_week = c.assign(week=week).pivot_table(
        index=["learner_id", "course_id"], columns="week", values="sum_click", aggfunc="sum", fill_value=0
    )
    by_week = by_week.reindex(index=key_index, columns=list(weeks), fill_value=0)
    by_week.columns = [f"clicks_w{w}" for w in by_week.columns]
    by_type = c.pivot_table(
        index=["learner_id", "course_id"],
        columns="activity_type",
        values="sum_click",
        aggfunc="sum",
        fill_value=0,
    ).reindex(index=key_index, columns=list(ACTIVITY_TYPES), fill_value=0)
    by_type.columns = [f"clicks_{t}" for t in by_type.columns]
    per_day = c.groupby(["learner_id", "course_id"])["day"].agg(["nunique", "max", "min"]).reindex(key_index)
    out = pd.concat([by_week, by_type], axis=1)
    out["total_clicks"] = by_week.sum(axis=1)
    out["active_days"] = per_day["nunique"].fillna(0).astype(int)
    out["days_since_active"] = (cutoff_day - per_day["max"]).fillna(pre_days + cutoff_day).astype(int)
    out["first_active_day"] = per_day["min"].fillna(cutoff_day).astype(int)
    return out.reset_index(drop=True).fillna(0)


def sequence_examples(
    data_root: str | Path,
    learners: pd.DataFrame,
    cutoff_day: int,
    key: bytes,
    *,
    day0: dt.date = DEFAULT_DAY0,
    pre_days: int = PRE_DAYS,
    threads: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Daily sequences for ``learners`` from our own ingestion of the adapter's landing files.

    Runs ``ingest_span`` over landing days ``day0 - pre_days`` .. ``day0 + cutoff_day - 1`` (one
    span), then joins its pseudonymised examples back to ``learners`` through the same keyed
    pseudonym. Raises if a learner of the cohort has no example (ingestion would have dropped them).

    Returns:
        ``{feature key: float32 [learners, pre_days + cutoff_day]}`` for ``features.sequence_keys()``
        and the span's ingestion counts.
    """
    from dropout.ingestion import ingest_span

    root = Path(data_root)
    result = ingest_span(
        root / "landing",
        root / "learners.csv",
        root / "outcomes.csv",
        first_day=day0 - dt.timedelta(days=pre_days),
        span=0,
        window_days=pre_days + cutoff_day,
        key=key,
        threads=threads,
    )
    ex = result.examples
    lookup = pd.DataFrame(
        {LEARNER_COL: ex.column(F.LEARNER_KEY).to_pylist(), "course_id": ex.column("course_id").to_pylist()}
    )
    lookup["row"] = np.arange(len(lookup))
    wanted = pd.DataFrame(
        {
            LEARNER_COL: pseudonymise(learners["learner_id"], key),
            "course_id": learners["course_id"].to_numpy(),
        }
    )
    rows = wanted.merge(lookup, how="left", on=[LEARNER_COL, "course_id"])["row"]
    if rows.isna().any():
        raise RuntimeError(
            f"{int(rows.isna().sum())} cohort learners have no example from ingestion at cutoff day {cutoff_day}; "
            "check that learners.csv and the landing zone come from the same adapter run"
        )
    idx = rows.to_numpy(dtype=np.int64)
    arrays = {
        k: np.asarray(ex.column(k).combine_chunks().flatten(), dtype=np.float32).reshape(len(lookup), -1)[idx]
        for k in F.sequence_keys()
    }
    return arrays, result.counts


LEARNER_COL = "pseudonym"


def normalise_sequences(
    arrays: dict[str, np.ndarray], fit_rows: np.ndarray, log_counts: bool = False
) -> dict[str, np.ndarray]:
    """What Transform does, in numpy: z-score each behaviour feature over active days of ``fit_rows``;
    0 on inactive days; masks passed through. ``log_counts`` applies log1p first (heavy-tailed clicks)."""
    active = arrays[F.ACTIVE_MASK_KEY] > 0.5
    out: dict[str, np.ndarray] = {}
    for key in F.SEQUENCE_FEATURES:
        values = np.log1p(arrays[key]) if log_counts else arrays[key]
        fit = values[fit_rows][active[fit_rows]]
        mean = float(fit.mean()) if fit.size else 0.0
        std = float(np.sqrt(max(fit.var() if fit.size else 0.0, 1e-12)))
        out[F.transformed_name(key)] = np.where(active, (values - mean) / std, 0.0).astype(np.float32)
    for key in F.MASK_FEATURES:
        out[F.transformed_name(key)] = arrays[key].astype(np.float32)
    return out


def weekly_sequences(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Daily sequences -> weekly steps (the window must be whole weeks): counts summed, rates
    averaged over active days, masks 1 where any day of the week had them. Same keys, width / 7."""
    n, width = arrays[F.ACTIVE_MASK_KEY].shape
    if width % 7:
        raise ValueError(f"weekly_sequences: window of {width} days is not whole weeks")
    shape = (n, width // 7, 7)
    active = arrays[F.ACTIVE_MASK_KEY].reshape(shape)
    days_active = active.sum(axis=2)
    out = {}
    for key in F.SEQUENCE_FEATURES:
        v = arrays[key].reshape(shape)
        if key in ("video_completion_rate", "mean_dwell_seconds"):
            out[key] = np.where(days_active > 0, v.sum(axis=2) / np.maximum(days_active, 1), 0.0)
        else:
            out[key] = v.sum(axis=2)
    for key in F.MASK_FEATURES:
        out[key] = arrays[key].reshape(shape).max(axis=2)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _model_inputs(seq: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    n = len(rows)
    inputs = {k: v[rows] for k, v in seq.items()}
    # Course and presentation ids are not inputs here: the evaluation presentation is unseen by
    # construction, so every learner gets the same (only) vocabulary entry; price is 0 on OULAD.
    for key in F.CATEGORICAL_CONTEXT:
        inputs[F.transformed_name(key)] = np.zeros(n, dtype=np.int64)
    for key in F.NUMERIC_CONTEXT:
        inputs[F.transformed_name(key)] = np.zeros(n, dtype=np.float32)
    return inputs


def fit_sequence_model(
    seq: dict[str, np.ndarray],
    labels: np.ndarray,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    *,
    architecture: str = "lstm",
    epochs: int = 30,
    patience: int = 4,
    batch_size: int = 64,
    seed: int = 0,
) -> Any:
    """Train ``dropout.pipeline.model.build_model`` (class-weighted, early stopping on validation AUC).

    Returns:
        A callable ``rows -> risk`` (float64 [len(rows)]).
    """
    import tf_keras as keras

    from dropout.contract.settings import ModelSettings
    from dropout.pipeline import model as model_lib

    keras.utils.set_random_seed(seed)
    window = next(iter(seq.values())).shape[1]
    settings = ModelSettings(architecture=architecture, epochs=epochs, batch_size=batch_size)
    built = model_lib.build_model(settings, window, {k: 1 for k in F.CATEGORICAL_CONTEXT})
    y = labels.astype(np.float32)
    built.fit(
        _model_inputs(seq, fit_rows),
        y[fit_rows],
        validation_data=(_model_inputs(seq, val_rows), y[val_rows]),
        epochs=epochs,
        batch_size=batch_size,
        class_weight=model_lib.class_weights(labels[fit_rows].astype(np.int64)),
        callbacks=[
            model_lib.RiskEarlyStopping(
                monitor="val_auc", mode="max", patience=patience, restore_best_weights=True
            )
        ],
        verbose=0,
    )

    def predict(rows: np.ndarray) -> np.ndarray:
        out = built.predict(_model_inputs(seq, rows), batch_size=512, verbose=0)
        return np.asarray(out, dtype=np.float64).reshape(-1)

    return predict


def fit_gbt(x: pd.DataFrame, labels: np.ndarray, fit_rows: np.ndarray, seed: int = 0) -> Any:
    """HistGradientBoostingClassifier on the hand-built features; returns ``rows -> risk``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        random_state=seed, max_iter=200, learning_rate=0.05, max_leaf_nodes=15
    )
    model.fit(x.iloc[fit_rows].to_numpy(), labels[fit_rows])
    return lambda rows: model.predict_proba(x.iloc[rows].to_numpy())[:, 1]


def fit_clicks(total_clicks: np.ndarray, labels: np.ndarray, fit_rows: np.ndarray) -> Any:
    """The trivial baseline: logistic regression on log1p(total clicks so far); returns ``rows -> risk``."""
    from sklearn.linear_model import LogisticRegression

    x = np.log1p(np.asarray(total_clicks, dtype=np.float64)).reshape(-1, 1)
    model = LogisticRegression().fit(x[fit_rows], labels[fit_rows])
    return lambda rows: model.predict_proba(x[rows])[:, 1]


def best_f1_threshold(labels: np.ndarray, risk: np.ndarray) -> float:
    """The risk threshold with the highest F1 on (held-out training) learners."""
    candidates = np.unique(np.round(risk, 6))
    if len(candidates) > 400:
        candidates = np.quantile(risk, np.linspace(0, 1, 401))
    scores = [f1_score(labels, risk >= t, zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def metrics(labels: np.ndarray, risk: np.ndarray, threshold: float, chosen: float) -> dict[str, float]:
    """AUC, PR-AUC, F1/recall/precision at the operating and the chosen threshold, precision at the top 10 %.

    AUC and PR-AUC are NaN when a group has one class only.
    """
    labels = np.asarray(labels).astype(int)
    both = 0 < labels.sum() < len(labels)
    k = max(1, int(np.ceil(TOP_FRACTION * len(risk))))
    top = np.argsort(-risk, kind="stable")[:k]
    out = {
        "n": float(len(labels)),
        "positives": float(labels.sum()),
        "auc": float(roc_auc_score(labels, risk)) if both else float("nan"),
        "pr_auc": float(average_precision_score(labels, risk)) if both else float("nan"),
        "precision_top10": float(labels[top].mean()) if len(labels) else float("nan"),
    }
    for name, t in (("op", threshold), ("chosen", chosen)):
        pred = risk >= t
        out[f"f1_{name}"] = float(f1_score(labels, pred, zero_division=0))
        out[f"recall_{name}"] = float(recall_score(labels, pred, zero_division=0))
        out[f"precision_{name}"] = float(precision_score(labels, pred, zero_division=0))
        out[f"flagged_{name}"] = float(pred.sum())
    return out


@dataclass
class CutoffResult:
    """Scores of every model for one cutoff and label, on the evaluation learners."""

    cutoff_weeks: int
    label: str
    learners: pd.DataFrame  # the evaluation cohort (fairness slices, labels)
    risk: dict[str, np.ndarray]  # model -> risk per evaluation learner
    chosen: dict[str, float]  # model -> threshold chosen on held-out training learners


def overall_rows(results: list[CutoffResult], threshold: float = OPERATING_THRESHOLD) -> pd.DataFrame:
    rows = []
    for r in results:
        y = r.learners[r.label].to_numpy()
        for model, risk in r.risk.items():
            m = metrics(y, risk, threshold, r.chosen[model])
            rows.append(
                {"weeks": r.cutoff_weeks, "label": r.label, "model": model, "threshold": r.chosen[model], **m}
            )
    return pd.DataFrame(rows)


def slice_rows(results: list[CutoffResult], threshold: float = OPERATING_THRESHOLD) -> pd.DataFrame:
    rows = []
    for r in results:
        for attr in FAIRNESS_SLICES:
            for group, idx in r.learners.groupby(attr).indices.items():
                y = r.learners[r.label].to_numpy()[idx]
                for model, risk in r.risk.items():
                    m = metrics(y, risk[idx], threshold, r.chosen[model])
                    rows.append(
                        {
                            "weeks": r.cutoff_weeks,
                            "label": r.label,
                            "slice": attr,
                            "group": group,
                            "model": model,
                            **m,
                        }
                    )
    return pd.DataFrame(rows)


def auc_interval(auc: float, positives: float, n: float) -> tuple[float, float]:
    """Approximate 95 % interval of an AUC (Hanley and McNeil, Radiology 1982): how much of a
    difference between models the number of positive learners can resolve."""
    n1, n0 = positives, n - positives
    if auc != auc or n1 < 1 or n0 < 1:
        return float("nan"), float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0)
    half = 1.96 * float(np.sqrt(max(var, 0.0)))
    return max(0.0, auc - half), min(1.0, auc + half)


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if v != v else f"{v:.{digits}f}"


def markdown(overall: pd.DataFrame, slices: pd.DataFrame, header: str = "") -> str:
    """Results as markdown: the overall table, then AUC and recall at the chosen threshold per slice."""
    lines = [header, CITATION, ""] if header else [CITATION, ""]
    lines += [
        "| weeks | label | model | eval learners | positives | AUC | AUC 95 % CI | PR-AUC | F1@0.8 | recall@0.8 "
        "| flagged@0.8 | chosen thr | F1@thr | recall@thr | precision@thr | precision top 10 % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in overall.iterrows():
        lo, hi = auc_interval(r.auc, r.positives, r.n)
        lines.append(
            f"| {r.weeks} | {r.label} | {r.model} | {int(r.n)} | {int(r.positives)} | {_fmt(r.auc)} "
            f"| {_fmt(lo, 2)}–{_fmt(hi, 2)} | {_fmt(r.pr_auc)} "
            f"| {_fmt(r.f1_op)} | {_fmt(r.recall_op)} | {int(r.flagged_op)} | {_fmt(r.threshold, 2)} | {_fmt(r.f1_chosen)} "
            f"| {_fmt(r.recall_chosen)} | {_fmt(r.precision_chosen)} | {_fmt(r.precision_top10)} |"
        )
    if len(slices):
        models = list(dict.fromkeys(slices["model"]))
        lines += [
            "",
            "Per fairness slice (evaluation presentation AAA 2014J; AUC / recall at the chosen threshold; "
            "– where a group has one class only):",
            "",
            "| weeks | label | slice | group | n | positives | "
            + " | ".join(f"{m} AUC | {m} recall" for m in models)
            + " |",
            "|" + "---|" * (6 + 2 * len(models)),
        ]
        for (weeks, label, attr, group), g in slices.groupby(
            ["weeks", "label", "slice", "group"], sort=False
        ):
            g = g.set_index("model")
            first = g.iloc[0]
            cells = " | ".join(
                f"{_fmt(g.loc[m, 'auc'])} | {_fmt(g.loc[m, 'recall_chosen'])}"
                if m in g.index
                else "not run | not run"
                for m in models
            )
            lines.append(
                f"| {weeks} | {label} | {attr} | {group} | {int(first.n)} | {int(first.positives)} | {cells} |"
            )
    return "\n".join(lines) + "\n"
