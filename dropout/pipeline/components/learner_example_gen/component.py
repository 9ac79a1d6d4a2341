"""Component spec of LearnerExampleGen.

Usage::

    example_gen = LearnerExampleGen(
        landing_root="/data/landing", learners_csv="/data/learners.csv",
        outcomes_csv="/data/outcomes.csv", first_day="2026-09-01", span=3,
        window_days=10, key_env="DROPOUT_PSEUDONYM_KEY", key_file="/secrets/pseudonym.key",
        mode="training", interventions_db="/work/warning/risk.sqlite")

Outputs ``examples`` (tf.Example TFRecords, splits ``train``/``eval`` in training mode, ``serving`` in
serving mode, with the TFX ``span`` property set) and ``report`` (an IngestionReport with the counts and
the quarantine index). ``interventions_db`` is the early-warning store: interventions and outcomes
known by each window's last day become the ``interventions`` / ``intervention_outcome`` context
(empty or a missing file: none yet). ``training_cuts`` > 1 adds, to the train split only, the same
learners' windows ending ``cut_step_days``, 2 x ``cut_step_days``, ... days earlier (``executor.cut_offsets``).
The pseudonymisation key itself is never a parameter: parameters are recorded
in ML Metadata, so only the *name* of the environment variable and the key file path are.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from dropout.pipeline.components.artifacts import IngestionReport
from dropout.pipeline.components.learner_example_gen import executor


class LearnerExampleGenSpec(ComponentSpec):
    PARAMETERS = {
        "landing_root": ExecutionParameter(type=str),
        "learners_csv": ExecutionParameter(type=str),
        "outcomes_csv": ExecutionParameter(type=str, optional=True),
        "first_day": ExecutionParameter(type=str),
        "span": ExecutionParameter(type=int),
        "window_days": ExecutionParameter(type=int),
        "key_env": ExecutionParameter(type=str),
        "key_file": ExecutionParameter(type=str),
        "clock_skew_minutes": ExecutionParameter(type=int),
        "eval_fraction": ExecutionParameter(type=float),
        "label_column": ExecutionParameter(type=str),
        "mode": ExecutionParameter(type=str),
        "interventions_db": ExecutionParameter(type=str, optional=True),
        "training_cuts": ExecutionParameter(type=int, optional=True),
        "cut_step_days": ExecutionParameter(type=int, optional=True),
    }
    INPUTS: dict = {}
    OUTPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "report": ChannelParameter(type=IngestionReport),
    }


class LearnerExampleGen(base_component.BaseComponent):
    """Ingests one span of landing data into learner examples; see the module docstring."""

    SPEC_CLASS = LearnerExampleGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        *,
        landing_root: str,
        learners_csv: str,
        first_day: str,
        span: int,
        window_days: int,
        key_env: str,
        key_file: str,
        outcomes_csv: str = "",
        clock_skew_minutes: int = 15,
        eval_fraction: float = 0.2,
        label_column: str = "dropped_out",
        mode: str = "training",
        interventions_db: str = "",
        training_cuts: int = 1,
        cut_step_days: int = 3,
    ):
        spec = LearnerExampleGenSpec(
            landing_root=landing_root,
            learners_csv=learners_csv,
            outcomes_csv=outcomes_csv,
            first_day=first_day,
            span=span,
            window_days=window_days,
            key_env=key_env,
            key_file=key_file,
            clock_skew_minutes=clock_skew_minutes,
            eval_fraction=eval_fraction,
            label_column=label_column,
            mode=mode,
            interventions_db=interventions_db,
            training_cuts=training_cuts,
            cut_step_days=cut_step_days,
            examples=types.Channel(type=standard_artifacts.Examples),
            report=types.Channel(type=IngestionReport),
        )
        super().__init__(spec=spec)
