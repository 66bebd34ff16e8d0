# Tries to reach the outside world (to fetch answers, or to send the tests somewhere).
import socket


def connect(host, port):
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(b"hello")
    return "connected"


def resolve(name):
    return socket.gethostbyname(name)
