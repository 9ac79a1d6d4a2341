"""The committed ``dags/pipeline_graph.json`` is what the TFX pipeline compiles to (TFX environment).

Regenerate after changing the pipeline:
``.venv-tfx/bin/python -m dropout.pipeline --config config/default.toml graph > dags/pipeline_graph.json``
"""

import json
from pathlib import Path

from dropout.contract.settings import load_settings
from dropout.pipeline import runner

REPO = Path(__file__).resolve().parents[2]


def test_committed_graph_equals_the_compiled_pipeline(tmp_path):
    env = {"DROPOUT__PIPELINE__ROOT": str(tmp_path / "pipeline")}  # prepared schema lands in tmp
    settings = load_settings(REPO / "config" / "default.toml", env=env)
    compiled = runner.graph(runner.compile_ir(settings, span=0))
    committed = json.loads((REPO / "dags" / "pipeline_graph.json").read_text())
    assert committed == compiled, (
        "dags/pipeline_graph.json is stale; regenerate it with "
        "`.venv-tfx/bin/python -m dropout.pipeline --config config/default.toml graph > dags/pipeline_graph.json`"
    )
