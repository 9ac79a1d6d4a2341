"""FairnessGate component: the blessing the Pusher trusts.

Usage::

    gate = FairnessGate(evaluation=evaluator.outputs["evaluation"],
                        evaluator_blessing=evaluator.outputs["blessing"],
                        attribute="gender", max_gap=0.25, min_positives=10)
    pusher = Pusher(model=..., model_blessing=gate.outputs["blessing"], ...)

The Evaluator's thresholds are per slice and cannot express "the recall of any two groups differs by
at most X"; this gate adds that, and writes ``fairness.json`` (per-group recall, gap, decision, reason).
"""

import json
import os

import tensorflow_model_analysis as tfma
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from dropout.pipeline.components.fairness_gate import gate


@component
def FairnessGate(  # noqa: N802 - TFX component names are classes
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    evaluator_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    attribute: Parameter[str] = "gender",
    max_gap: Parameter[float] = 0.25,
    min_positives: Parameter[int] = 10,
) -> None:
    if max_gap < 0:
        raise ValueError(f"FairnessGate: max_gap must be >= 0, got {max_gap}")
    result = tfma.load_eval_result(evaluation.uri)
    rows = gate.slice_table(result.slicing_metrics)
    gap = gate.recall_gap(rows, attribute, "recall", min_positives)
    evaluator_blessed = evaluator_blessing.get_int_custom_property("blessed") == 1
    blessed, reason = gate.decide(evaluator_blessed, gap, max_gap)
    for name in evaluator_blessing.mlmd_artifact.custom_properties:
        blessing.mlmd_artifact.custom_properties[name].CopyFrom(
            evaluator_blessing.mlmd_artifact.custom_properties[name]
        )
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("reason", reason)
    blessing.set_float_custom_property("recall_gap", float(gap["gap"]))
    report = {
        "blessed": blessed,
        "reason": reason,
        "evaluator_blessed": evaluator_blessed,
        "max_gap": max_gap,
        "fairness": gap,
        "slices": rows,
    }
    with open(os.path.join(blessing.uri, "fairness.json"), "w") as fh:
        json.dump(report, fh, indent=2, sort_keys=True, default=str)
    open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
