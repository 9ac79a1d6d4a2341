"""The warm executor's wire format: newline-delimited JSON over a Unix socket. Standard library only.

Client -> server, once::

    {"argv": ["dropout.pipeline", "--config", "...", "node", "Trainer", "--run-id", "..."],
     "cwd": "/srv/dropout", "env": {"DROPOUT__MODEL__EPOCHS": "3"}}

``argv[0]`` is a module run as ``python -m``; ``env`` holds only the variables the command may see
(``forwarded_env``), on top of the executor's own environment. Server -> client, in order::

    {"type": "started", "pid": 4242}
    {"type": "log", "line": "..."}            one per line the command writes to stdout or stderr
    {"type": "exit", "code": 0, "cpu_s": 3.2, "max_rss_mib": 900.0}
                                              the command's exit status (-N: signal N ended it), its CPU
                                              seconds and peak RSS (a forked child's peak starts at the
                                              executor's own)

A connection that closes before the ``exit`` frame means the command's fate is unknown to the client;
the server kills a command whose client went away (an Airflow task that was killed or timed out).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

SOCKET_ENV = "DROPOUT_TFX_EXECUTOR"  # path of the Unix socket of this machine's warm executor
MAX_FRAME = 1 << 20  # longest line read from a peer (a request, or one log line)

# What a command may see of its caller's environment: the product's settings and secrets it needs
# (pseudonymisation key, serving token, MLflow credentials), never the orchestrator's own secrets.
FORWARDED_PREFIXES = ("DROPOUT_", "MLFLOW_TRACKING_", "MLFLOW_HTTP_", "TF_CPP_", "PYTHONHASHSEED")


def forwarded_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` a TFX-environment command is given (``FORWARDED_PREFIXES``)."""
    return {k: v for k, v in env.items() if k.startswith(FORWARDED_PREFIXES)}


def encode(message: Mapping[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    """One frame; raises ValueError on anything but a JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    return message


def request(argv: list[str], cwd: str, env: Mapping[str, str]) -> dict[str, Any]:
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings: a module, then its arguments")
    return {"argv": list(argv), "cwd": os.fspath(cwd), "env": dict(env)}
