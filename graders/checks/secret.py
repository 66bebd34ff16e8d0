"""The course secret: what staff grading draws its photos, held-out sets and run seeds from.

A student holds the handout (the generators, the public checks, the public seed), so anything
derived from public values is known to the student and can be looked up rather than computed.
Staff grading derives those values from a key the handout never contains: HW5GRADE_SECRET (hex)
or the key file (HW5GRADE_SECRET_FILE, default ~/.config/hw5grade/course.key, outside any
repository). `hw5grade secret` says where the key is and makes it if there is none; the
Gradescope bundle carries it as a file that its run_autograder names in HW5GRADE_SECRET_FILE;
`hw5grade release` refuses to write a handout that holds it.

Which grading is staff grading (the mode):
- `hw5grade grade DIR` with every check (--visibility all, the default and the README's TA
  command), `hw5grade batch` (through grade.run) and the Gradescope bundle's run_autograder:
  graders.pipeline.grade.run calls staff_key(create=True) (the key is made on first staff use) and passes
  `--staff` to pytest. Only that flag reaches the pytest process (and its xdist workers): the
  key itself never appears on a command line or in grade.json's pytest_args; each process reads
  it from the environment or the key file (grading_key in graders/suites/_sandboxes.py).
- A student's local grade (`tox`: --visibility public) passes no --staff and uses no key: the
  public seed, the public photos, and a note saying that staff grading uses other photos and
  seeds (PUBLIC_NOTE).

Under the key: the run seed is a keyed hash of the submission's content (run_seed), and the
synthetic profile's photos, their truth and the grader-only NIST36 split come from seeds
derive(key, ...) (fixtures.cache.staff), cached in a folder named by cache_tag(key), a keyed
hash: never the key or a seed, since a sandbox can read the paths it mounts (/proc/self/mountinfo).

Every process that grades needs the key: xdist workers and local batch workers inherit it (the
same key file or environment); Dask workers on other machines need HW5GRADE_SECRET or the key file
there too. The key protects only what the sandbox hides: where bubblewrap cannot run (some
Gradescope containers), student code runs with the grader's rights and could read the key file as
it could read the truth itself, and the results say the run was unisolated.

Interface (other modules rely on it): staff_key(), derive(key, *parts).
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import tempfile
import zlib
from pathlib import Path

ENV_KEY = "HW5GRADE_SECRET"
ENV_FILE = "HW5GRADE_SECRET_FILE"
KEY_BYTES = 32

PUBLIC_NOTE = ("graded with the public seed and the public photos, as every student's copy of the checks "
               "is; the course staff grade with photos, held-out data and seeds of their own, so a "
               "submission that only reproduces these answers earns nothing there")


class SecretError(Exception):
    """The course key is set but unreadable."""


def key_file() -> Path:
    if os.environ.get(ENV_FILE):
        return Path(os.environ[ENV_FILE]).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "hw5grade" / "course.key"


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SecretError(f"{where} does not hold a course key (hex digits expected)") from None
    if len(key) < 16:
        raise SecretError(f"{where} holds {len(key)} bytes; a course key has at least 16 "
                          f"(`hw5grade secret` makes one of {KEY_BYTES})")
    return key


def staff_key(create: bool = False) -> bytes | None:
    """The course key (32 bytes), None when there is none; create=True makes the key file
    (mode 0600) on first staff use."""
    if os.environ.get(ENV_KEY):
        return _parse(os.environ[ENV_KEY], ENV_KEY)
    path = key_file()
    if path.is_file():
        return _parse(path.read_text(), str(path))
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole under another name, then linked: a parallel first use (batch workers) finds
    # either no key or a complete one, and the first to link wins
    fd, tmp = tempfile.mkstemp(prefix=".course.key.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:          # mkstemp's mode is 0600
            f.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _parse(path.read_text(), str(path))


def derive(key: bytes | None, *parts) -> int:
    """A 63-bit seed from parts: keyed (HMAC-SHA256) under a course key, public without one."""
    message = "\x1f".join(map(str, parts)).encode()
    digest = (hmac.new(key, message, hashlib.sha256).digest() if key
              else hashlib.sha256(b"hw5grade-public\x1f" + message).digest())
    return int.from_bytes(digest[:8], "big") >> 1


def cache_tag(key: bytes) -> str:
    """The name of a key's cached data: a keyed hash, which tells nothing of the key or its seeds."""
    return f"{derive(key, 'cache folder'):016x}"


def fingerprint(key: bytes) -> str:
    """What staff compare to see that two places hold the same key (not the key)."""
    return f"{derive(key, 'fingerprint'):016x}"[:12]


def _sources(python_dir: Path) -> list[Path]:
    return sorted(Path(python_dir).glob("*.py"))


def run_seed(key: bytes | None, python_dir) -> int:
    """The seed of a grading's random inputs, fixed per submission content (grading twice gives the
    same results) and different across submissions. Public (no key): a CRC of the files, which a
    student can compute, and try comments until a weak loop passes; under the key: a keyed hash
    of their SHA-256, which no one without the key can predict."""
    if not key:
        digest = 0
        for path in _sources(python_dir):
            digest = zlib.crc32(path.name.encode() + path.read_bytes(), digest)
        return digest
    content = hashlib.sha256()
    for path in _sources(python_dir):
        data = path.read_bytes()
        content.update(f"{path.name}\x00{len(data)}\x00".encode() + data)
    return derive(key, "run seed", content.hexdigest())


def holders(root, key: bytes) -> list[str]:
    """The files under root that hold the key, as hex (either case) or as raw bytes: what
    `hw5grade release` refuses to ship."""
    marks = (key.hex().encode(), key.hex().upper().encode(), key)
    found = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if any(mark in data for mark in marks):
            found.append(str(path.relative_to(root)))
    return found


# --- `hw5grade secret` ---------------------------------------------------------------------------

def _repository_of(path: Path) -> Path | None:
    """The git work tree holding path, if any (a key there is one `git add -A` from the world)."""
    for folder in Path(path).resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="only say whether there is a key (exit 1 if not); never make one")


def main(args: argparse.Namespace) -> int:
    try:
        key = staff_key(create=not args.check)
    except SecretError as err:
        print(f"hw5grade secret: {err}")
        return 2
    if key is None:
        print(f"no course key: {ENV_KEY} is not set and {key_file()} does not exist "
              "(`hw5grade secret` makes it)")
        return 1
    where = f"the environment variable {ENV_KEY}" if os.environ.get(ENV_KEY) else str(key_file())
    print(f"course key: {where} (fingerprint {fingerprint(key)})")
    repository = None if os.environ.get(ENV_KEY) else _repository_of(key_file())
    if repository:
        print(f"warning: the key file is inside the repository {repository}: move it out "
              f"(set {ENV_FILE}) and make a new key if it was ever committed")
    print("staff grading (hw5grade grade with every check, batch, the Gradescope bundle) draws its photos, "
          "held-out data and seeds from it. Keep it out of the handout and of any repository; "
          "`hw5grade autograder` copies it into the bundle, which stays with the staff.")
    return 0
