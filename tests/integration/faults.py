"""Fault injection for the drills in test_fault_suite.py: a TCP proxy that refuses and cuts
connections on cue (Postgres going away under a running notifier), and the functions run
as worker processes that can be killed with -9, as a Lambda host can die."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class TcpProxy:
    """Forwards a loopback port to ``target``; ``refuse()`` cuts every connection and refuses
    new ones (a server that went away), ``accept()`` takes them again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> int:
        self.accept()
        return self.port

    def accept(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:  # shutdown wakes the accepting thread; close alone does not
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    stop = refuse

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # refused: the listener was closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Worker:
    """``python -m infra.local.worker FUNCTION`` with ``env``: a function's pollers."""

    def __init__(self, function: str, env: dict[str, str], log: Path) -> None:
        self.function, self.env, self.log = function, env, log
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30) -> Worker:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.local.worker", self.function],
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.stdout.readline().strip() == "ready":
                return self
            if self.process.poll() is not None:
                break
        raise AssertionError(f"{self.function} did not start:\n{self.log.read_text()[-3000:]}")

    def freeze(self) -> None:
        """Stop it where it is (SIGSTOP), so what it was doing is what a kill interrupts."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """kill -9: no clean-up, no finally blocks, no goodbye to SQS or Postgres."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def running(function: str, env: dict[str, str], log: Path) -> Iterator[Worker]:
    worker = Worker(function, env, log).start()
    try:
        yield worker
    finally:
        worker.stop()
