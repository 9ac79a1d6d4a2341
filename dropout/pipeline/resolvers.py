"""Which earlier artifacts a run compares itself with: the drift baseline and the champion model.

Two TFX resolver strategies (``tfx.dsl.Resolver(strategy_class=..., config=...)``; TFX imports them by
class path when it resolves the node) over two plain functions that make the choice:

* ``PreviousSpanStatisticsStrategy``: the statistics of the latest span *below* the span being trained
  that a data steward did not reject (``<pipeline root>/rejected_spans/span-N.json``, written by the
  review's "Reject batch"). TFX's ``LatestArtifactStrategy`` took the newest statistics of any span,
  a rejected one or this very span on a re-run included.
* ``ChampionModelStrategy``: the model of the champion (``dropout.pipeline.champion``: the push of
  the newest served version, a rollback included). ``LatestBlessedModelStrategy`` took the latest
  Evaluator-blessed model, which includes a candidate a manager rejected (blessed, never pushed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

from dropout.pipeline import champion

_REJECTED = re.compile(r"^span-(\d+)\.json$")


def rejected_dir(pipeline_root: str | Path) -> Path:
    """Where a steward's "Reject batch" leaves one ``span-N.json`` record per rejected span."""
    return Path(pipeline_root) / "rejected_spans"


def rejection_record(pipeline_root: str | Path, span: int) -> Path:
    """The record that makes span ``span`` ineligible as a drift baseline while it exists."""
    return rejected_dir(pipeline_root) / f"span-{span}.json"


def rejected_spans(directory: str | Path) -> set[int]:
    """Spans a steward rejected: one ``span-N.json`` record each (a missing directory means none)."""
    path = Path(directory)
    if not path.is_dir():
        return set()
    return {int(m.group(1)) for p in path.iterdir() if (m := _REJECTED.match(p.name))}


def choose_previous_statistics(
    candidates: Iterable[tuple[int, int]], span: int, rejected: set[int]
) -> int | None:
    """Id of the drift baseline among ``(span, artifact id)`` candidates, or None (first span: no drift check).

    The latest span below ``span`` that is not rejected; among several statistics of that span (re-runs),
    the newest (highest id).
    """
    eligible = [(s, i) for s, i in candidates if s < span and s not in rejected]
    return max(eligible)[1] if eligible else None


class PreviousSpanStatisticsStrategy(resolver.ResolverStrategy):
    """The statistics of the latest earlier, not rejected span (see the module docstring).

    Config: ``span`` (the span this run trains on), ``rejected_dir`` (``<pipeline root>/rejected_spans``).
    One input channel of ExampleStatistics with a ``span`` property.
    """

    def __init__(self, span: int, rejected_dir: str):
        self._span = int(span)
        self._rejected_dir = rejected_dir

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        rejected = rejected_spans(self._rejected_dir)
        result = {}
        for key, artifacts in input_dict.items():
            chosen = choose_previous_statistics(((a.span, a.id) for a in artifacts), self._span, rejected)
            result[key] = [a for a in artifacts if a.id == chosen]
        return result


def _pusher_inputs(store: mlmd.MetadataStore, push_ids: list[int], input_key: str) -> dict[int, int]:
    """PushedModel id -> id of the artifact its Pusher execution read under ``input_key``."""
    producer = {
        e.artifact_id: e.execution_id
        for e in store.get_events_by_artifact_ids(push_ids)
        if e.type == metadata_store_pb2.Event.OUTPUT
    }
    read: dict[int, int] = {}
    for event in store.get_events_by_execution_ids(sorted(set(producer.values()))):
        if (
            event.type == metadata_store_pb2.Event.INPUT
            and event.path.steps
            and event.path.steps[0].key == input_key
        ):
            read[event.execution_id] = event.artifact_id
    return {push: read[execution] for push, execution in producer.items() if execution in read}


class ChampionModelStrategy(resolver.ResolverStrategy):
    """The champion's Model and PushedModel (``dropout.pipeline.champion``), found through the Pusher's lineage.

    Config: ``model_dir`` (``<serving_root>/<model_name>``). Two input channels: ``model`` (Model) and
    ``pushed_model`` (PushedModel). Resolves both to one artifact each, or both to empty lists while
    nothing is served.
    """

    def __init__(self, model_dir: str):
        self._model_dir = model_dir

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        model_key, push_key = "model", "pushed_model"
        empty: dict[str, list[types.Artifact]] = {key: [] for key in input_dict}
        if not input_dict.get(model_key) or not input_dict.get(push_key):  # no model or no push yet
            return empty
        pushes = [p for p in input_dict[push_key] if p.get_int_custom_property("pushed") == 1]
        versions = champion.version_dirs(self._model_dir)
        served = versions[max(versions)] if versions else None
        chosen = champion.choose_push(
            ((p.id, p.get_string_custom_property("pushed_destination")) for p in pushes),
            served,
            champion.fingerprint,
        )
        if chosen is None:
            return empty
        model_of_push = _pusher_inputs(store, [chosen[0]], input_key="model")
        models = [m for m in input_dict[model_key] if m.id == model_of_push.get(chosen[0])]
        if not models:
            return empty
        return {model_key: models, push_key: [p for p in pushes if p.id == chosen[0]]}
