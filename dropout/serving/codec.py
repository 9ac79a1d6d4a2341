"""TF Serving's REST request and response formats, as plain functions on JSON values and numpy arrays.

A predict request is a JSON object with exactly one of:

- ``"instances"`` (row form): a list with one entry per example. For a signature with several
  inputs each entry is an object ``{input name: value}``; for a one-input signature an entry may be
  the bare value. Answered with ``{"predictions": ...}``.
- ``"inputs"`` (columnar form): ``{input name: [value per example]}``, or the bare list for a
  one-input signature. Answered with ``{"outputs": ...}``.

String inputs take a JSON string or ``{"b64": "<base64>"}`` (how serialized tf.Examples travel).
Every problem raises :class:`RequestError` with a message naming the instance, the input, what
was expected and what arrived; the server answers it with 400 ``{"error": message}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

DTYPES = ("float32", "int64", "string")


class RequestError(ValueError):
    """A request the server cannot answer as sent; the message is meant for the client."""


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output: dtype (one of ``DTYPES``) and shape, ``None`` for unknown dims."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    @property
    def example_shape(self) -> tuple[int | None, ...]:
        """The shape of one example (the batch dimension dropped)."""
        return self.shape[1:]


def decode_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a RequestError saying why not."""
    if not body or not body.strip():
        raise RequestError('request body is empty; send a JSON object with "instances" or "inputs"')
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise RequestError(
            f'request body must be a JSON object with "instances" or "inputs", got {type(parsed).__name__}'
        )
    return parsed


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _string_value(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"{where}: b64 value is not valid base64") from None
    raise RequestError(f'{where}: expected a string or {{"b64": ...}}, got {_describe(value)}')


def _strings(value: Any, shape: tuple[int | None, ...], where: str) -> Any:
    """Nested lists of bytes with the given shape (no batch dim), checked level by level."""
    if not shape:
        return _string_value(value, where)
    if not isinstance(value, list) or (shape[0] is not None and len(value) != shape[0]):
        raise RequestError(f"{where}: expected shape {_shape_text(shape)}, got {_describe(value)}")
    return [_strings(v, shape[1:], where) for v in value]


