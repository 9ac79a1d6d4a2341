"""The part of ``tfx.v1`` this project uses, imported from the modules that define it.

``from tfx import v1`` also imports TFX's Google Cloud extensions and with them
google-cloud-aiplatform: 10 to 30 s in every process that builds the pipeline, which is every
Airflow task (one TFX node per process). The names and their paths below are the ones ``tfx.v1``
exports, so ``from dropout.pipeline import tfx_api as tfx`` reads like the TFX documentation.
"""

from __future__ import annotations

from types import SimpleNamespace

from tfx.components import (
    Evaluator,
    ExampleValidator,
    Pusher,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import pusher_pb2, trainer_pb2
from tfx.types import Channel, standard_artifacts

components = SimpleNamespace(
    DataAccessor=DataAccessor,
    Evaluator=Evaluator,
    ExampleValidator=ExampleValidator,
    FnArgs=FnArgs,
    ImportSchemaGen=ImportSchemaGen,
    Pusher=Pusher,
    StatisticsGen=StatisticsGen,
    Trainer=Trainer,
    Transform=Transform,
)
dsl = SimpleNamespace(
    Channel=Channel,
    Pipeline=Pipeline,
    Resolver=Resolver,
    experimental=SimpleNamespace(
        LatestArtifactStrategy=LatestArtifactStrategy,
        LatestBlessedModelStrategy=LatestBlessedModelStrategy,
    ),
)
proto = SimpleNamespace(
    EvalArgs=trainer_pb2.EvalArgs,
    PushDestination=pusher_pb2.PushDestination,
    TrainArgs=trainer_pb2.TrainArgs,
)
types = SimpleNamespace(standard_artifacts=standard_artifacts)
