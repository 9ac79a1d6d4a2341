"""The warm executor: TFX-environment commands forked from a process that has already imported TFX.

A fresh process of the TFX environment spends most of a small node's time importing TensorFlow, TFX,
Beam, TFDV, TFMA and MLflow. This server imports them once (``PRELOAD``), then serves requests on a
Unix socket (``protocol``): for each one it forks a child that runs the module exactly as
``python -m`` would (``runpy``), with the request's working directory, arguments and forwarded
environment, and streams the child's output and exit status back. So each command is still its own
process: a node that crashes or is killed takes nothing else down, and its memory goes back when it
ends. Nothing of the pipeline runs in the server itself, so it holds no ML Metadata connection and no
TensorFlow runtime, which is what makes forking it safe.

- A child runs in its own session (its Beam workers with it); when the client goes away (the
  Airflow task was killed or timed out) the child's whole process group gets SIGTERM, then SIGKILL.
- When the server dies, every child gets SIGKILL (``PR_SET_PDEATHSIG``): no orphaned node keeps
  writing while the Airflow task is retried elsewhere.
- One server per worker machine (the socket is machine-local, ``DROPOUT_TFX_EXECUTOR``); a supervisor
  (``python -m dropout.executor supervise``) restarts it when it dies. Clients fall back to a process
  of their own while it is absent.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import runpy
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropout.executor import protocol

log = logging.getLogger("dropout.executor")

# What a TFX node, a review step, a tracking task or the early-warning job imports: the libraries
# whose import is the fixed cost of a fresh process (see docs/figures.md for the measured split).
PRELOAD: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "tensorflow",
    "tf_keras",
    "apache_beam",
    "tensorflow_data_validation",
    "tensorflow_transform",
    "tensorflow_transform.beam",
    "tensorflow_model_analysis",
    "ml_metadata",
    "tfx.orchestration.portable.launcher",
    "tfx.orchestration.local.runner_utils",
    "tfx.dsl.compiler.compiler",
    "tfx.components",
    "tfx.components.distribution_validator",
    "tfx.components.statistics_gen.executor",
    "tfx.components.example_validator.executor",
    "tfx.components.distribution_validator.executor",
    "tfx.components.transform.executor",
    "tfx.components.trainer.executor",
    "tfx.components.evaluator.executor",
    "tfx.components.pusher.executor",
    "tfx.components.schema_gen.import_schema_gen.executor",
    "sklearn.metrics",
    "mlflow",
    "mlflow.tensorflow",
    "matplotlib",
)
KILL_GRACE_S = 10.0  # SIGTERM, then SIGKILL after this long
_PR_SET_PDEATHSIG = 1


def preload(modules: Sequence[str]) -> dict[str, float]:
    """Import ``modules``; return seconds per module (a module that fails to import is logged, not fatal)."""
    seconds: dict[str, float] = {}
    if not modules:
        return seconds
    import matplotlib

    matplotlib.use("Agg")  # no display, and no backend probing in every child
    for name in modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a missing optional module only makes children slower
            log.warning(
                "preload of %s failed (%s: %s); children import it themselves", name, type(exc).__name__, exc
            )
        seconds[name] = round(time.perf_counter() - started, 3)
    return seconds


@dataclass
class _Command:
    """One client connection and the child running its command."""

    id: int
    conn: socket.socket
    request: bytearray = field(default_factory=bytearray)
    out: bytearray = field(default_factory=bytearray)  # frames not yet sent to the client
    pid: int = 0
    pipe: int = -1  # read end of the child's stdout + stderr
    partial: bytes = b""  # an output line not yet ended
    status: int | None = None  # exit status once reaped
    usage: dict[str, float] = field(default_factory=dict)  # the child's CPU seconds and peak RSS
    client_gone: bool = False
    close_when_sent: bool = False
    kill_at: float | None = None  # SIGKILL deadline after a SIGTERM

    def frame(self, message: Mapping[str, Any]) -> None:
        """Queue a frame for the client (dropped once the client is gone)."""
        if not self.client_gone:
            self.out += protocol.encode(message)


class Server:
    """Serve requests on ``socket_path`` until SIGTERM or SIGINT (``serve_forever``)."""

    def __init__(self, socket_path: str | os.PathLike[str], *, max_children: int = 16) -> None:
        self.socket_path = Path(socket_path)
        self.max_children = max_children
        self._selector = selectors.DefaultSelector()
        self._commands: dict[int, _Command] = {}  # by command id
        self._next_id = 0
        self._stopping = False
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()

    # --- lifecycle -------------------------------------------------------------------------------

    def bind(self) -> None:
        """Listen on the socket (owner-only), replacing a stale socket file a dead server left."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists() or self.socket_path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                self.socket_path.unlink()  # nobody answers: a dead server's leftover
            else:
                probe.close()
                raise RuntimeError(f"another warm executor already serves {self.socket_path}")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(self.socket_path))
        finally:
            os.umask(old_umask)
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "accept")

    def serve_forever(self) -> None:
        if self._listener is None:
            self.bind()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno())
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        log.info("warm executor serving on %s (pid %d)", self.socket_path, os.getpid())
        try:
            while not self._stopping or self._commands:
                for key, events in self._selector.select(timeout=1.0):
                    self._dispatch(key, events)
                self._reap()
                self._enforce_kills()
                if self._stopping:
                    self._stop_children()
        finally:
            self._close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT) and not self._stopping:
            self._stopping = True
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None

    def _close(self) -> None:
        for command in list(self._commands.values()):
            self._finish(command)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        signal.set_wakeup_fd(-1)
        log.info("warm executor stopped")

    # --- events ----------------------------------------------------------------------------------

    def _dispatch(self, key: selectors.SelectorKey, events: int) -> None:
        tag = key.data
        if tag == "accept":
            self._accept()
        elif tag == "wake":
            try:
                while self._wake_r.recv(4096):
                    pass
            except BlockingIOError:
                pass
        elif isinstance(tag, tuple) and tag[0] == "client":
            command = self._commands.get(tag[1])
            if command is not None:
                if events & selectors.EVENT_READ:
                    self._client_readable(command)
                if events & selectors.EVENT_WRITE and not command.client_gone:
                    self._flush(command)
        elif isinstance(tag, tuple) and tag[0] == "pipe":
            command = self._commands.get(tag[1])
            if command is not None:
                self._pipe_readable(command)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._next_id += 1
        command = _Command(self._next_id, conn)
        self._commands[command.id] = command
        self._selector.register(conn, selectors.EVENT_READ, ("client", command.id))

    def _client_readable(self, command: _Command) -> None:
        try:
            data = command.conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop_client(command)
            if command.pid and command.status is None:
                log.warning("client of pid %d went away; stopping its command", command.pid)
                self._signal(command, signal.SIGTERM)
                command.kill_at = time.monotonic() + KILL_GRACE_S
            elif command.pid == 0 or command.status is not None and command.pipe < 0:
                self._finish(command)
            return
        if command.pid:
            return  # nothing more is expected from a client once its command runs
        command.request += data
        if len(command.request) > protocol.MAX_FRAME:
            command.frame({"type": "error", "message": "request too long"})
            self._finish_when_sent(command)
        elif b"\n" in command.request:
            line = bytes(command.request.split(b"\n", 1)[0])
            try:
                request = protocol.decode(line)
                argv, cwd, env = request["argv"], request["cwd"], request.get("env") or {}
                protocol.request(argv, cwd, env)  # validates
            except (ValueError, KeyError, TypeError) as exc:
                command.frame({"type": "error", "message": f"bad request: {exc}"})
                self._finish_when_sent(command)
                return
            if sum(1 for c in self._commands.values() if c.pid and c.status is None) >= self.max_children:
                command.frame({"type": "error", "message": f"{self.max_children} commands already running"})
                self._finish_when_sent(command)
                return
            self._start(command, argv, cwd, protocol.forwarded_env(env))

    def _drop_client(self, command: _Command) -> None:
        """The client is gone: stop watching its socket (its command may still be running)."""
        command.client_gone = True
        command.out.clear()
        try:
            self._selector.unregister(command.conn)
        except (KeyError, ValueError):
            pass
        command.conn.close()

    def _pipe_readable(self, command: _Command) -> None:
        try:
            data = os.read(command.pipe, 65536)
        except BlockingIOError:
            return
        if not data:
            self._selector.unregister(command.pipe)
            os.close(command.pipe)
            command.pipe = -1
            if command.partial:
                command.frame({"type": "log", "line": command.partial.decode("utf-8", "replace")})
                command.partial = b""
            self._maybe_done(command)
            return
        lines = (command.partial + data).split(b"\n")
        command.partial = lines.pop()
        if len(command.partial) > protocol.MAX_FRAME // 2:  # a line without end: pass it on in pieces
            lines.append(command.partial)
            command.partial = b""
        for line in lines:
            command.frame({"type": "log", "line": line.decode("utf-8", "replace").rstrip("\r")})
        self._flush(command)

    def _flush(self, command: _Command) -> None:
        if not command.client_gone and command.out:
            try:
                sent = command.conn.send(command.out)
                del command.out[:sent]
            except BlockingIOError:
                pass
            except OSError:
                self._drop_client(command)
        if not command.client_gone:
            wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if command.out else 0)
            self._selector.modify(command.conn, wanted, ("client", command.id))
        if command.close_when_sent and (command.client_gone or not command.out):
            self._finish(command)

    def _finish_when_sent(self, command: _Command) -> None:
        command.close_when_sent = True
        self._flush(command)

    # --- children --------------------------------------------------------------------------------

    def _start(self, command: _Command, argv: list[str], cwd: str, env: dict[str, str]) -> None:
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            self._run_child(write_end, argv, cwd, env)
        os.close(write_end)
        os.set_blocking(read_end, False)
        command.pid, command.pipe = pid, read_end
        self._selector.register(read_end, selectors.EVENT_READ, ("pipe", command.id))
        log.info("pid %d: python -m %s (env: %s)", pid, " ".join(argv), ", ".join(sorted(env)) or "none")
        command.frame({"type": "started", "pid": pid})
        self._flush(command)

    def _run_child(self, output: int, argv: list[str], cwd: str, env: dict[str, str]) -> None:
        code = 1
        try:
            os.setsid()  # its own process group: the command's Beam workers go with it
            try:
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            except (OSError, AttributeError):
                pass  # not Linux: a dead server leaves its children running
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            for fd in self._fds():
                try:
                    os.close(fd)
                except OSError:
                    pass
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.close(output)
            sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
            logging.root.handlers.clear()  # the command configures its own logging, as in a new process
            logging.root.setLevel(logging.WARNING)
            if "numpy" in sys.modules:  # a forked copy of the parent's global RNG state would repeat
                sys.modules["numpy"].random.seed()
            os.chdir(cwd)
            os.environ.update(env)
            sys.path.insert(0, cwd)
            sys.argv = [argv[0], *argv[1:]]
            try:
                runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - the traceback goes to the task log, the status to the client
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _fds(self) -> list[int]:
        """Descriptors of the server that a child must not keep (sockets, other children's pipes)."""
        fds = [self._wake_r.fileno(), self._wake_w.fileno()]
        if self._listener is not None:
            fds.append(self._listener.fileno())
        for command in self._commands.values():
            if not command.client_gone:
                fds.append(command.conn.fileno())
            if command.pipe >= 0:
                fds.append(command.pipe)
        with_selector = getattr(self._selector, "fileno", None)
        if with_selector is not None:
            fds.append(with_selector())
        return [fd for fd in fds if fd >= 0]

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for command in list(self._commands.values()):
                if command.pid == pid:
                    command.status = os.waitstatus_to_exitcode(status)
                    command.usage = {
                        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
                    }
                    self._signal(command, signal.SIGKILL)  # whatever it left behind in its group
                    self._maybe_done(command)
                    break

    def _maybe_done(self, command: _Command) -> None:
        if command.status is None or command.pipe >= 0:
            return
        log.info("pid %d exited with %d (%s)", command.pid, command.status, command.usage)
        command.frame({"type": "exit", "code": command.status, **command.usage})
        self._finish_when_sent(command)

    def _signal(self, command: _Command, signum: int) -> None:
        try:
            os.killpg(command.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _enforce_kills(self) -> None:
        now = time.monotonic()
        for command in list(self._commands.values()):
            if command.kill_at is not None and command.status is None and now >= command.kill_at:
                self._signal(command, signal.SIGKILL)
                command.kill_at = None

    def _stop_children(self) -> None:
        for command in self._commands.values():
            if command.pid and command.status is None and command.kill_at is None:
                self._signal(command, signal.SIGTERM)
                command.kill_at = time.monotonic() + KILL_GRACE_S

    def _finish(self, command: _Command) -> None:
        if command.pipe >= 0:
            self._selector.unregister(command.pipe)
            os.close(command.pipe)
            command.pipe = -1
        if not command.client_gone:
            self._drop_client(command)
        self._commands.pop(command.id, None)
