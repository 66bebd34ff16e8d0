"""A folder of downloaded submissions -> one gradable folder (holding python/) per submission.

`discover(root)` lists the entries of the download folder: a folder, a `.zip` or a Jupyter
notebook (`.ipynb`) is one submission; anything else is kind "unknown" so the batch can report
it. `prepare(submission, dest_dir)` writes `dest_dir/<name>/python/` with the submission's .py
files (plain copies, never links) and returns notes for the TA; what cannot be graded raises
`IngestError` with a message written for the student.

Where the files are: the folder of the submission (or of the zip) that holds the most
deliverables: its top, `python/`, or the same under one wrapping folder (`alice/python/nn.py`).
Scripts and notebooks of other folders that hold the PyTorch part (hw5/pytorch/, hw5/q6.ipynb) are
taken along, names are read as the handout spells them (NN.PY is nn.py), and the handout's modules
the .py files lack come from the notebooks beside them. With no .py deliverable anywhere, its
notebooks are converted (see `notebook_modules`). `discover` groups a Canvas download's files by
student and leaves a write-up beside the code out.

Archives are untrusted. Limits (the module constants below), and why:
- MAX_UNPACKED_BYTES 200 MB: a submission is a few hundred KB of code; even one that bundles
  the course data (~130 MB of .mat) fits, while a zip bomb does not. Checked on the declared
  sizes first, and again on the bytes actually written, because headers can lie.
- MAX_ENTRIES 10,000: a python/ folder has about ten files; a virtualenv zipped by mistake has
  thousands, a name-table bomb millions.
- MAX_RATIO 100 for entries above 1 MB: code and NumPy data compress 2-10x; zeros compress
  about 1000x under deflate, which is what bombs use.
- Files copied: every .py up to 2 MB; .pickle/.pkl/.npy/.npz/.mat up to 5 MB (the Q3 weights
  are ~0.5 MB); larger data is left out with a note (the grader provides the data).
Refused outright: absolute or `..` paths, links and device/FIFO entries, encrypted entries,
corrupt or truncated archives. One zip inside a submission with no nn.py outside it (a
write-up and code.zip zipped together) is unpacked, once, under the same limits; others are
not. In a folder submission, links
and special files are skipped with a note (only regular files are read).

Why one file this long: every submission format (folder, zip, notebook) ends in the same safety
rules (sizes, links, names, plain copies); keeping them beside each other keeps one rule for all.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import shutil
import stat
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterable

from graders.checks import static

MAX_UNPACKED_BYTES = 200 * 2**20
MAX_ENTRIES = 10_000
MAX_RATIO = 100
RATIO_MIN_BYTES = 2**20
MAX_SOURCE_BYTES = 2 * 2**20
MAX_DATA_BYTES = 5 * 2**20
MAX_NOTEBOOK_BYTES = 100 * 2**20

DELIVERABLES = static.NUMPY_PART          # the handout's files, util.py (given) among them


# a question's number in a file or function name: run_q611, q6_1_2, run_q6.1.1, 7.1.5_skip
_NUMBER = r"(\d(?:[._-]?\d){0,2})(?!\d)"
_NAME_Q = re.compile(r"(?:^|[^a-z])(?:q|question|part|problem)[_-]?" + _NUMBER)
_NAME_LEADING = re.compile(r"^" + _NUMBER)


def number_in_name(name: str) -> tuple:
    """The question number a file or function name states: run_q611 -> (6, 1, 1)."""
    stem = name.lower()
    for suffix in (".py", ".ipynb", ".txt"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
    m = _NAME_Q.search(stem) or _NAME_LEADING.match(stem)
    return tuple(int(c) for c in m.group(1) if c.isdigit()) if m else ()


def is_deliverable(name: str) -> bool:
    """The PyTorch part's scripts have no fixed names (run_q6_1_1.py, q711.py, run_q6.1.1.py,
    7.1.5_skip.py): a script named for a question, as number_in_name reads names, marks a
    submission's folder as much as nn.py does."""
    return name in DELIVERABLES or (name.lower().endswith(".py") and bool(number_in_name(name)))


DATA_SUFFIXES = {".pickle", ".pkl", ".npy", ".npz", ".mat"}
# Noise that archivers and editors add; never part of a submission.
IGNORED_DIRS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git", ".idea", ".vscode"}
NN_FUNCTIONS, Q4_FUNCTIONS = static.NN_FUNCTIONS, static.Q4_FUNCTIONS
KINDS = ("folder", "zip", "notebook", "unknown")
SKIPPED = (": links are refused and only regular files are read (a link may point at another "
           "student's files or at a device)")
OTHER_ARCHIVES = (".tar", ".gz", ".tgz", ".bz2", ".xz", ".rar", ".7z")


