"""The warm executor on its own: real server processes on Unix sockets, tiny commands (``_executor_cmds``).

The server runs without preloading TFX here (``--no-preload``): what is tested is the fork server, the
protocol and the failure handling, not the imports. About 15 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dropout.executor import client, protocol

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead too
        return fh.read().split(")")[-1].split()[0] != "Z"


def _wait(condition, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start(socket_path: Path, command: str = "serve") -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dropout.executor", command, "--socket", str(socket_path), "--no-preload"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(lambda: _accepts(socket_path), what="the executor to accept on its socket")
    return proc


def _accepts(socket_path: Path) -> bool:
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(socket_path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


@pytest.fixture
def server(tmp_path):
    socket_path = tmp_path / "x.sock"
    proc = _start(socket_path)
    yield socket_path
    proc.terminate()
    proc.wait(timeout=30)


def run(socket_path: Path, *argv: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = client.run(socket_path, ["_executor_cmds", *argv], cwd=TESTS, env=env or {}, on_line=lines.append)
    return code, lines


def test_output_streams_in_order_and_the_exit_status_comes_back(server):
    code, lines = run(server, "echo", "a", "b c", env={"DROPOUT_X": "42"})
    assert code == 0
    assert lines[0].startswith("hello from ") and "to stderr" in lines
    result = json.loads(lines[-1])
    assert result == {"args": ["a", "b c"], "cwd": str(TESTS), "x": "42"}
    assert int(lines[0].split()[-1]) != os.getpid()  # its own process
    assert run(server, "exit", "3")[0] == 3


def test_an_exception_in_the_command_fails_it_with_its_traceback(server):
    code, lines = run(server, "fail")
    assert code == 1
    text = "\n".join(lines)
    assert "Traceback (most recent call last)" in text and "ValueError: boom from the node" in text
    assert run(server, "echo")[0] == 0  # the server is unaffected


def test_only_the_product_environment_is_forwarded(server):
    caller = {
        "DROPOUT__MODEL__EPOCHS": "3",
        "AIRFLOW__API_AUTH__JWT_SECRET": "s3cret",
        "MLFLOW_TRACKING_PASSWORD": "p",
    }
    forwarded = protocol.forwarded_env(caller)
    assert forwarded == {"DROPOUT__MODEL__EPOCHS": "3", "MLFLOW_TRACKING_PASSWORD": "p"}
    # Even a client that sends everything: the server forwards only the product's variables.
    code, lines = run(server, "env", env=caller)
    names = json.loads(lines[-1])
    assert code == 0 and "DROPOUT__MODEL__EPOCHS" in names and "AIRFLOW__API_AUTH__JWT_SECRET" not in names


def test_commands_run_side_by_side(server, tmp_path):
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(run(server, "sleep", "1", str(tmp_path / f"p{i}")))
        )
        for i in range(3)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [code for code, _ in results] == [0, 0, 0]
    assert time.monotonic() - started < 2.5  # three 1 s commands, not 3 s in a row


def test_a_client_that_goes_away_takes_its_command_and_workers_down(server, tmp_path):
    import socket

    pids = tmp_path / "pids"
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(server))
    conn.sendall(protocol.encode(protocol.request(["_executor_cmds", "spawn", str(pids)], str(TESTS), {})))
    _wait(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="the command to start")
    node, worker = map(int, pids.read_text().split())
    assert _alive(node) and _alive(worker)
    conn.close()  # the Airflow task was killed
    _wait(lambda: not _alive(node) and not _alive(worker), what="the command and its worker to end")
    assert run(server, "echo")[0] == 0


def test_killing_the_command_reports_the_signal(server, tmp_path):
    pidfile, box = tmp_path / "pid", {}
    thread = threading.Thread(target=lambda: box.update(result=run(server, "sleep", "60", str(pidfile))))
    thread.start()
    _wait(lambda: pidfile.exists() and pidfile.read_text(), what="the command to start")
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    thread.join(timeout=30)
    assert box["result"][0] == -signal.SIGKILL


def test_killing_the_executor_kills_its_commands_and_the_client_knows(tmp_path):
    socket_path, pids = tmp_path / "x.sock", tmp_path / "pids"
    proc = _start(socket_path)
    box = {}

    def call():
        try:
            run(socket_path, "spawn", str(pids))
        except client.Lost as exc:
            box["lost"] = str(exc)

    thread = threading.Thread(target=call)
    thread.start()
    _wait(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="the command to start")
    node, worker = map(int, pids.read_text().split())
    proc.kill()  # kill -9 of the executor itself
    proc.wait()
    thread.join(timeout=30)
    assert "closed the connection before the command ended" in box["lost"]
    _wait(lambda: not _alive(node), what="the orphaned command to die with its executor")
    os.kill(worker, signal.SIGKILL)  # the command's own worker is the command's to stop; not ours to leak
    with pytest.raises(client.Unavailable, match="no warm executor"):
        run(socket_path, "echo")  # the socket file is stale: clients fall back, they do not hang


def test_a_new_server_replaces_a_stale_socket_and_refuses_a_live_one(tmp_path):
    socket_path = tmp_path / "x.sock"
    first = _start(socket_path)
    first.kill()
    first.wait()
    assert socket_path.exists()  # left behind by kill -9
    second = _start(socket_path)
    try:
        assert run(socket_path, "echo")[0] == 0
        third = subprocess.run(
            [sys.executable, "-m", "dropout.executor", "serve", "--socket", str(socket_path), "--no-preload"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert third.returncode != 0 and "already serves" in third.stderr
    finally:
        second.terminate()
        second.wait(timeout=30)


def test_the_supervisor_restarts_a_server_that_died(tmp_path):
    socket_path = tmp_path / "x.sock"
    supervisor = _start(socket_path, "supervise")
    try:
        assert run(socket_path, "echo")[0] == 0
        first_server = _server_pid(supervisor.pid)
        assert first_server is not None
        os.kill(first_server, signal.SIGKILL)
        _wait(lambda: _server_pid(supervisor.pid) not in (None, first_server), what="a new server")
        _wait(lambda: _answers(socket_path), what="the new server to answer")
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=30)
    _wait(lambda: not socket_path.exists(), what="the socket to be removed")


def _server_pid(supervisor: int) -> int | None:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return int(children[0]) if children else None


def _answers(socket_path: Path) -> bool:
    try:
        return run(socket_path, "echo")[0] == 0
    except client.Unavailable:
        return False
