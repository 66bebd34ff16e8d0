"""The course secret: what staff grading draws its photos, held-out sets and run seeds from.

A student holds the handout (the generators, the public checks, the public seed), so anything
derived from public values is known to the student and can be looked up rather than computed.
Staff grading (hw5grade grade with every check, batch, the Gradescope bundle) derives those
values from a key the handout never contains: HW5GRADE_SECRET (hex) or the key file
(HW5GRADE_SECRET_FILE, default ~/.config/hw5grade/course.key, outside any repository).
A student's local grade (public checks) has no key and uses the public seed.

Interface (other modules rely on it): staff_key(), derive(key, *parts).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV_KEY = "HW5GRADE_SECRET"
ENV_FILE = "HW5GRADE_SECRET_FILE"


def key_file() -> Path:
    if os.environ.get(ENV_FILE):
        return Path(os.environ[ENV_FILE]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "hw5grade" / "course.key"


def staff_key(create: bool = False) -> bytes | None:
    """The course key (32 bytes), None when there is none; create=True makes the key file
    (mode 0600) on first staff use."""
    if os.environ.get(ENV_KEY):
        return bytes.fromhex(os.environ[ENV_KEY].strip())
    path = key_file()
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def derive(key: bytes | None, *parts) -> int:
    """A 63-bit seed from parts: keyed (HMAC-SHA256) under a course key, public without one."""
    message = "\x1f".join(map(str, parts)).encode()
    digest = (hmac.new(key, message, hashlib.sha256).digest() if key
              else hashlib.sha256(b"hw5grade-public\x1f" + message).digest())
    return int.from_bytes(digest[:8], "big") >> 1
