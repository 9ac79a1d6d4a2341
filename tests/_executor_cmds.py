"""Commands the warm executor's tests run (``python -m _executor_cmds <action> ...``, cwd = tests/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    action, args = argv[0], argv[1:]
    if action == "echo":
        print("hello from", os.getpid())
        print("to stderr", file=sys.stderr)
        print(json.dumps({"args": args, "cwd": os.getcwd(), "x": os.environ.get("DROPOUT_X")}))
        return 0
    if action == "env":
        print(json.dumps(sorted(os.environ)))
        return 0
    if action == "fail":
        raise ValueError("boom from the node")
    if action == "exit":
        return int(args[0])
    if action == "sleep":  # sleep SECONDS PIDFILE: a node that runs for a while
        with open(args[1], "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(float(args[0]))
        print("woke")
        return 0
    if action == "spawn":  # spawn PIDFILE: a node with a worker process of its own (as Beam's)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(args[0], "w") as fh:
            fh.write(f"{os.getpid()} {worker.pid}")
        time.sleep(600)
        return 0
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
