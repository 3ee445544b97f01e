"""wait_until_listening: how a starting job knows its job server's port accepts connections."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from pipelines.runners import wait_until_listening


@pytest.fixture
def probes(monkeypatch) -> list[tuple[str, int]]:
    """Every address the wait tried to connect to."""
    tried: list[tuple[str, int]] = []
    real = socket.create_connection

    def counted(address, *args, **kwargs):
        tried.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counted)
    return tried


def test_a_listening_port_is_found(probes):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert wait_until_listening(None, f"127.0.0.1:{port}", timeout=30) is True
    assert probes == [("127.0.0.1", port)]


def test_an_exited_process_ends_the_wait_without_a_probe(probes):
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    assert wait_until_listening(exited, "127.0.0.1:9", timeout=3600) is False
    assert probes == []


def test_a_port_that_never_listens_ends_the_wait_at_the_timeout(probes):
    with socket.socket() as reserved:  # bound, never listening: connections are refused
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        assert wait_until_listening(None, f"127.0.0.1:{port}", timeout=0.05) is False
    assert probes and set(probes) == {("127.0.0.1", port)}
