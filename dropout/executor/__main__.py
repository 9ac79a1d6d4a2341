"""The warm executor's commands (TFX environment).

    python -m dropout.executor serve --socket PATH       # import TFX once, then fork a child per command
    python -m dropout.executor supervise --socket PATH   # keep a server running: restart it when it dies
    python -m dropout.executor ping --socket PATH        # exit 0 when a server answers

``supervise`` is what ``make up`` starts beside Airflow (``infra/airflow/start.sh``); it imports nothing
heavy itself, so it survives whatever kills a server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

from dropout.executor import protocol


def _serve(socket_path: str, preload: bool = True) -> int:
    from dropout.executor import server

    for noisy in ("apache_beam", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    seconds = server.preload(server.PRELOAD if preload else ())
    slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:5]
    logging.info(
        "preloaded %d modules in %.1f s (slowest: %s)",
        len(seconds),
        time.perf_counter() - started,
        ", ".join(f"{k} {v:.1f} s" for k, v in slowest),
    )
    server.Server(socket_path).serve_forever()
    return 0


def _supervise(socket_path: str, preload: bool = True) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failures = 0
    while not stopping:
        started = time.monotonic()
        argv = [sys.executable, "-m", "dropout.executor", "serve", "--socket", socket_path]
        child = subprocess.Popen(argv if preload else [*argv, "--no-preload"])
        logging.info("started the warm executor (pid %d) on %s", child.pid, socket_path)
        code = child.wait()
        if stopping:
            break
        failures = failures + 1 if time.monotonic() - started < 60 else 1
        delay = min(2 ** (failures - 1), 30)
        logging.warning("the warm executor exited with %s; restarting in %d s", code, delay)
        time.sleep(delay)
    return 0


def _ping(socket_path: str, preload: bool = True) -> int:
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(socket_path)
    except OSError as exc:
        print(f"no warm executor at {socket_path}: {exc}", file=sys.stderr)
        return 1
    probe.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropout.executor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("serve", "supervise", "ping"))
    parser.add_argument(
        "--socket",
        default=os.environ.get(protocol.SOCKET_ENV),
        help=f"the Unix socket (default: ${protocol.SOCKET_ENV})",
    )
    parser.add_argument(
        "--no-preload", action="store_true", help="import nothing up front (tests of the executor itself)"
    )
    args = parser.parse_args(argv)
    if not args.socket:
        parser.error(f"--socket or ${protocol.SOCKET_ENV} is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = {"serve": _serve, "supervise": _supervise, "ping": _ping}[args.command]
    return command(args.socket, preload=not args.no_preload)


if __name__ == "__main__":
    sys.exit(main())
