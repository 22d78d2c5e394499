"""The local runtime's own housekeeping: ports it keeps, and an embedded Postgres a killed
run left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from infra.local.services import _forget_dead_handles, free_or_any


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_handles_of_processes_that_died_are_forgotten(tmp_path):
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([dead_pid(), os.getpid()]))

    assert _forget_dead_handles(tmp_path) is True
    assert json.loads(handles.read_text()) == [os.getpid()]
    assert _forget_dead_handles(tmp_path) is False  # nothing left to forget


def test_a_port_in_use_is_not_offered_but_a_free_one_is():
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        busy = server.getsockname()[1]
        assert free_or_any(busy) == 0
    assert free_or_any(busy) == busy
