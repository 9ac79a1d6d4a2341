"""Load benchmark of the model server: p50/p99 latency and throughput at rising request rates.

Starts ``python -m dropout.serving`` on 127.0.0.1 and drives it from a *separate* load-generator
process (this script with ``--load``), open loop: request i is sent at ``start + i / rate`` whatever
happened to earlier ones, so queueing shows up as latency instead of silently lowering the rate.
Every stage is bounded (``--seconds`` per rate, at most ``--max-in-flight`` requests outstanding).
Each request carries one learner (``raw_features`` signature, row form).

    python benchmarks/bench_serving.py --model-dir /tmp/serving/dropout_risk --rates 10 25 50 100 200

Without ``--model-dir`` a small model is exported first with ``lab.fixture_model``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TOKEN = "bench-serving-token"


def _instances(n: int) -> list[dict]:
    import numpy as np

    from dropout.contract import features as F

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        enrolled = np.ones(10)
        active = (rng.uniform(size=10) < rng.uniform(0.1, 0.9)).astype(float)
        inst = {k: (rng.poisson(2, 10) * active).astype(float).tolist() for k in F.SEQUENCE_FEATURES}
        inst["mean_dwell_seconds"] = (rng.uniform(20, 900, 10) * active).round().tolist()
        inst["video_completion_rate"] = (rng.uniform(size=10) * active).round(2).tolist()
        inst.update(
            {
                F.ACTIVE_MASK_KEY: active.tolist(),
                F.ENROLLED_MASK_KEY: enrolled.tolist(),
                "course_id": "C-PY101",
                "cohort": "2026-09",
                "region": "EU",
                "device": "web",
                "plan": "free",
                "price": 0.0,
                F.INTERVENTIONS_KEY: 0.0,
                F.INTERVENTION_OUTCOME_KEY: -1.0,
            }
        )
        out.append(inst)
    return out


async def _stage(url: str, rate: float, seconds: float, max_in_flight: int, bodies: list[bytes]) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    dropped = 0
    in_flight = 0
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: bytes) -> None:
            nonlocal errors, in_flight
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as reply:
                    await reply.read()
                    if reply.status != 200:
                        errors += 1
                        return
            except aiohttp.ClientError:
                errors += 1
                return
            finally:
                in_flight -= 1
            latencies.append(time.perf_counter() - t0)

        total = int(rate * seconds)
        tasks = []
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= max_in_flight:
                dropped += 1  # the server is this far behind: count it, do not queue without bound
                continue
            in_flight += 1
            tasks.append(asyncio.ensure_future(one(bodies[i % len(bodies)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return (
            round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)
            if latencies
            else float("nan")
        )

    return {
        "target_rps": rate,
        "sent": len(tasks),
        "ok": len(latencies),
        "errors": errors,
        "not_sent_backlog": dropped,
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def load_main(args: argparse.Namespace) -> None:
    bodies = [
        json.dumps({"signature_name": "raw_features", "instances": [inst]}).encode()
        for inst in _instances(64)
    ]
    url = f"http://127.0.0.1:{args.port}/v1/models/dropout_risk:predict"
    import urllib.request

    for label in ("stable", "canary"):  # the first call of each version traces its function: not timed
        for body in bodies[:3]:
            req = urllib.request.Request(
                url.replace(":predict", f"/labels/{label}:predict"),
                data=body,
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            urllib.request.urlopen(req, timeout=120).read()
    for rate in args.rates:
        result = asyncio.run(_stage(url, rate, args.seconds, args.max_in_flight, bodies))
        print(json.dumps(result), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", help="<serving_root>/dropout_risk with at least one version")
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 25, 50, 100, 200])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=2.0)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args)
        return

    model_dir = Path(args.model_dir) if args.model_dir else None
    if model_dir is None:
        from lab.fixture_model import export_models

        model_dir = Path(tempfile.mkdtemp(prefix="bench-serving-")) / "serving" / "dropout_risk"
        export_models(model_dir, [1])
    port = _free_port()
    env = {
        **os.environ,
        "DROPOUT_SERVING_TOKEN": TOKEN,
        "DROPOUT__SERVING__PORT": str(port),
        "DROPOUT__SERVING__MAX_BATCH_SIZE": str(args.max_batch_size),
        "DROPOUT__SERVING__BATCH_TIMEOUT_MS": str(args.batch_timeout_ms),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "dropout.serving", "--model-dir", str(model_dir)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import urllib.request

        deadline = time.time() + 300
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("server did not come up")
            time.sleep(1)
        print(
            f"server up (model {model_dir}); max_batch_size={args.max_batch_size}, "
            f"batch_timeout_ms={args.batch_timeout_ms}; load from a separate process",
            flush=True,
        )
        cmd = [
            sys.executable,
            __file__,
            "--load",
            "--port",
            str(port),
            "--seconds",
            str(args.seconds),
            "--max-in-flight",
            str(args.max_in_flight),
            "--rates",
            *map(str, args.rates),
        ]
        print(
            "| target req/s | sent | not sent (backlog) | ok | errors | throughput req/s | p50 ms | p99 ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as load:
            assert load.stdout is not None
            for line in load.stdout:
                r = json.loads(line)
                print(
                    f"| {r['target_rps']:g} | {r['sent']} | {r['not_sent_backlog']} | {r['ok']} | {r['errors']} | {r['throughput_rps']} | "
                    f"{r['p50_ms']} | {r['p99_ms']} |",
                    flush=True,
                )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            print("batching:", json.loads(reply.read())["batching"])
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
