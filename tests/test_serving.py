"""The model server over real HTTP on loopback, serving a real exported model.

One module fixture exports a small model with the Trainer's own signatures (generated learners
through the real ingestion and TF Transform, ``lab.fixture_model``), lays it out as the
Pusher does (``<serving_root>/dropout_risk/1`` and a copy as version 2) and starts
``python -m dropout.serving`` in its own process. Tests run in file order: the hot-swap test
pushes version 3 and so comes after the routing tests.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from dropout.contract import features as F

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-serving-token"
MODEL = "dropout_risk"
MAX_BODY = 200_000
RAW_INPUTS = (*F.sequence_keys(), *F.CATEGORICAL_CONTEXT, *F.NUMERIC_CONTEXT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from lab.fixture_model import export_models

    root = tmp_path_factory.mktemp("serving")
    model_dir = root / "serving" / MODEL
    exported = export_models(model_dir, [1], learners=120, epochs=1, work_dir=root / "work")
    shutil.copytree(model_dir / "1", model_dir / "2")
    port = _free_port()
    env = {
        **os.environ,
        "DROPOUT_SERVING_TOKEN": TOKEN,
        "DROPOUT__PIPELINE__SERVING_ROOT": str(root / "serving"),
        "DROPOUT__SERVING__PORT": str(port),
        "DROPOUT__SERVING__POLL_SECONDS": "0.5",
        "DROPOUT__SERVING__CANARY_FRACTION": "0.5",
        "DROPOUT__SERVING__BATCH_TIMEOUT_MS": "20",
        "DROPOUT__SERVING__MAX_BODY_BYTES": str(MAX_BODY),
        "DROPOUT__SERVING__MAX_INSTANCES": "50",
    }
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dropout.serving", "--config", str(REPO / "config" / "default.toml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        assert process.poll() is None, (root / "server.log").read_text()[-3000:]
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(1)
    else:
        process.kill()
        pytest.fail(
            "server did not load the model within 240 s:\n" + (root / "server.log").read_text()[-3000:]
        )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield {
        "base": base,
        "http": session,
        "rows": exported["rows"],
        "model_dir": model_dir,
        "process": process,
        "log": root / "server.log",
    }
    process.terminate()
    process.wait(timeout=30)
    log.close()


def _instance(row: dict) -> dict:
    """A raw-feature instance (JSON) from an ingested example row."""
    out = {}
    for key in RAW_INPUTS:
        value = row[key]
        if isinstance(value, bytes):
            out[key] = value.decode()
        elif isinstance(value, np.ndarray):
            out[key] = value.tolist()
        else:
            out[key] = float(value)
    return out


def _example(row: dict) -> bytes:
    """The row as a serialized tf.Example without label and score (the SERVING environment)."""
    import tensorflow as tf

    feature = {}
    for key, value in row.items():
        if key in (F.LABEL_KEY, F.SCORE_KEY, "split"):
            continue
        if isinstance(value, bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        elif isinstance(value, np.ndarray):
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=value.tolist()))
        elif isinstance(value, int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _predict(server, body, path=f"/v1/models/{MODEL}:predict", **kwargs):
    return server["http"].post(server["base"] + path, json=body, timeout=60, **kwargs)


# --- status and metadata --------------------------------------------------------------------------


def test_status_lists_both_versions_and_labels_resolve(server):
    http, base = server["http"], server["base"]
    status = http.get(f"{base}/v1/models/{MODEL}").json()
    assert status == {
        "model_version_status": [
            {"version": v, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in ("2", "1")
        ]
    }
    assert (
        http.get(f"{base}/v1/models/{MODEL}/versions/1").json()["model_version_status"][0]["version"] == "1"
    )
    assert (
        http.get(f"{base}/v1/models/{MODEL}/labels/stable").json()["model_version_status"][0]["version"]
        == "1"
    )
    assert (
        http.get(f"{base}/v1/models/{MODEL}/labels/canary").json()["model_version_status"][0]["version"]
        == "2"
    )


def test_metadata_describes_both_signatures(server):
    meta = server["http"].get(f"{server['base']}/v1/models/{MODEL}/versions/1/metadata").json()
    assert meta["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {"serving_default", "raw_features"}
    examples = sigs["serving_default"]["inputs"]["examples"]
    assert examples["dtype"] == "DT_STRING" and [d["size"] for d in examples["tensor_shape"]["dim"]] == ["-1"]
    raw = sigs["raw_features"]["inputs"]
    assert set(raw) == set(RAW_INPUTS)
    assert [d["size"] for d in raw["logins"]["tensor_shape"]["dim"]] == ["-1", "10"]
    assert raw["course_id"]["dtype"] == "DT_STRING" and raw["price"]["dtype"] == "DT_FLOAT"
    assert sigs["raw_features"]["outputs"]["risk"]["dtype"] == "DT_FLOAT"


# --- the two request forms and the two signatures -------------------------------------------------


def test_row_columnar_and_serialized_example_requests_agree(server):
    rows = server["rows"][:5]
    instances = [_instance(r) for r in rows]
    path = f"/v1/models/{MODEL}/versions/1:predict"

    by_row = _predict(server, {"signature_name": "raw_features", "instances": instances}, path)
    assert by_row.status_code == 200, by_row.text
    predictions = np.asarray(by_row.json()["predictions"])
    assert predictions.shape == (5, 1) and ((predictions > 0) & (predictions < 1)).all()

    columns = {key: [inst[key] for inst in instances] for key in RAW_INPUTS}
    by_column = _predict(server, {"signature_name": "raw_features", "inputs": columns}, path)
    assert by_column.status_code == 200, by_column.text
    np.testing.assert_allclose(np.asarray(by_column.json()["outputs"]), predictions, rtol=1e-5)

    b64 = [{"b64": base64.b64encode(_example(r)).decode()} for r in rows]
    by_example = _predict(server, {"instances": b64}, path)  # serving_default, the Trainer's signature
    assert by_example.status_code == 200, by_example.text
    np.testing.assert_allclose(np.asarray(by_example.json()["predictions"]), predictions, rtol=1e-5)
    assert by_example.headers["X-Model-Version"] == "1"

    # The risk depends on the learner: different learners, different scores (the model is not constant).
    assert np.ptp(predictions) > 1e-6


# --- routing --------------------------------------------------------------------------------------


def test_version_and_label_routing_and_traffic_split(server):
    body = {"signature_name": "raw_features", "instances": [_instance(server["rows"][0])]}
    assert _predict(server, body, f"/v1/models/{MODEL}/versions/2:predict").headers["X-Model-Version"] == "2"
    stable = _predict(server, body, f"/v1/models/{MODEL}/labels/stable:predict")
    canary = _predict(server, body, f"/v1/models/{MODEL}/labels/canary:predict")
    assert (stable.headers["X-Model-Version"], stable.headers["X-Model-Label"]) == ("1", "stable")
    assert (canary.headers["X-Model-Version"], canary.headers["X-Model-Label"]) == ("2", "canary")

    served = [_predict(server, body).headers["X-Model-Label"] for _ in range(40)]
    # canary_fraction 0.5: all 40 on one side has probability 2 * 0.5**40.
    assert 0 < served.count("canary") < 40

    missing = _predict(server, body, f"/v1/models/{MODEL}/versions/7:predict")
    assert missing.status_code == 404 and "version 7 is not loaded" in missing.json()["error"]
    unknown_label = _predict(server, body, f"/v1/models/{MODEL}/labels/beta:predict")
    assert unknown_label.status_code == 404 and '"beta"' in unknown_label.json()["error"]
    other_model = _predict(server, body, "/v1/models/other:predict")
    assert other_model.status_code == 404 and "other" in other_model.json()["error"]


def test_concurrent_requests_are_batched(server):
    instances = [_instance(r) for r in server["rows"][:32]]
    path = f"/v1/models/{MODEL}/versions/1:predict"
    alone = np.asarray(
        _predict(server, {"signature_name": "raw_features", "instances": instances}, path).json()[
            "predictions"
        ]
    )
    with ThreadPoolExecutor(16) as pool:
        replies = list(
            pool.map(
                lambda inst: _predict(server, {"signature_name": "raw_features", "instances": [inst]}, path),
                instances,
            )
        )
    assert [r.status_code for r in replies] == [200] * 32
    # Each request gets its own learner's risk back, whatever batch it rode in.
    np.testing.assert_allclose([r.json()["predictions"][0] for r in replies], alone, rtol=1e-5)
    stats = requests.get(f"{server['base']}/healthz", timeout=10).json()["batching"]["1/raw_features"]
    assert stats["largest_batch"] > 1 and stats["batches"] < stats["requests"], stats


# --- errors ---------------------------------------------------------------------------------------


def _bad_instances(server):
    good = _instance(server["rows"][0])
    short = {**good, "logins": good["logins"][:9]}
    missing = {k: v for k, v in good.items() if k != "course_id"}
    text_number = {**good, "price": "cheap"}
    number_text = {**good, "region": 3}
    ragged = {**good, "downloads": [[1.0], 2.0] + [0.0] * 8}
    unknown = {**good, "email": "someone@example.org"}
    return [
        (
            "wrong shape",
            {"signature_name": "raw_features", "instances": [short]},
            'instance 0, feature "logins": expected shape [10], got [9]',
        ),
        (
            "missing feature",
            {"signature_name": "raw_features", "instances": [good, missing]},
            'instance 1: missing feature "course_id"',
        ),
        (
            "number as text",
            {"signature_name": "raw_features", "instances": [text_number]},
            'instance 0, feature "price": expected a number (float32), got "cheap"',
        ),
        (
            "text as number",
            {"signature_name": "raw_features", "instances": [number_text]},
            'instance 0, feature "region": expected a string',
        ),
        ("ragged", {"signature_name": "raw_features", "instances": [ragged]}, 'feature "downloads"'),
        (
            "unknown feature",
            {"signature_name": "raw_features", "instances": [unknown]},
            'unknown feature "email"',
        ),
        ("both forms", {"instances": [good], "inputs": {}}, 'exactly one of "instances"'),
        ("no instances", {"signature_name": "raw_features", "instances": []}, "non-empty list"),
        ("too many", {"signature_name": "raw_features", "instances": [good] * 51}, "51 instances"),
        (
            "columns of different lengths",
            {
                "signature_name": "raw_features",
                "inputs": {k: [v] * (2 if k == "price" else 1) for k, v in good.items()},
            },
            "same number of examples",
        ),
        (
            "unknown signature",
            {"signature_name": "classify_all", "instances": [good]},
            "'classify_all' is not in the model",
        ),
        (
            "not a tf.Example",
            {"instances": [{"b64": base64.b64encode(b"not a proto").decode()}]},
            "the model rejected the input",
        ),
        ("bad base64", {"instances": [{"b64": "***"}]}, "not valid base64"),
    ]


def test_bad_requests_get_400_with_a_clear_message(server):
    for what, body, expected in _bad_instances(server):
        reply = _predict(server, body)
        assert reply.status_code == 400, (what, reply.status_code, reply.text)
        assert expected in reply.json()["error"], (what, reply.json())

    url = f"{server['base']}/v1/models/{MODEL}:predict"
    for what, data, expected in [
        ("empty body", b"", "request body is empty"),
        ("not JSON", b"{instances: [", "not valid JSON"),
        ("not an object", b"[1, 2]", "must be a JSON object"),
        ("oversized", b'{"instances": [' + b"1," * MAX_BODY + b"1]}", f"limit is {MAX_BODY}"),
    ]:
        reply = server["http"].post(url, data=data, headers={"Content-Type": "application/json"}, timeout=60)
        assert reply.status_code == 400, (what, reply.status_code, reply.text)
        assert expected in reply.json()["error"], (what, reply.json())

    # Still serving after all of that.
    assert server["process"].poll() is None
    ok = _predict(server, {"signature_name": "raw_features", "instances": [_instance(server["rows"][0])]})
    assert ok.status_code == 200


def test_bad_request_batched_with_good_ones_fails_alone(server):
    good = {"instances": [{"b64": base64.b64encode(_example(server["rows"][0])).decode()}]}
    bad = {"instances": [{"b64": base64.b64encode(b"garbage").decode()}]}
    path = f"/v1/models/{MODEL}/versions/2:predict"
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda body: _predict(server, body, path), [good, bad] * 8))
    assert [r.status_code for r in replies] == [200, 400] * 8


def test_token_is_required(server):
    url = f"{server['base']}/v1/models/{MODEL}"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401 and "bearer token" in anonymous.json()["error"]
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(
        url + ":predict", json={"instances": [1]}, headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert wrong.status_code == 401 and "invalid bearer token" in wrong.json()["error"]
    assert server["http"].get(url, timeout=10).status_code == 200


def test_server_will_not_start_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DROPOUT_SERVING_TOKEN"}
    env["DROPOUT__SERVING__TOKEN_FILE"] = str(tmp_path / "absent.token")
    done = subprocess.run(
        [sys.executable, "-m", "dropout.serving"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "no serving token: set $DROPOUT_SERVING_TOKEN" in done.stderr


# --- hot swap -------------------------------------------------------------------------------------


def test_newly_pushed_version_is_picked_up_without_failed_requests(server):
    body = {"signature_name": "raw_features", "instances": [_instance(server["rows"][0])]}
    canary = f"/v1/models/{MODEL}/labels/canary:predict"
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def client():
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        while not stop.is_set():
            for path in (canary, f"/v1/models/{MODEL}:predict"):
                reply = session.post(server["base"] + path, json=body, timeout=60)
                results.append((reply.status_code, reply.headers.get("X-Model-Version", "")))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        # The Pusher's way to publish: the new version directory appears under the model directory.
        staging = server["model_dir"].parent / "staging-3"
        shutil.copytree(server["model_dir"] / "1", staging)
        staging.rename(server["model_dir"] / "3")
        deadline = time.time() + 180
        while time.time() < deadline and not any(v == "3" for _, v in results):
            time.sleep(0.5)
        time.sleep(1.0)  # keep traffic flowing across the unload of version 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)

    failed = [code for code, _ in results if code != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed during the swap: {set(failed)}"
    served = [v for _, v in results]
    assert "3" in served, "version 3 never answered"
    assert served.index("3") > 0 and served[0] in (
        "1",
        "2",
    )  # traffic before the push went to the old versions
    status = server["http"].get(f"{server['base']}/v1/models/{MODEL}").json()["model_version_status"]
    assert [s["version"] for s in status] == ["3", "2"]  # keep_versions = 2: version 1 unloaded
    labels = requests.get(f"{server['base']}/healthz", timeout=10).json()["labels"]
    assert labels == {"stable": 2, "canary": 3}
    gone = _predict(server, body, f"/v1/models/{MODEL}/versions/1:predict")
    assert gone.status_code == 404