def _numbers(value: Any, spec: TensorSpec, shape: tuple[int | None, ...], where: str) -> np.ndarray:
    """One example's (or one column's) numbers as an array of ``spec.dtype`` with ``shape``."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        raise RequestError(f"{where}: expected shape {_shape_text(shape)}, got ragged lists") from None
    if array.dtype == object:
        raise RequestError(
            f"{where}: expected shape {_shape_text(shape)} of numbers, got ragged or mixed lists"
        )
    if array.dtype.kind not in "iuf" or (spec.dtype == "int64" and array.dtype.kind == "f"):
        kind = "an integer" if spec.dtype == "int64" else "a number"
        shown = _describe(value)
        raise RequestError(f"{where}: expected {kind} ({spec.dtype}), got {shown}")
    if array.ndim != len(shape) or any(
        d is not None and d != a for d, a in zip(shape, array.shape, strict=True)
    ):
        raise RequestError(
            f"{where}: expected shape {_shape_text(shape)}, got {_shape_text(tuple(array.shape))}"
        )
    return array.astype(np.float32 if spec.dtype == "float32" else np.int64)


def _column(values: list[Any], spec: TensorSpec, where: str) -> np.ndarray:
    if spec.dtype == "string":
        return np.asarray(_strings(values, (len(values), *spec.example_shape), where), dtype=object)
    return _numbers(values, spec, (len(values), *spec.example_shape), where)


def _check_feature_names(given: dict[str, Any], specs: dict[str, TensorSpec], where: str) -> None:
    """Every input of the signature present and nothing else; ``where`` names the instance or "inputs"."""
    missing = [name for name in specs if name not in given]
    if missing:
        raise RequestError(f'{where}: missing feature "{missing[0]}" (missing: {", ".join(missing)})')
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise RequestError(f'{where}: unknown feature "{unknown[0]}"; the signature takes {sorted(specs)}')


def parse_inputs(
    request: dict[str, Any], specs: dict[str, TensorSpec], max_instances: int
) -> tuple[str, dict[str, np.ndarray], int]:
    """Validate a predict request against a signature's inputs.

    Args:
        request: the decoded JSON object.
        specs: the signature's inputs by name.
        max_instances: most examples one request may carry.

    Returns:
        ``("row" | "columnar", {input name: array with a leading batch dimension}, batch size)``.

    Raises:
        RequestError: naming the instance and input at fault.
    """
    has_rows, has_columns = "instances" in request, "inputs" in request
    if has_rows == has_columns:
        raise RequestError(
            'request must have exactly one of "instances" (row form) or "inputs" (columnar form)'
        )
    single = next(iter(specs)) if len(specs) == 1 else None
    if has_rows:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError('"instances" must be a non-empty list, one entry per example')
        if len(instances) > max_instances:
            raise RequestError(f"{len(instances)} instances in one request; the limit is {max_instances}")
        columns: dict[str, list[Any]] = {name: [] for name in specs}
        for i, instance in enumerate(instances):
            named = isinstance(instance, dict) and not (single and set(instance) == {"b64"})
            if not named:
                if single is None:
                    raise RequestError(
                        f"instance {i}: expected an object with the inputs {sorted(specs)}, got {_describe(instance)}"
                    )
                instance = {single: instance}
            _check_feature_names(instance, specs, f"instance {i}")
            for name in specs:
                columns[name].append(instance[name])
        arrays = {}
        for name, spec in specs.items():
            if spec.dtype == "string":
                values = [
                    _strings(v, spec.example_shape, f'instance {i}, feature "{name}"')
                    for i, v in enumerate(columns[name])
                ]
                arrays[name] = np.asarray(values, dtype=object)
            else:
                arrays[name] = np.stack(
                    [
                        _numbers(v, spec, spec.example_shape, f'instance {i}, feature "{name}"')
                        for i, v in enumerate(columns[name])
                    ]
                )
        return "row", arrays, len(instances)

    inputs = request["inputs"]
    if not isinstance(inputs, dict):
        if single is None:
            raise RequestError(f'"inputs" must be an object with the inputs {sorted(specs)}')
        inputs = {single: inputs}
    _check_feature_names(inputs, specs, "inputs")
    sizes = {}
    for name in specs:
        column = inputs[name]
        if not isinstance(column, list) or not column:
            raise RequestError(
                f'inputs, feature "{name}": expected a non-empty list with one value per example'
            )
        sizes[name] = len(column)
    if len(set(sizes.values())) != 1:
        raise RequestError(f"inputs: every feature needs the same number of examples, got {sizes}")
    batch = next(iter(sizes.values()))
    if batch > max_instances:
        raise RequestError(f"{batch} examples in one request; the limit is {max_instances}")
    arrays = {name: _column(inputs[name], spec, f'inputs, feature "{name}"') for name, spec in specs.items()}
    return "columnar", arrays, batch


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype == object or array.dtype.kind == "S":
        return np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(array).tolist()
    return array.tolist()


def format_outputs(form: str, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """TF Serving's response: ``predictions`` per row, or ``outputs`` per output name.

    A one-output signature gives bare values (``{"predictions": [[0.91], [0.12]]}``), several
    outputs give objects.
    """
    if form == "row":
        if len(outputs) == 1:
            return {"predictions": _jsonable(next(iter(outputs.values())))}
        names = list(outputs)
        columns = [_jsonable(outputs[n]) for n in names]
        return {"predictions": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]}
    if len(outputs) == 1:
        return {"outputs": _jsonable(next(iter(outputs.values())))}
    return {"outputs": {name: _jsonable(value) for name, value in outputs.items()}}


TF_DTYPE_NAMES = {"float32": "DT_FLOAT", "int64": "DT_INT64", "string": "DT_STRING"}


def signature_metadata(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]) -> dict[str, Any]:
    """A signature as TF Serving's ``/metadata`` writes a SignatureDef in JSON."""

    def tensor(spec: TensorSpec) -> dict[str, Any]:
        return {
            "dtype": TF_DTYPE_NAMES[spec.dtype],
            "tensor_shape": {
                "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape],
                "unknown_rank": False,
            },
            "name": spec.name,
        }

    return {
        "inputs": {name: tensor(spec) for name, spec in inputs.items()},
        "outputs": {name: tensor(spec) for name, spec in outputs.items()},
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
