"""Loopback sockets for servers started by tests; kept apart from tests.support so light modules (the
Prometheus helpers, the processes that build scenario TSDBs) need not import the app to get one."""

from __future__ import annotations

import socket


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock
