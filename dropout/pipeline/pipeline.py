"""``create_pipeline``: the dropout-risk TFX pipeline, one short block per component."""

from __future__ import annotations

import dataclasses

from tfx.components import DistributionValidator
from tfx.orchestration import metadata
from tfx.orchestration.pipeline import Pipeline

from dropout.contract.settings import Settings
from dropout.feedback.store import store_path
from dropout.pipeline import drift, eval_config, resolvers
from dropout.pipeline import schema as schema_lib
from dropout.pipeline import tfx_api as tfx  # not tfx.v1: see tfx_api
from dropout.pipeline.components.fairness_gate.component import FairnessGate
from dropout.pipeline.components.learner_example_gen.component import LearnerExampleGen


def beam_args(workers: int) -> list[str]:
    """DirectRunner arguments: multi-processing with ``workers`` processes, or in-process when 0."""
    if workers <= 0:
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


def create_pipeline(
    settings: Settings,
    *,
    span: int,
    schema_file: str,
    enable_cache: bool = False,
) -> Pipeline:
    """The training pipeline for one span of landing data.

    Args:
        settings: resolved settings (absolute paths).
        span: which ingestion period to train on (landing days first_day + span*window_days ...).
        schema_file: the curated schema, already adapted to ``settings.data.window_days``.
        enable_cache: reuse earlier executions with identical inputs (off by default: late landing
            data must be re-ingested).
    """
    data, ingestion, pipe = settings.data, settings.ingestion, settings.pipeline
    components: list = []

    # Raw landing events of one span -> validated, pseudonymised learner sequences + quarantine, with the
    # interventions the early-warning job recorded (point in time), so every retrain closes the loop.
    example_gen = LearnerExampleGen(
        landing_root=f"{data.root}/landing",
        learners_csv=f"{data.root}/learners.csv",
        outcomes_csv=f"{data.root}/outcomes.csv",
        first_day=data.first_day,
        span=span,
        window_days=data.window_days,
        key_env=ingestion.key_env,
        key_file=ingestion.key_file,
        clock_skew_minutes=ingestion.clock_skew_minutes,
        eval_fraction=ingestion.eval_fraction,
        label_column=data.label_column,
        mode="training",
        interventions_db=str(store_path(settings.warning.out_dir)),
        training_cuts=data.training_cuts,
        cut_step_days=data.cut_step_days,
    )
    components.append(example_gen)

    # Statistics of this span: the input of every data check.
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    components.append(statistics_gen)

    # The curated, reviewed schema is the source of truth; SchemaGen would only propose one.
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_file)
    components.append(schema_gen)

    # Schema anomalies of this span (missing features, out-of-domain values, wrong shapes).
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    components.append(example_validator)

    # The drift baseline: statistics of the latest earlier span a steward did not reject.
    previous_statistics = tfx.dsl.Resolver(
        strategy_class=resolvers.PreviousSpanStatisticsStrategy,
        config={"span": span, "rejected_dir": str(resolvers.rejected_dir(pipe.root))},
        statistics=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.ExampleStatistics,
            producer_component_id=statistics_gen.id,
            output_key="statistics",
        ),
    ).with_id("previous_statistics")
    components.append(previous_statistics)

    # Drift between spans with the schema's comparators (TFX 1.16's ExampleValidator cannot do this).
    drift_validator = DistributionValidator(
        statistics=statistics_gen.outputs["statistics"],
        baseline_statistics=previous_statistics.outputs["statistics"],
        config=drift.comparator_config(schema_lib.load_schema(schema_file)),
    )
    components.append(drift_validator)

    # Normalisation and vocabularies, attached to the serving signature.
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="dropout.pipeline.transform.preprocessing_fn",
        disable_statistics=True,
    )
    components.append(transform)

    # The sequence model under the configured tf.distribute strategy.
    trainer = tfx.components.Trainer(
        run_fn="dropout.pipeline.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={"model": dataclasses.asdict(settings.model), "window_days": data.window_days},
    )
    components.append(trainer)

    # The champion (the model being served, not one a manager rejected): the "no regression" baseline.
    baseline_model = tfx.dsl.Resolver(
        strategy_class=resolvers.ChampionModelStrategy,
        config={"model_dir": f"{pipe.serving_root}/{pipe.model_name}"},
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        pushed_model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.PushedModel),
    ).with_id("baseline_model")
    components.append(baseline_model)

    # Sliced metrics, floors and no regression against the baseline.
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_model.outputs["model"],
        eval_config=eval_config.make_eval_config(settings.evaluation, settings.warning.silent_days),
        example_splits=["eval"],
    )
    components.append(evaluator)

    # Recall must not differ too much across the fairness attribute's groups.
    fairness_gate = FairnessGate(
        evaluation=evaluator.outputs["evaluation"],
        evaluator_blessing=evaluator.outputs["blessing"],
        attribute=settings.evaluation.fairness_attribute,
        max_gap=settings.evaluation.max_recall_gap,
    )
    components.append(fairness_gate)

    # TF Serving layout <serving_root>/<model_name>/<version>/, only for a blessed model.
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=fairness_gate.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=f"{pipe.serving_root}/{pipe.model_name}"
            )
        ),
    )
    components.append(pusher)

    return tfx.dsl.Pipeline(
        pipeline_name=pipe.name,
        pipeline_root=pipe.root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(pipe.metadata_path),
        beam_pipeline_args=beam_args(pipe.beam_workers),
    )
