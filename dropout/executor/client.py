"""Run a TFX-environment command on this machine's warm executor. Standard library only.

The Airflow tasks call ``run`` (their environment cannot import TFX); when no executor answers on the
socket, ``Unavailable`` tells the caller to start a process of its own instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping

from dropout.executor import protocol


class Unavailable(RuntimeError):
    """No warm executor accepts on the socket (not started, restarting, or a stale socket file)."""


class Lost(RuntimeError):
    """The executor went away before the command's exit status arrived; the command's fate is unknown."""


def run(
    socket_path: str | os.PathLike[str],
    argv: list[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    connect_timeout_s: float = 5.0,
    usage: dict[str, float] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Run ``python -m <argv>`` on the executor; each output line goes to ``on_line``.

    Returns:
        The command's exit status (negative: killed by that signal). ``usage``, when given, receives
        the command's ``cpu_s`` and ``max_rss_mib``; ``on_start`` gets the command's process id.

    Raises:
        Unavailable: nothing accepts on ``socket_path`` (run the command another way).
        Lost: the connection ended before the exit status (the executor died or was restarted).
    """
    path = os.fspath(socket_path)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(connect_timeout_s)
    try:
        conn.connect(path)
    except OSError as exc:
        conn.close()
        raise Unavailable(f"no warm executor at {path} ({type(exc).__name__}: {exc})") from exc
    conn.settimeout(None)  # a node may run for hours
    with conn, conn.makefile("rb") as replies:
        conn.sendall(protocol.encode(protocol.request(argv, os.fspath(cwd), env)))
        while True:
            line = replies.readline(protocol.MAX_FRAME)
            if not line:
                raise Lost(f"the warm executor at {path} closed the connection before the command ended")
            message = protocol.decode(line)
            kind = message.get("type")
            if kind == "log":
                on_line(str(message.get("line", "")))
            elif kind == "started" and on_start is not None:
                on_start(int(message["pid"]))
            elif kind == "exit":
                if usage is not None:
                    usage.update({k: float(message[k]) for k in ("cpu_s", "max_rss_mib") if k in message})
                return int(message["code"])
            elif kind == "error":  # the executor refused the request
                raise Unavailable(
                    f"the warm executor at {path} refused the command: {message.get('message')}"
                )
