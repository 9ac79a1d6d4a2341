"""The TFX pipeline's nodes and edges, committed as ``dags/pipeline_graph.json``.

Generated in the TFX environment (``python -m dropout.pipeline --config config/default.toml graph``)
because the DAG processor cannot import TFX; ``tests/dags/test_pipeline_graph.py`` regenerates it and fails
when the committed copy is stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

GRAPH_FILE = Path(__file__).resolve().parents[1] / "pipeline_graph.json"


@dataclass(frozen=True)
class PipelineGraph:
    nodes: tuple[str, ...]  # topological order
    edges: tuple[tuple[str, str], ...]  # (upstream, downstream)

    @property
    def roots(self) -> tuple[str, ...]:
        downstream = {d for _, d in self.edges}
        return tuple(n for n in self.nodes if n not in downstream)


def load_graph(path: Path = GRAPH_FILE) -> PipelineGraph:
    raw = json.loads(path.read_text())
    nodes = tuple(raw["nodes"])
    edges = tuple((up, down) for up, down in raw["edges"])
    unknown = {n for e in edges for n in e} - set(nodes)
    if unknown:
        raise ValueError(f"{path}: edges name nodes that are not in 'nodes': {sorted(unknown)}")
    return PipelineGraph(nodes, edges)
