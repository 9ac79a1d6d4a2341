"""ROC, precision-recall and calibration images of an evaluation, from TFMA's plots of the overall view.

The Evaluator computes ``ConfusionMatrixPlot`` (confusion matrices at many thresholds) and
``CalibrationPlot`` (prediction buckets) per slice (see ``dropout.pipeline.eval_config``); this module
turns the overall slice's into curves (plain functions on lists of dicts) and draws them with
matplotlib's file-only backend. Used by ``dropout.registry.record`` to attach the images to the MLflow run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CANDIDATE = "candidate"  # TFMA's model name for the evaluated model when a baseline is also evaluated


def _leaves(plots: dict[str, Any]) -> dict[str, Any]:
    """TFMA's nested ``{output: {sub_key: {plot_name: plot}}}`` for a single-output model, flattened."""
    flat: dict[str, Any] = {}
    for per_sub_key in plots.values():
        for values in per_sub_key.values():
            flat.update(values)
    return flat


def overall_plots(evaluation_uri: str) -> dict[str, Any]:
    """The overall slice's plot data of an Evaluator output: ``{"matrices": [...], "buckets": [...]}``.

    With a baseline model in the evaluation TFMA stores both models; the candidate's plots are read.

    Raises:
        LookupError: when the evaluation has no overall slice or no confusion-matrix plot.
    """
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri)
    if not any(entry and entry[0] == () and entry[1] for entry in result.plots):
        result = tfma.load_eval_result(evaluation_uri, model_name=CANDIDATE)  # candidate and baseline stored
    for entry in result.plots:
        if not entry:
            continue
        slice_key, plots = entry
        if slice_key == () and plots:
            leaves = _leaves(plots)
            matrices = (leaves.get("confusionMatrixAtThresholds") or {}).get("matrices", [])
            buckets = (leaves.get("calibrationHistogramBuckets") or {}).get("buckets", [])
            if not matrices:
                raise LookupError(f"{evaluation_uri}: no confusion matrices in the overall slice's plots")
            return {"matrices": matrices, "buckets": buckets}
    raise LookupError(f"{evaluation_uri}: no overall slice among TFMA's plots")


def curves(matrices: list[dict[str, Any]]) -> dict[str, list[float]]:
    """ROC (false positive rate, true positive rate) and PR (recall, precision) points, by threshold.

    TFMA leaves zero counts out of its JSON, so a missing count is 0. Points where precision is
    undefined (nothing predicted positive) are left out of the PR curve.
    """
    fpr, tpr, recall, precision = [], [], [], []
    for m in sorted(matrices, key=lambda m: m.get("threshold", 0.0)):
        tp, fp = m.get("truePositives", 0.0), m.get("falsePositives", 0.0)
        tn, fn = m.get("trueNegatives", 0.0), m.get("falseNegatives", 0.0)
        if tp + fn > 0 and fp + tn > 0:
            tpr.append(tp / (tp + fn))
            fpr.append(fp / (fp + tn))
        if tp + fp > 0 and tp + fn > 0:
            precision.append(tp / (tp + fp))
            recall.append(tp / (tp + fn))
    return {"fpr": fpr, "tpr": tpr, "recall": recall, "precision": precision}


def calibration(buckets: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Mean prediction and observed dropout rate per non-empty prediction bucket, with bucket sizes."""

    def number(value: Any) -> float:  # TFMA writes plain numbers or {"value": x}, zero left out
        return float(value.get("value", 0.0) if isinstance(value, dict) else value or 0.0)

    predicted, observed, weights = [], [], []
    for b in buckets:
        n = number(b.get("numWeightedExamples"))
        if n <= 0:
            continue
        predicted.append(number(b.get("totalWeightedRefinedPrediction")) / n)
        observed.append(number(b.get("totalWeightedLabel")) / n)
        weights.append(n)
    return {"predicted": predicted, "observed": observed, "examples": weights}


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    return plt, fig, ax


def write_images(
    plot_data: dict[str, Any],
    out_dir: Path,
    title: str,
    auc: float | None = None,
    pr_auc: float | None = None,
) -> dict[str, Path]:
    """``roc.png``, ``precision_recall.png`` and ``calibration.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    c = curves(plot_data["matrices"])
    cal = calibration(plot_data["buckets"])
    paths = {}

    plt, fig, ax = _figure()
    ax.plot(c["fpr"], c["tpr"], label=f"model (AUC {auc:.3f})" if auc is not None else "model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate (recall)",
        title=f"ROC: {title}",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="lower right")
    paths["roc"] = out_dir / "roc.png"
    fig.savefig(paths["roc"])
    plt.close(fig)

    plt, fig, ax = _figure()
    ax.plot(
        c["recall"], c["precision"], label=f"model (PR-AUC {pr_auc:.3f})" if pr_auc is not None else "model"
    )
    ax.set(
        xlabel="recall", ylabel="precision", title=f"Precision-recall: {title}", xlim=(0, 1), ylim=(0, 1.01)
    )
    ax.legend(loc="lower left")
    paths["precision_recall"] = out_dir / "precision_recall.png"
    fig.savefig(paths["precision_recall"])
    plt.close(fig)

    plt, fig, ax = _figure()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax.plot(cal["predicted"], cal["observed"], marker="o", label="model")
    ax.set(
        xlabel="mean predicted risk",
        ylabel="observed dropout rate",
        title=f"Calibration: {title}",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="upper left")
    paths["calibration"] = out_dir / "calibration.png"
    fig.savefig(paths["calibration"])
    plt.close(fig)
    return paths
