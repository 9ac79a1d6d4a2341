"""The HTTP server: TF Serving's REST API over a :class:`ModelRegistry`, on aiohttp.

Routes (``<name>`` is the model name, e.g. ``dropout_risk``)::

    POST /v1/models/<name>[/versions/<n> | /labels/<label>]:predict
    GET  /v1/models/<name>[/versions/<n> | /labels/<label>]            version status
    GET  /v1/models/<name>[/versions/<n> | /labels/<label>]/metadata   signature defs
    GET  /healthz                                                      no token; 200 once a version is loaded

Every ``/v1`` route needs ``Authorization: Bearer <token>``. Errors are ``{"error": "..."}``: 400 for
a request the model cannot take, 401 without a valid token, 404 for an unknown model, version or
label, 500 only for a fault inside the server (logged with its traceback). Responses name the
version that answered in ``X-Model-Version`` (and the label in ``X-Model-Label``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import re
from typing import Any

from aiohttp import web

from dropout.contract import features as F

from .batching import Batcher
from .codec import RequestError, decode_json, format_outputs, parse_inputs, signature_metadata
from .registry import LoadedVersion, ModelRegistry, NotFound

log = logging.getLogger(__name__)
DEFAULT_SIGNATURE = F.SERVING_SIGNATURE
_ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[a-zA-Z]+))?/?$"
)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class ServingApp:
    """State shared by the handlers: the registry, one batcher per (version, signature), the token."""

    def __init__(
        self,
        registry: ModelRegistry,
        token: str,
        *,
        max_batch_size: int = 32,
        batch_timeout_s: float = 0.002,
        max_body_bytes: int = 4 * 1024 * 1024,
        max_instances: int = 1000,
        poll_seconds: float = 2.0,
        model_threads: int = 2,
    ) -> None:
        if not token:
            raise ValueError(
                "serving needs a non-empty bearer token (see serving.token_env / serving.token_file)"
            )
        self.registry = registry
        self._token = token.encode()
        self.max_batch_size = max_batch_size
        self.batch_timeout_s = batch_timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_instances = max_instances
        self.poll_seconds = poll_seconds
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=model_threads, thread_name_prefix="model"
        )
        self._loader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="poll")
        self.batchers: dict[tuple[int, str], Batcher] = {}
        self._poller: asyncio.Task | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def build(self) -> web.Application:
        # Body size is checked by the handler (a 400 with our message instead of aiohttp's 413).
        app = web.Application(client_max_size=self.max_body_bytes + 1, middlewares=[self._guard])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_route("*", "/v1/{tail:.*}", self._v1)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(self._loader, self.registry.poll)
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _on_cleanup(self, app: web.Application) -> None:
        if self._poller:
            self._poller.cancel()
        for batcher in self.batchers.values():
            await batcher.stop()
        self.executor.shutdown(wait=False)
        self._loader.shutdown(wait=False)

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                changes = await loop.run_in_executor(self._loader, self.registry.poll)
            except Exception:  # noqa: BLE001 - keep serving what is loaded
                log.exception(
                    "polling %s failed; serving the versions already loaded", self.registry.model_dir
                )
                continue
            for version in changes["unloaded"]:
                for key in [k for k in self.batchers if k[0] == version]:
                    await self.batchers.pop(key).stop()  # drains what is queued first

    # --- middleware and routing ------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
                reason = "missing" if not header else "invalid"
                response = _error(
                    401, f"{reason} bearer token; send the header 'Authorization: Bearer <token>'"
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="dropout-serving"'
                return response
        try:
            return await handler(request)
        except web.HTTPException as exc:
            return _error(exc.status, exc.reason)
        except Exception:  # noqa: BLE001 - the server must answer, never crash
            log.exception("internal error on %s %s", request.method, request.path)
            return _error(500, "internal server error; see the server log")

    async def _healthz(self, request: web.Request) -> web.Response:
        labels = self.registry.labels()
        batching = {
            f"{version}/{signature}": {
                "batches": b.batches,
                "requests": b.requests,
                "largest_batch": b.largest_batch,
            }
            for (version, signature), b in self.batchers.items()
        }
        body = {"loaded_versions": sorted(self.registry.loaded), "labels": labels, "batching": batching}
        return web.json_response(body, status=200 if labels else 503)

    async def _v1(self, request: web.Request) -> web.Response:
        match = _ROUTE.match(request.path)
        if not match:
            return _error(
                404, f"unknown path {request.path}; see TF Serving's REST API (/v1/models/<name>...)"
            )
        name, verb = match["name"], match["verb"]
        if name != self.registry.name:
            return _error(
                404,
                f"Servable not found for request: model {name!r}; this server serves {self.registry.name!r}",
            )
        version: int | None = None
        if match["version"] is not None:
            if not match["version"].isdigit():
                return _error(400, f"version must be a positive integer, got {match['version']!r}")
            version = int(match["version"])
        label = match["label"]
        try:
            if verb is None:
                if request.method != "GET":
                    return _error(405, f"{request.method} is not allowed here; use GET")
                if match["metadata"]:
                    return self._metadata(version, label)
                return web.json_response({"model_version_status": self.registry.status(version, label)})
            if verb in ("classify", "regress"):
                return _error(400, f":{verb} is not supported by this model; use :predict")
            if verb != "predict":
                return _error(404, f"unknown method :{verb}; use :predict")
            if request.method != "POST":
                return _error(405, f"{request.method} is not allowed for :predict; use POST")
            return await self._predict(request, version, label)
        except NotFound as exc:
            return _error(404, str(exc))

    # --- handlers --------------------------------------------------------------------------------

    def _metadata(self, version: int | None, label: str | None) -> web.Response:
        loaded, _ = self.registry.get(version, label or ("canary" if version is None else None))
        signature_def = {
            name: signature_metadata(s.inputs, s.outputs) for name, s in loaded.signatures.items()
        }
        return web.json_response(
            {
                "model_spec": {
                    "name": self.registry.name,
                    "signature_name": "",
                    "version": str(loaded.version),
                },
                "metadata": {"signature_def": {"signature_def": signature_def}},
            },
            headers={"X-Model-Version": str(loaded.version)},
        )

    async def _read_body(self, request: web.Request) -> bytes:
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            raise RequestError(
                f"request body is {declared} bytes; the limit is {self.max_body_bytes} (serving.max_body_bytes)"
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestError(
                f"request body is larger than {self.max_body_bytes} bytes (serving.max_body_bytes)"
            ) from None

    def _batcher(self, loaded: LoadedVersion, signature: str) -> Batcher:
        key = (loaded.version, signature)
        batcher = self.batchers.get(key)
        if batcher is None:
            batcher = Batcher(
                loaded.signatures[signature].run,
                max_batch_size=self.max_batch_size,
                timeout_s=self.batch_timeout_s,
                executor=self.executor,
            )
            batcher.start()
            self.batchers[key] = batcher
        return batcher

    async def _predict(self, request: web.Request, version: int | None, label: str | None) -> web.Response:
        try:
            body = await self._read_body(request)
            payload = decode_json(body)
            loaded, used_label = self.registry.get(version, label)
            signature = payload.get("signature_name") or DEFAULT_SIGNATURE
            if not isinstance(signature, str) or signature not in loaded.signatures:
                raise RequestError(
                    f"signature_name {signature!r} is not in the model; signatures: {sorted(loaded.signatures)}"
                )
            form, inputs, rows = parse_inputs(
                payload, loaded.signatures[signature].inputs, self.max_instances
            )
        except RequestError as exc:
            return _error(400, str(exc))
        try:
            outputs = await self._batcher(loaded, signature).submit(inputs, rows)
        except Exception as exc:  # noqa: BLE001
            if _is_invalid_argument(exc):  # what TF itself rejects (e.g. a tf.Example that does not parse)
                return _error(400, _first_line(exc))
            raise
        headers = {"X-Model-Version": str(loaded.version)}
        if used_label:
            headers["X-Model-Label"] = used_label
        return web.Response(
            text=json.dumps(format_outputs(form, outputs)), content_type="application/json", headers=headers
        )


def _is_invalid_argument(exc: Exception) -> bool:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - serving always runs in the TF environment
        return False
    return isinstance(exc, tf.errors.InvalidArgumentError | ValueError | TypeError)


_NOISE = ("Graph execution error", "Detected at node", "File ", "[[", "Op:", "Traceback")


def _first_line(exc: Exception) -> str:
    """The line of a TF error that says what is wrong with the input (TF wraps it in graph noise)."""
    text = getattr(exc, "message", None) or str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(_NOISE):
            return f"the model rejected the input: {line[:300]}"
    return f"the model rejected the input ({type(exc).__name__})"
