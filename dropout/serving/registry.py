"""Which versions of the pushed model are loaded, and which one answers a request.

The Pusher writes ``<serving_root>/<model_name>/<version>/`` (TF Serving's layout). ``poll`` scans
that directory, loads every new version completely *before* publishing it, and then swaps the
version table in one assignment, so a request either sees the old table or the new one and never
a half-loaded model. Requests that already hold a version keep it until they finish, even when
a later poll unloads it.

Labels (as in TF Serving's ``version_labels``): ``canary`` is the newest loaded version and
``stable`` the newest one before it (the same version while only one is loaded), unless a version
is pinned in the settings. Unlabelled requests go to ``canary`` with probability
``canary_fraction`` and to ``stable`` otherwise, for A/B comparison of a new push.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropout.pipeline.champion import version_dirs

from .codec import TensorSpec

log = logging.getLogger(__name__)
LABELS = ("stable", "canary")


class NotFound(LookupError):
    """No such model, version or label (HTTP 404)."""


@dataclass
class Signature:
    """One callable signature with its input and output specs."""

    run: Callable[[dict[str, Any]], dict[str, Any]]
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]


@dataclass
class LoadedVersion:
    version: int
    path: Path
    signatures: dict[str, Signature]
    loaded_at: float = field(default_factory=time.time)


def _spec(name: str, tensor_spec: Any) -> TensorSpec:
    dtype = {"float32": "float32", "int64": "int64", "string": "string"}.get(tensor_spec.dtype.name)
    if dtype is None:
        raise ValueError(
            f"signature tensor {name} has dtype {tensor_spec.dtype.name}; serving supports float32, int64, string"
        )
    return TensorSpec(name, dtype, tuple(tensor_spec.shape.as_list()))


def load_saved_model(path: Path) -> dict[str, Signature]:
    """Load a SavedModel and wrap each signature as numpy in, numpy out."""
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signatures: dict[str, Signature] = {}
    for name, fn in loaded.signatures.items():
        inputs = {k: _spec(k, v) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: _spec(k, v) for k, v in fn.structured_outputs.items()}

        # ``owner`` keeps the loaded object (and so the function's variables) alive with the closure.
        def run(arrays: dict[str, Any], fn: Any = fn, owner: Any = loaded) -> dict[str, Any]:
            tensors = {k: tf.constant(np.asarray(v)) for k, v in arrays.items()}
            return {k: v.numpy() for k, v in fn(**tensors).items()}

        signatures[name] = Signature(run, inputs, outputs)
    return signatures


class ModelRegistry:
    """Loaded versions of one model and its labels.

    Args:
        name: the model name clients use in URLs.
        model_dir: ``<serving_root>/<model_name>``.
        keep_versions: newest versions kept loaded (pinned label versions are kept too).
        stable_version, canary_version: pin a label to a version; 0 = automatic (see module doc).
        canary_fraction: share of unlabelled requests sent to ``canary``.
        loader: loads one version directory (tests may pass a counting wrapper; the default loads TF).
    """

    def __init__(
        self,
        name: str,
        model_dir: Path,
        *,
        keep_versions: int = 2,
        stable_version: int = 0,
        canary_version: int = 0,
        canary_fraction: float = 0.1,
        loader: Callable[[Path], dict[str, Signature]] = load_saved_model,
        seed: int | None = None,
    ) -> None:
        if keep_versions < 1:
            raise ValueError(f"serving.keep_versions must be at least 1, got {keep_versions}")
        if not 0.0 <= canary_fraction <= 1.0:
            raise ValueError(f"serving.canary_fraction must be between 0 and 1, got {canary_fraction}")
        self.name = name
        self.model_dir = Path(model_dir)
        self.keep_versions = keep_versions
        self.pins = {"stable": stable_version, "canary": canary_version}
        self.canary_fraction = canary_fraction
        self._loader = loader
        self._versions: dict[int, LoadedVersion] = {}  # replaced, never mutated in place
        self._failed: dict[int, str] = {}
        self._poll_lock = threading.Lock()
        self._random = random.Random(seed)

    # --- loading ---------------------------------------------------------------------------------

    def wanted(self, available: list[int]) -> set[int]:
        keep = set(sorted(available)[-self.keep_versions :])
        keep |= {v for v in self.pins.values() if v and v in available}
        return keep

    def poll(self) -> dict[str, list[int]]:
        """Load new versions, then publish them and unload old ones in one swap.

        Returns:
            ``{"loaded": [...], "unloaded": [...], "failed": [...]}`` for this poll. A version whose
            load fails (for example still being copied) is retried on the next poll.
        """
        with self._poll_lock:
            dirs = version_dirs(self.model_dir)
            wanted = self.wanted(list(dirs))
            current = self._versions
            fresh: dict[int, LoadedVersion] = {}
            failed = []
            for version in sorted(wanted - set(current)):
                try:
                    fresh[version] = LoadedVersion(version, dirs[version], self._loader(dirs[version]))
                    self._failed.pop(version, None)
                    log.info("loaded %s version %d from %s", self.name, version, dirs[version])
                except Exception as exc:  # noqa: BLE001 - a broken version must not stop serving the others
                    self._failed[version] = f"{type(exc).__name__}: {exc}"
                    failed.append(version)
                    log.warning(
                        "could not load %s version %d (%s); retrying next poll", self.name, version, exc
                    )
            table = {v: lv for v, lv in current.items() if v in wanted} | fresh
            unloaded = sorted(set(current) - set(table))
            self._versions = table  # the swap
            for version in unloaded:
                log.info("unloaded %s version %d", self.name, version)
            return {"loaded": sorted(fresh), "unloaded": unloaded, "failed": failed}

    # --- routing ---------------------------------------------------------------------------------

    def labels(self) -> dict[str, int]:
        """Label -> version among the loaded versions (empty while nothing is loaded)."""
        loaded = sorted(self._versions)
        if not loaded:
            return {}
        canary = loaded[-1]
        stable = loaded[-2] if len(loaded) > 1 else canary
        labels = {"stable": stable, "canary": canary}
        for label, pinned in self.pins.items():
            if pinned and pinned in self._versions:
                labels[label] = pinned
        return labels

    def get(self, version: int | None = None, label: str | None = None) -> tuple[LoadedVersion, str]:
        """The version that answers a request, and the label it was reached by ('' for a version request).

        Raises:
            NotFound: unknown label, a version that is not loaded, or nothing loaded yet.
        """
        table = self._versions
        if not table:
            raise NotFound(f"no version of model {self.name} is loaded yet (watching {self.model_dir})")
        if version is not None:
            if version not in table:
                raise NotFound(
                    f"model {self.name} version {version} is not loaded; loaded versions: {sorted(table)}"
                )
            return table[version], ""
        labels = self.labels()
        if label is None:
            label = "canary" if self._random.random() < self.canary_fraction else "stable"
        if label not in labels:
            raise NotFound(f'model {self.name} has no version labelled "{label}"; labels: {labels}')
        return table[labels[label]], label

    def status(self, version: int | None = None, label: str | None = None) -> list[dict[str, Any]]:
        """TF Serving's ``model_version_status`` list, newest first."""
        if version is not None or label is not None:
            return [self._status_of(self.get(version, label)[0].version)]
        versions = sorted(set(self._versions) | set(self._failed), reverse=True)
        if not versions:
            raise NotFound(f"no version of model {self.name} is loaded yet (watching {self.model_dir})")
        return [self._status_of(v) for v in versions]

    def _status_of(self, version: int) -> dict[str, Any]:
        if version in self._versions:
            return {
                "version": str(version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        return {
            "version": str(version),
            "state": "END",
            "status": {"error_code": "UNKNOWN", "error_message": self._failed.get(version, "")},
        }

    @property
    def loaded(self) -> dict[int, LoadedVersion]:
        return self._versions