class IngestError(Exception):
    """A submission that cannot be graded; str() is the message for the student."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Submission:
    name: str
    path: Path
    kind: str                   # KINDS, or "files": several files of one student (parts)
    # kind "files": (path, the student's own file name) of each
    parts: tuple = ()
    notes: tuple = ()           # for the TA: what discover left out of this student's entries
    canvas: dict | None = None  # {"user_id", "late"} read from a Canvas download's file names


@dataclass
class Prepared:
    folder: Path
    notes: list[str] = field(default_factory=list)


# -- discover ---------------------------------------------------------------------------------
def _ignored(name: str) -> bool:
    return name in IGNORED_DIRS or name.startswith(".")


def safe_name(stem: str) -> str:
    """A folder name made of letters, digits, '.', '_' and '-' (never hidden, never empty)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100] or "submission"


def _kind(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return "unknown"     # prepare explains why a link is not followed
    if entry.is_dir(follow_symlinks=False):
        return "folder"
    if entry.is_file(follow_symlinks=False):
        suffix = Path(entry.name).suffix.lower()
        return {".zip": "zip", ".ipynb": "notebook"}.get(suffix, "unknown")
    return "unknown"


def submission_at(path) -> Submission:
    """One submission given by its path (`hw5grade grade PATH`): a folder, a .zip or a notebook,
    judged without following a link (prepare refuses one with a message)."""
    path = Path(path)
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        kind = "folder"
    elif stat.S_ISREG(st.st_mode):
        kind = {".zip": "zip", ".ipynb": "notebook"}.get(path.suffix.lower(), "unknown")
    else:
        kind = "unknown"
    name = path.name if kind == "folder" else path.stem
    return Submission(safe_name(name), path, kind)


# Canvas's bulk download names every file <sortable name>_[LATE_]<user id>_<file id>_<file name>
# (the roster's ID is the user id); a second file of the same name gets "-1", "-2" before its suffix
_CANVAS = re.compile(r"^(?P<who>[a-z0-9-]+?)_(?P<late>late_)?(?P<user>\d+)_(?P<file>\d+)_(?P<name>.+)$", re.I)
_CANVAS_COPY = re.compile(r"^(?P<base>.+)-(?P<n>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")
# what a student hands in beside the code (the 2019 handout asks for <andrewid>.pdf beside
# <andrewid>.zip): never a submission of its own when the same student's code is there
DOCUMENT_SUFFIXES = {".pdf", ".doc", ".docx", ".odt", ".rtf", ".txt", ".md", ".tex", ".pages",
                     ".png", ".jpg", ".jpeg", ".gif", ".heic"}
CODE_KINDS = ("folder", "zip", "notebook")


@dataclass(frozen=True)
class _Found:
    path: Path
    kind: str
    own: str            # the student's file name (Canvas's prefix removed)
    late: bool
    file_id: int = 0    # Canvas's: a later upload has a larger one


def _own_name(name: str) -> tuple[str, int]:
    """(the file name with Canvas's copy number removed, that number): nn-1.py -> (nn.py, 1)."""
    m = _CANVAS_COPY.match(name)
    return (m["base"] + m["suffix"], int(m["n"])) if m else (name, 0)


# what a Gradescope export holds beside its submission_<id>/ folders: its index, no student's work
EXPORT_FILES = {"submission_metadata.yml", "submission_metadata.json"}


def discover(root, skip: Iterable[Path] = ()) -> list[Submission]:
    """The submissions in root, sorted by name; hidden and system entries skipped.

    A folder, a .zip or a notebook is one submission. Files named by Canvas's bulk download are
    grouped by student (user id): several files (nn.py, q4.py, ... uploaded one by one, or a zip
    and a notebook) make one submission of kind "files". A write-up or any other file beside the
    same student's code (asmith.pdf beside asmith.zip) is left out with a note, never graded as a
    submission of its own. A Gradescope export's index and the folders in `skip` are passed over."""
    root = Path(root)
    if not root.is_dir():
        raise IngestError(f"{root} is not a folder of submissions")
    skip = {os.path.realpath(p) for p in skip}     # the batch's own output folder, when it lies here
    groups: dict[tuple, list[_Found]] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _ignored(entry.name) or entry.name in EXPORT_FILES or os.path.realpath(entry.path) in skip:
            continue
        try:
            kind = _kind(entry)
        except OSError:
            kind = "unknown"
        match = _CANVAS.match(entry.name) if kind != "folder" else None
        stem = entry.name if kind == "folder" else Path(entry.name).stem
        key = ("canvas", match["who"].lower(), match["user"]) if match else ("stem", safe_name(stem).lower())
        groups.setdefault(key, []).append(_Found(Path(entry.path), kind, match["name"] if match else entry.name,
                                                 bool(match and match["late"]), int(match["file"]) if match else 0))
    found, taken = [], set()

    def add(base: str, path: Path, kind: str, **more) -> None:
        name, n = safe_name(base), 1
        while name.lower() in taken:    # lower(): two names must not collide on macOS/Windows
            n += 1
            name = f"{safe_name(base)}-{n}"
        taken.add(name.lower())
        found.append(Submission(name, path, kind, **more))

    for key, members in groups.items():
        code = [m for m in members if m.kind in CODE_KINDS]
        loose = [m for m in members if m.kind == "unknown" and m.own.lower().endswith(".py")
                 and not m.path.is_symlink() and key[0] == "canvas"]
        left = [m for m in members if m not in code and m not in loose] if code or loose else []
        notes = (f"not graded (a write-up or another file beside the code): "
                 f"{_listing(m.path.name for m in left)}",) if left else ()
        if key[0] == "stem":
            for m in members:
                if m not in left:
                    add(m.path.name if m.kind == "folder" else m.path.stem, m.path, m.kind, notes=notes)
            continue
        canvas = {"user_id": key[2], "late": any(m.late for m in members)}
        # of two uploads of one name (hw5.zip, hw5-1.zip) the newer is the submission
        newest = {}
        for m in sorted(code + loose, key=lambda m: (_own_name(m.own)[1], m.file_id)):
            newest[_own_name(m.own)[0].lower()] = m
        older = [m for m in code + loose if m not in newest.values()]
        code, loose = [m for m in code if m not in older], [m for m in loose if m not in older]
        if older:
            notes += (f"older uploads of the same file, not graded: {_listing(m.path.name for m in older)}",)
        notes += ("Canvas marked this submission late",) if canvas["late"] else ()
        base = f"{key[1]}_{key[2]}"
        if len(code) == 1 and not loose:
            add(base, code[0].path, code[0].kind, notes=notes, canvas=canvas)
        elif code or loose:
            # the newest copy of a name last: it overwrites the older one when the files are laid out
            parts = tuple((m.path, m.own) for m in code + loose)
            add(base, Path(root), "files", parts=parts, notes=notes, canvas=canvas)
        else:
            add(base, members[0].path, members[0].kind, notes=notes, canvas=canvas)
    return sorted(found, key=lambda s: s.name)


# -- the files of a submission, from a folder or a zip -------------------------------------------
@dataclass
class _Entry:
    path: PurePosixPath          # relative to the submission's top, normalised
    size: int                    # declared (zip) or seen (folder) size
    open: Callable[[], BinaryIO]


def _human(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB" if n >= 2**10 else f"{n} bytes"


def _skip_path(path: PurePosixPath) -> bool:
    return any(_ignored(part) for part in path.parts)


def folder_entries(top: Path, label: str, notes: list[str]) -> list[_Entry]:
    """Regular files under top; links and special files are skipped with a note, never opened."""
    entries, skipped, seen = [], [], 0
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        rel_dir = PurePosixPath(Path(dirpath).relative_to(top).as_posix())
        keep = []
        for d in dirnames:
            if _ignored(d):
                continue
            if os.path.islink(os.path.join(dirpath, d)):
                skipped.append(f"{rel_dir / d} (a link)")
            else:
                keep.append(d)
        dirnames[:] = sorted(keep)
        for name in sorted(filenames):
            seen += 1
            if seen > MAX_ENTRIES:
                raise IngestError(f"{label} holds more than {MAX_ENTRIES} files; submit only the "
                                  "python/ folder")
            rel = rel_dir / name
            if _skip_path(rel):
                continue
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                skipped.append(f"{rel} (a link)")
            elif not stat.S_ISREG(st.st_mode):
                skipped.append(f"{rel} (not a regular file)")
            else:
                entries.append(_Entry(PurePosixPath(rel), st.st_size,
                                      lambda full=full: open(full, "rb")))
    if skipped:
        notes.append(f"{label}: skipped {', '.join(skipped[:5])}"
                     f"{' and more' if len(skipped) > 5 else ''}{SKIPPED}")
    return entries


def _zip_path(info: zipfile.ZipInfo, label: str) -> PurePosixPath:
    raw = info.orig_filename if hasattr(info, "orig_filename") else info.filename
    name = raw.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        raise IngestError(f"{label} holds an entry with an absolute path ({raw!r}); zip the files "
                          "with paths relative to your folder")
    if ".." in parts:
        raise IngestError(f"{label} holds an entry that points outside the archive's folder "
                          f"({raw!r}); zip the files with plain relative paths")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def zip_entries(zf: zipfile.ZipFile, label: str) -> list[_Entry]:
    """The files of a zip, after refusing whatever is unsafe in the whole archive."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise IngestError(f"{label} holds {len(infos)} entries, more than the {MAX_ENTRIES} "
                          "allowed; submit only the python/ folder")
    total, entries = 0, []
    for info in infos:
        path = _zip_path(info, label)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise IngestError(f"{label} holds a symbolic link ({info.filename}); links are not "
                              "accepted: zip the files themselves (zip without -y)")
        if mode and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise IngestError(f"{label} holds {info.filename}, which is not a regular file "
                              "(a device, pipe or socket); zip only your files")
        if info.flag_bits & 0x1:
            raise IngestError(f"{label} is encrypted ({info.filename} needs a password); submit "
                              "an archive without a password")
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise IngestError(f"{label} would unpack to more than {_human(MAX_UNPACKED_BYTES)}; "
                              "submit only your code (the grader provides the data)")
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise IngestError(f"{label} compresses {info.filename} {info.file_size // max(info.compress_size, 1)}"
                              " to 1, which is what zip bombs do; it was not unpacked")
        if info.is_dir() or _skip_path(path):
            continue
        entries.append(_Entry(path, info.file_size, lambda info=info: zf.open(info)))
    return entries


# -- choosing and copying the files -----------------------------------------------------------
class _Writer:
    """Writes the python/ folder, counting the bytes really written (headers can lie)."""

    def __init__(self, python_dir: Path, label: str):
        self.root = python_dir
        self.label = label
        self.written = 0

    def target(self, rel: PurePosixPath) -> Path:
        path = self.root.joinpath(*rel.parts)
        if self.root.resolve() not in path.resolve().parents:    # defence in depth
            raise IngestError(f"{self.label}: {rel} would be written outside the submission")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def copy(self, entry: _Entry, rel: PurePosixPath, limit: int) -> None:
        with entry.open() as src, open(self.target(rel), "wb") as dst:
            size = 0
            while chunk := src.read(1 << 16):
                size += len(chunk)
                self.written += len(chunk)
                if size > limit or self.written > MAX_UNPACKED_BYTES:
                    raise IngestError(f"{self.label}: {entry.path} unpacks to more bytes than its "
                                      "header declares or than the limit allows; it was refused")
                dst.write(chunk)

    def write_text(self, name: str, text: str) -> None:
        self.target(PurePosixPath(name)).write_text(text, encoding="utf-8")


def _code_root(entries: list[_Entry]) -> PurePosixPath | None:
    """The folder holding the most deliverables (on a tie, one named python/, as the handout's
    is, else the shallowest: the handout's stubs kept beside the work in python/), or None."""
    counts: dict[PurePosixPath, int] = {}
    for e in entries:
        if is_deliverable(e.path.name):
            counts[e.path.parent] = counts.get(e.path.parent, 0) + (e.path.name != "util.py")
    counts = {d: n for d, n in counts.items() if n}      # util.py alone is the handout's copy
    if not counts:
        return None
    return max(counts, key=lambda d: (counts[d], d.name.lower() == "python", -len(d.parts)))


def _named_for_a_question(name: str) -> bool:
    return bool(number_in_name(name))


def _listing(paths: Iterable, limit=5) -> str:
    paths = [str(p) for p in paths]
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def copy_code(entries: list[_Entry], root: PurePosixPath, writer: _Writer, notes: list[str]) -> None:
    where = "the top" if root == PurePosixPath(".") else f"{root}/"
    notes.append(f"{writer.label}: files taken from {where}")
    big, outside, nested, other = [], [], [], 0
    for e in entries:
        suffix = e.path.suffix.lower()
        if suffix == ".zip":
            nested.append(e.path)
            continue
        if root != PurePosixPath(".") and root not in e.path.parents:
            outside += [e] if suffix in (".py", ".ipynb") else []
            continue
        rel = e.path.relative_to(root)
        limit = MAX_SOURCE_BYTES if suffix == ".py" else MAX_DATA_BYTES if suffix in DATA_SUFFIXES else None
        # the PyTorch part may be a notebook or a run_q613 without its .py (graders.pipeline.discovery reads them)
        if suffix == ".ipynb":
            limit = MAX_NOTEBOOK_BYTES
        elif not suffix and _named_for_a_question(e.path.name):
            limit = MAX_SOURCE_BYTES
        if limit is None:
            other += 1
        elif e.size > limit:
            big.append(f"{rel} ({_human(e.size)})")
        else:
            writer.copy(e, rel, limit)
    if big:
        notes.append(f"{writer.label}: left out {_listing(big)}: larger than the limit for a "
                     "submitted file (the grader provides the data)")
    outside = _taken_along(outside, entries, root, writer, notes)
    if outside:
        notes.append(f"{writer.label}: ignored .py files outside {where}: {_listing(outside)}")
    if nested:
        notes.append(f"{writer.label}: nested archives are not unpacked: {_listing(nested)}")
    if other:
        notes.append(f"{writer.label}: {other} other files (write-up, images, ...) not copied")


def _taken_along(outside: list[_Entry], entries: list[_Entry], root: PurePosixPath, writer: _Writer,
                 notes: list[str]) -> list[PurePosixPath]:
    """Copies beside the chosen files the scripts and notebooks of other folders that hold one
    named for a question or a notebook (hw5/pytorch/run_q6_1_1.py with its models.py, hw5/q6.ipynb
    beside hw5/python/: the PyTorch part is often kept apart), unless the chosen folder has a file
    of that name; returns the paths left out."""
    present = {e.path.relative_to(root).as_posix() for e in entries if root in e.path.parents}
    folders = {e.path.parent for e in outside if e.path.suffix.lower() == ".ipynb"
               or (is_deliverable(e.path.name) and e.path.name not in DELIVERABLES)}
    taken, left = [], []
    for e in sorted(outside, key=lambda e: (len(e.path.parts), str(e.path))):
        limit = MAX_NOTEBOOK_BYTES if e.path.suffix.lower() == ".ipynb" else MAX_SOURCE_BYTES
        if e.path.parent not in folders or e.path.name in present or e.size > limit:
            left.append(e.path)
            continue
        writer.copy(e, PurePosixPath(e.path.name), limit)
        present.add(e.path.name)
        taken.append(e.path)
    if taken:
        notes.append(f"{writer.label}: also taken, from beside the chosen folder: {_listing(taken)}")
    return left


def _read_limited(entry: _Entry, limit: int, label: str) -> bytes:
    with entry.open() as src:
        data = src.read(limit + 1)
    if len(data) > limit:
        raise IngestError(f"{label}: {entry.path} is larger than {_human(limit)}")
    return data


def _handout_spelling(entries: list[_Entry], writer: _Writer, notes: list[str]) -> list[_Entry]:
    """The entries with the handout's spelling of their names: NN.PY -> nn.py, run_q6_1_1.PY ->
    run_q6_1_1.py (Windows and macOS disks ignore case, so a student never sees the difference)."""
    canonical = {name.lower(): name for name in DELIVERABLES}
    renamed, out = [], []
    for e in entries:
        name = e.path.name
        fixed = canonical.get(name.lower()) or (name[:-3] + ".py" if name.lower().endswith(".py") else
                                               name[:-6] + ".ipynb" if name.lower().endswith(".ipynb") else name)
        if fixed != name:
            renamed.append(f"{e.path} -> {fixed}")
            e = _Entry(e.path.with_name(fixed), e.size, e.open)
        out.append(e)
    if renamed:
        notes.append(f"{writer.label}: file names read as the handout spells them: {_listing(renamed)}")
    return out


def _notebooks_for_missing(entries: list[_Entry], root: PurePosixPath, writer: _Writer, notes: list[str]) -> None:
    """The handout's modules that the copied .py files lack, from the submission's notebooks (a
    notebook for the NumPy part beside the PyTorch scripts); nothing that exists is replaced."""
    missing = [n for n in static.STUDENT_FILES if not (writer.root / n).exists()]
    notebooks = [e for e in entries if e.path.suffix.lower() == ".ipynb"
                 and (root == PurePosixPath(".") or root in e.path.parents or e.path.parent in root.parents)]
    if not missing or not notebooks:
        return
    for e in sorted(notebooks, key=lambda e: str(e.path)):
        if e.size > MAX_NOTEBOOK_BYTES:
            continue
        try:
            cells, read_notes = read_notebook(_read_limited(e, MAX_NOTEBOOK_BYTES, writer.label), f"{e.path}")
        except IngestError as err:
            notes.append(f"{writer.label}: {e.path} not read: {err.message}")
            continue
        modules, _ = notebook_modules(cells)
        wanted = {name: text for name, text in modules.items() if name in missing
                  and len(text.encode()) <= MAX_SOURCE_BYTES}
        for name, text in wanted.items():
            writer.write_text(name, text)
            missing.remove(name)
        if wanted:
            notes += read_notes
            notes.append(f"{writer.label}: {', '.join(sorted(wanted))} taken from the notebook {e.path}")


def _unpacked(nested: _Entry, writer: _Writer, notes: list[str]) -> list[_Entry]:
    """The files of a zip inside the submission, under a folder of the zip's name: read into
    memory within what the submission may still unpack, then refused as any zip would be."""
    label = f"{writer.label}: {nested.path}"
    data = _read_limited(nested, max(MAX_UNPACKED_BYTES - writer.written, 0), writer.label)
    with _zip_errors(label):
        inner = zip_entries(zipfile.ZipFile(io.BytesIO(data)), label)
    notes.append(f"{writer.label}: the code came from the archive inside it, {nested.path}")
    folder = nested.path.with_suffix("")
    return [_Entry(folder / e.path, e.size, e.open) for e in inner]


def ingest_entries(entries: list[_Entry], writer: _Writer, notes: list[str], unpack: bool = True) -> None:
    entries = _handout_spelling(entries, writer, notes)
    nested = [e for e in entries if e.path.suffix.lower() == ".zip"]
    # one archive inside (a write-up and code.zip zipped together, code.zip beside a PyTorch
    # script) holds the code when nothing outside it has nn.py: it is unpacked, once
    if unpack and len(nested) == 1 and not any(e.path.name == "nn.py" for e in entries):
        inner = _unpacked(nested[0], writer, notes)
        return ingest_entries([e for e in entries if e is not nested[0]] + inner, writer, notes, unpack=False)
    root = _code_root(entries)
    if root is not None:
        copy_code(entries, root, writer, notes)
        _notebooks_for_missing(entries, root, writer, notes)
        return
    notebooks = [e for e in entries if e.path.suffix.lower() == ".ipynb"]
    if notebooks:
        cells = []
        for e in sorted(notebooks, key=lambda e: str(e.path)):
            if e.size > MAX_NOTEBOOK_BYTES:
                raise IngestError(f"{writer.label}: {e.path} is larger than {_human(MAX_NOTEBOOK_BYTES)}")
            more, read_notes = read_notebook(_read_limited(e, MAX_NOTEBOOK_BYTES, writer.label), f"{e.path}")
            # several notebooks are read as one, in name order; cells are named by notebook
            cells += more if len(notebooks) == 1 else [(f"{e.path.name}#{n}", src) for n, src in more]
            notes += read_notes
        _write_modules(cells, writer, notes, ", ".join(str(e.path) for e in notebooks))
        return
    nested = [e.path for e in entries if e.path.suffix.lower() == ".zip"]
    if len(nested) > 1 and sum(bool(_CANVAS.match(p.name)) for p in nested) > 1:
        raise IngestError(f"{writer.label} holds {len(nested)} archives named as Canvas names a class's files "
                          f"({_listing(nested, 2)}): it looks like Canvas's bulk download; unzip it into the "
                          "folder of submissions and grade that folder")
    if nested:
        raise IngestError(f"{writer.label} holds only archives ({_listing(nested)}); archives "
                          "inside a submission are unpacked only one level deep and only when there is one: submit the .py "
                          "files themselves")
    seen = sorted(str(e.path) for e in entries)
    raise IngestError(f"{writer.label} holds none of the handout's files ({', '.join(static.STUDENT_FILES)}, "
                      f"or a run_qN script) nor a notebook; it holds: {_listing(seen) or 'nothing'}")


def _write_modules(cells, writer: _Writer, notes: list[str], label: str) -> None:
    modules, nb_notes = notebook_modules(cells)
    notes += [f"{label}: {n}" for n in nb_notes]
    if not modules:
        raise IngestError(f"{label}: the notebook defines none of the handout's functions "
                          f"({', '.join(NN_FUNCTIONS[:3])}, ..., findLetters) and marks no files "
                          "(a cell starting with '%%writefile nn.py' or '# nn.py')")
    for name, text in modules.items():
        if len(text.encode()) > MAX_SOURCE_BYTES:
            raise IngestError(f"{label}: {name} would be larger than {_human(MAX_SOURCE_BYTES)}")
        writer.write_text(name, text)


# -- notebooks ----------------------------------------------------------------------------------
def read_notebook(data: bytes, label: str) -> tuple[list[tuple[int, str]], list[str]]:
    """(cell number from 1, source) of every code cell, and notes; refuses what is not a notebook.

    A notebook that parses but breaks the nbformat schema is still read when its cells are
    (Colab and old Jupyter versions write such files), with a note.
    """
    import nbformat

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise IngestError(f"{label} is not UTF-8 text (byte {err.start} is not); save the notebook "
                          "again from Jupyter or Colab") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as err:  # noqa: BLE001 -- any parse failure of untrusted JSON is the student's
        raise IngestError(f"{label} is not a valid Jupyter notebook ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:200] if str(err) else ''}); download it "
                          "again with File > Download .ipynb") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except nbformat.ValidationError as err:
        invalid = f"does not follow the notebook format ({err.message[:160]})"
    else:
        invalid = None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("source", ""), str) for c in cells):
        raise IngestError(f"{label} {invalid or 'has unreadable cells'}; download it again with "
                          "File > Download .ipynb")
    notes = [f"{label} {invalid}; its cells were read anyway"] if invalid else []
    code = [(i, c.get("source", "")) for i, c in enumerate(cells, 1) if c.get("cell_type") == "code"]
    return code, notes


WRITEFILE = re.compile(r"^\s*%%writefile\b(.*)$")
MARKER = re.compile(r"^#+\s*[-=*]*\s*(?:file(?:name)?\s*[:=-]?\s*)?(?:[\w.~/\\-]*[/\\])?"
                    r"(nn|q4|util|run_q\d\w*)\.py\s*[-=*]*\s*(?:[:\u2013\u2014-]\s.*)?$", re.I)
# Cell magics whose body is still Python (the magic line alone is commented out).
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")


def _writefile_target(source: str) -> tuple[str, bool] | None:
    m = WRITEFILE.match(source.split("\n", 1)[0])
    if not m:
        return None
    try:
        args = shlex.split(m.group(1))
    except ValueError:
        return None
    paths = [a for a in args if not a.startswith("-")]
    if not paths or not paths[-1].endswith(".py"):
        return None
    return PurePosixPath(paths[-1].replace("\\", "/")).name, any(a in ("-a", "--append") for a in args)


def without_magics(source: str) -> str | None:
    """The cell with IPython magic and shell lines commented out; None for a non-Python cell."""
    lines = source.splitlines()
    first = _first_line(source)
    if first.startswith("%%") and first[2:].split(" ")[0] not in PYTHON_CELL_MAGICS:
        return None
    out = []
    for line in lines:
        body = line.lstrip()
        if body.startswith(("%", "!")):
            indent = line[:len(line) - len(body)]
            line = f"{indent}pass  # {body}" if indent else f"# {body}"
        out.append(line)
    return "\n".join(out)


def _cells_text(numbers: list[int]) -> str:
    return ("cell " if len(numbers) == 1 else "cells ") + ", ".join(map(str, numbers))


def notebook_modules(cells: list[tuple[int | str, str]]) -> tuple[dict[str, str], list[str]]:
    """Module files from code cells, and notes saying which convention gave which file.

    Cells are numbered from 1 as the notebook shows them (markdown cells count).

    In order: (a) `%%writefile [python/]nn.py` cells write that file (Colab style); (b) a cell
    whose first line is a comment naming a deliverable (`# nn.py`, `# File: q4.py`) starts that
    file, and the code cells after it belong to it until the next such cell; (c) for nn.py and
    q4.py still missing, the definitions of the handout's functions in the remaining cells, with
    the imports, helpers and literal constants they use (nn.py also gets the handout's
    `from util import *`); the rest of those cells is left out, so experiments and training
    code in them never run at import. A file an earlier convention produced is never replaced
    by a later one.
    """
    modules: dict[str, list[str]] = {}
    origin: dict[str, list[int]] = {}
    notes: list[str] = []
    rest = []
    for number, source in cells:                                          # (a)
        target = _writefile_target(source)
        if target is None:
            rest.append((number, source))
            continue
        name, append = target
        body = source.split("\n", 1)[1] if "\n" in source else ""
        if not append and name in modules:
            notes.append(f"cell {number} writes {name} again (the last %%writefile wins, as in the notebook)")
            modules[name], origin[name] = [], []
        # as %%writefile does: the body verbatim, -a appends it to what is there
        modules.setdefault(name, []).append(body if body.endswith("\n") or not body else body + "\n")
        origin.setdefault(name, []).append(number)
    for name, numbers in origin.items():
        notes.append(f"{name} from %%writefile {_cells_text(numbers)}")
    written_a = set(modules)

    current, unmarked, notebook = None, [], None                          # (b)
    for number, source in rest:
        if str(number).rpartition("#")[0] != notebook:     # a marker never spans two notebooks
            current, notebook = None, str(number).rpartition("#")[0]
        m = MARKER.match(_first_line(source))
        if m:
            name = m.group(1).lower() + ".py"
            current = None if name in written_a else name
        if current is None:
            unmarked.append((number, source))
            continue
        text = without_magics(source)
        if text is None:
            notes.append(f"cell {number} is not Python (a %% cell magic) and was left out of {current}")
            continue
        modules.setdefault(current, []).append(text)
        origin.setdefault(current, []).append(number)
    for name in sorted(set(modules) - written_a):
        notes.append(f"{name} from the cells marked '# {name}': {_cells_text(origin[name])}")

    result = {name: "".join(parts) if name in written_a else "\n\n".join(parts).rstrip() + "\n"
              for name, parts in modules.items()}
    by_definitions = False
    for name, wanted in (("nn.py", NN_FUNCTIONS), ("q4.py", Q4_FUNCTIONS)):   # (c)
        if name in result:
            continue
        text, used, found_notes = _module_from_definitions(unmarked, wanted, name)
        notes += found_notes
        if text:
            result[name], by_definitions = text, True
            notes.append(f"{name} from the definitions of {', '.join(sorted(used))} in unmarked "
                         f"{_cells_text(sorted(set(used.values())))} (with the imports and helpers they "
                         "use; other code of those cells was left out)")
    missing = [n for n in static.STUDENT_FILES if n not in result]
    if missing:
        notes.append(f"the notebook gives no {', '.join(missing)}" + (
            ": training code in unmarked cells cannot be told apart from experiments, so no "
            "script is made from it (start such a cell with '%%writefile run_q3.py' or "
            "'# run_q3.py')" if by_definitions else ""))
    return result, notes


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        try:
            ast.literal_eval(node.value)
        except ValueError:
            return set()          # computed values are training code, not definitions
        if all(isinstance(t, ast.Name) for t in targets):
            return {t.id for t in targets}
    return set()


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _module_from_definitions(cells, wanted, module_name):
    """(c): the definitions of `wanted` plus what they use, in notebook order."""
    statements, notes = [], []      # (cell, start line, node, text)
    for number, source in cells:
        text = without_magics(source)
        if text is None:
            continue
        try:
            tree = static.parse_source(text)
        except SyntaxError as err:
            if any(re.search(rf"\bdef\s+{w}\b", text) for w in wanted):
                notes.append(f"cell {number} defines part of {module_name} but does not parse "
                             f"(line {err.lineno}: {err.msg}); it was left out")
            continue
        lines = text.splitlines()
        previous_end = 0
        for node in tree.body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            while start - 1 > previous_end and lines[start - 2].lstrip().startswith("#"):
                start -= 1        # the comment block just above a definition belongs to it
            statements.append((number, start, node, "\n".join(lines[start - 1:node.end_lineno])))
            previous_end = node.end_lineno
    providers: dict[str, list[int]] = {}
    for i, (_, _, node, _) in enumerate(statements):
        for name in _bound_names(node):
            providers.setdefault(name, []).append(i)
    chosen = {i for w in wanted for i in providers.get(w, [])
              if isinstance(statements[i][2], (ast.FunctionDef, ast.AsyncFunctionDef))}
    used = {statements[i][2].name: statements[i][0] for i in sorted(chosen)}   # name -> last cell
    if not chosen:
        return "", {}, notes
    todo, resolved = list(chosen), set()
    while todo:
        for name in _used_names(statements[todo.pop()][2]) - resolved:
            resolved.add(name)
            for j in providers.get(name, []):
                if j not in chosen:
                    chosen.add(j)
                    todo.append(j)
    imports, body = [], []
    if module_name == "nn.py":
        imports.append("from util import *")      # as the handout's nn.py; run_q*.py rely on it
    for i in sorted(chosen):
        node, text = statements[i][2], statements[i][3]
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if text.strip() not in imports:
                imports.append(text.strip())
        else:
            body.append(text)
    header = f"# {module_name} assembled by hw5grade from an unmarked notebook\n"
    return header + "\n".join(imports) + "\n\n\n" + "\n\n\n".join(body) + "\n", used, notes


# -- prepare ------------------------------------------------------------------------------------
def _unknown_message(path: Path) -> str:
    if path.is_symlink():
        return f"{path.name} is a symbolic link; submit the folder or file itself"
    if path.suffix.lower() in OTHER_ARCHIVES:
        return f"{path.name} is a {path.suffix} archive; only .zip archives are accepted"
    return (f"{path.name} is not something the grader can read: submit a .zip of your python/ "
            "folder, a folder, or a .ipynb notebook")


def _parts_entries(submission: Submission, stack: contextlib.ExitStack, notes: list[str]) -> list[_Entry]:
    """The entries of a "files" submission: each zip's and folder's files, each notebook and
    loose .py under the student's own name (Canvas's copy number removed), in parts' order."""
    entries = []
    for path, own in submission.parts:
        path, label = Path(path), Path(path).name
        if path.is_symlink():
            raise IngestError(_unknown_message(path))
        if path.is_dir():
            entries += folder_entries(path, label, notes)
        elif path.suffix.lower() == ".zip":
            with _zip_errors(label):
                entries += zip_entries(stack.enter_context(zipfile.ZipFile(path)), label)
        elif path.is_file():
            entries.append(_Entry(PurePosixPath(safe_name(_own_name(own)[0])), path.stat().st_size,
                                  lambda path=path: open(path, "rb")))
    return entries


@contextlib.contextmanager
def _zip_errors(label: str):
    """An archive that cannot be read, as the student's IngestError."""
    try:
        yield
    except zipfile.BadZipFile as err:
        raise IngestError(f"{label} is not a readable zip archive ({err}); it may be truncated "
                          "or corrupt: create it again (zip -r name.zip python)") from None
    except (zlib.error, EOFError) as err:
        raise IngestError(f"{label} is truncated or corrupt ({err}): create it again") from None
    except NotImplementedError as err:
        raise IngestError(f"{label} uses a compression this grader cannot read ({err}); "
                          "create it with the standard zip (deflate)") from None
    except UnicodeDecodeError:
        raise IngestError(f"{label} names a file in a way that is not valid UTF-8 although the archive "
                          "says it is: create it again with the standard zip") from None


def _fill(submission: Submission, writer: _Writer, notes: list[str]) -> None:
    path, label = Path(submission.path), writer.label
    if submission.kind == "files":
        with contextlib.ExitStack() as stack, _zip_errors(label):
            ingest_entries(_parts_entries(submission, stack, notes), writer, notes)
    elif submission.kind == "folder":
        if path.is_symlink() or not path.is_dir():
            raise IngestError(_unknown_message(path))
        ingest_entries(folder_entries(path, label, notes), writer, notes)
    elif submission.kind == "zip":
        with _zip_errors(label), zipfile.ZipFile(path) as zf:
            ingest_entries(zip_entries(zf, label), writer, notes)
    elif submission.kind == "notebook":
        if path.is_symlink() or not path.is_file():
            raise IngestError(_unknown_message(path))
        entry = _Entry(PurePosixPath(label), path.stat().st_size, lambda: open(path, "rb"))
        data = _read_limited(entry, MAX_NOTEBOOK_BYTES, label)
        cells, read_notes = read_notebook(data, label)
        notes += read_notes
        _write_modules(cells, writer, notes, label)
    else:
        raise IngestError(_unknown_message(path))


def prepare(submission: Submission, dest_dir) -> Prepared:
    """dest_dir/<name>/python/ with the submission's files; IngestError if it cannot be graded.

    An existing dest_dir/<name>/python/ (an earlier prepare) is replaced; nothing else in
    dest_dir/<name>/ is touched. Work happens in a hidden folder of dest_dir that is removed
    whatever happens, so a refused archive leaves nothing behind.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{submission.name}.", dir=dest_dir))
    notes: list[str] = list(submission.notes)
    try:
        python = staging / "python"
        python.mkdir()
        try:
            label = submission.name if submission.kind == "files" else Path(submission.path).name
            _fill(submission, _Writer(python, label), notes)
        except IngestError as err:
            # a link skipped is often why nothing was found: say so in the refusal itself
            skipped = [n for n in notes if n.endswith(SKIPPED)]
            if skipped:
                raise IngestError(f"{err.message} ({'; '.join(skipped)})") from None
            raise
        except OSError as err:
            raise IngestError(f"{Path(submission.path).name} could not be read: "
                              f"{err.strerror or err}") from None
        present = sorted(p.name for p in python.iterdir() if p.name in DELIVERABLES)
        if "util.py" not in present:
            notes.append("no util.py: the grader supplies the handout's")
        folder = dest_dir / submission.name
        folder.mkdir(exist_ok=True)
        if (folder / "python").exists():
            shutil.rmtree(folder / "python")
        os.replace(python, folder / "python")
        return Prepared(folder, notes)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
