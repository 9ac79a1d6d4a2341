"""Start the model server: ``python -m dropout.serving --config config/default.toml``.

Serves ``<pipeline.serving_root>/<pipeline.model_name>/<version>/`` with TF Serving's REST API on
``serving.host:serving.port``; the bearer token comes from ``$DROPOUT_SERVING_TOKEN`` (the variable
named by ``serving.token_env``) or the file ``serving.token_file``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from dropout.contract.settings import ServingSettings, load_settings

from .app import ServingApp
from .registry import ModelRegistry


def serving_token(settings: ServingSettings, env: dict[str, str] | None = None) -> str:
    """The bearer token: the environment variable first, then the token file.

    Raises:
        RuntimeError: when neither holds one, saying how to provide it.
    """
    env = dict(os.environ) if env is None else env
    if env.get(settings.token_env, "").strip():
        return env[settings.token_env].strip()
    path = Path(settings.token_file)
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    raise RuntimeError(
        f"no serving token: set ${settings.token_env} or write one to {path} "
        f"(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))' > {path})"
    )


def build_app(config: str | None, model_dir: str | None = None) -> tuple[web.Application, ServingSettings]:
    settings = load_settings(config)
    serving = settings.serving
    directory = (
        Path(model_dir) if model_dir else Path(settings.pipeline.serving_root) / settings.pipeline.model_name
    )
    registry = ModelRegistry(
        settings.pipeline.model_name,
        directory,
        keep_versions=serving.keep_versions,
        stable_version=serving.stable_version,
        canary_version=serving.canary_version,
        canary_fraction=serving.canary_fraction,
    )
    app = ServingApp(
        registry,
        serving_token(serving),
        max_batch_size=serving.max_batch_size,
        batch_timeout_s=serving.batch_timeout_ms / 1000.0,
        max_body_bytes=serving.max_body_bytes,
        max_instances=serving.max_instances,
        poll_seconds=serving.poll_seconds,
        model_threads=serving.model_threads,
    )
    return app.build(), serving


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropout.serving", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default="config/default.toml", help="settings TOML (default: %(default)s)"
    )
    parser.add_argument("--model-dir", help="override <serving_root>/<model_name>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app, serving = build_app(args.config, args.model_dir)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"dropout.serving: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        app, host=serving.host, port=serving.port, access_log=None, print=lambda msg: logging.info("%s", msg)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
