"""Settings overrides for a test world: one directory holds everything a pipeline run reads or writes.

Data, pipeline outputs, ML Metadata, pushed models and the early-warning store all live under the
world's root, so a test never reads or writes the developer's ``work/`` (the pipeline joins whatever
early-warning store ``warning.out_dir`` points at). Import it as ``import _worlds`` (tests/ is on
sys.path for test modules).
"""

from __future__ import annotations

from pathlib import Path


def world_env(root: Path, key: str, **overrides: str) -> dict[str, str]:
    """``DROPOUT__*`` overrides for ``load_settings(..., env=...)``, paths under ``root``, plus ``overrides``."""
    return {
        "DROPOUT_PSEUDONYM_KEY": key,
        "DROPOUT__DATA__ROOT": str(root / "data"),
        "DROPOUT__PIPELINE__ROOT": str(root / "pipeline"),
        "DROPOUT__PIPELINE__METADATA_PATH": str(root / "metadata" / "metadata.sqlite"),
        "DROPOUT__PIPELINE__SERVING_ROOT": str(root / "serving"),
        "DROPOUT__WARNING__OUT_DIR": str(root / "warning"),
        **overrides,
    }
