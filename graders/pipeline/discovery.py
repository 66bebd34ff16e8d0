"""Which script, notebook or part of a script answers each PyTorch question, found by content.

The handouts do not name the PyTorch scripts ("any .py files for Q6"), so a submission's own
names and layout are read as a TA reads them: pure static analysis (files read as text and
parsed with `ast`, sizes bounded, symlinks never followed; no student code runs).

Signals, strongest first:
- a name that states the question: the file's (run_q6_1_2.py, run_q611.py, run_q6.1.1.py,
  7.1.5_skip.py, q_62_squeezenet.py, run_q613 with no extension), a section comment
  (`# Q6.1.2`, a notebook's markdown heading), a function (`def q6_1_2():`) or an if-block
  (`if part == '6.1.2':`) inside one script;
- content: the data it loads (NIST36's .mat files, MNIST, EMNIST, CIFAR10, ImageFolder paths of
  the SUN scenes or the flowers, Flowers102), whether its models have convolutions, SqueezeNet
  with frozen features, skip (torch.cat in forward) and residual (x + block(x)) connections.
  The student's own modules a script imports (models.py, nn_pytorch.py) count toward it.

`discover` gives question -> Answer (the parts graded and why); `describe` gives the report's
lines; `load_map` reads a TA's override (question -> file[, part]).

Why one file this long: every signal (names, section comments, functions, if-blocks, data loaded,
network shape) votes in one ranking per question, and a TA must be able to read the whole of that
ranking, with the reasons it writes, in one place.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from graders.checks import static
from graders.pipeline import ingest
from graders.pipeline.ingest import number_in_name

MAX_FILES = 300                      # files read per submission
MAX_DEPTH = 4                        # folder levels below python_dir
MAX_FOLLOWED = 400                   # definitions and globals followed from one part
MAX_PARTS = 40                       # parts of one file (sections, functions) judged
MAX_CONSIDERED = 5                   # other candidates named in a reason
MAX_SOURCE_BYTES = ingest.MAX_SOURCE_BYTES
MAX_NOTEBOOK_BYTES = ingest.MAX_NOTEBOOK_BYTES
IGNORED_DIRS = ingest.IGNORED_DIRS | {"data", "venv", ".venv", "env"}


class MapError(ValueError):
    """A TA's mapping file that cannot be honoured (its message says why)."""


# -- what each question asks for ---------------------------------------------------------------
DATASETS = {
    "nist36": "NIST36", "mnist": "MNIST", "emnist": "EMNIST", "cifar10": "CIFAR-10",
    "scenes": "the SUN scenes", "flowers": "the flowers (Flowers-17/102)",
}


@dataclass(frozen=True)
class Spec:
    id: str
    task: str
    datasets: tuple = ()           # one of these must be loaded (content match)
    conv: bool | None = None       # True: a model with nn.Conv2d; False: fully connected only
    squeezenet: bool = False       # fine-tuning SqueezeNet (and a network from scratch)
    connection: str | None = None  # "skip" or "residual"

    @property
    def number(self) -> tuple:
        return tuple(int(d) for d in re.findall(r"\d", self.id))

    def looked_for(self) -> str:
        n = ".".join(map(str, self.number))
        want = [f"a file, section comment or function named for {n} (run_q{n.replace('.', '_')}.py, "
                f"q{n.replace('.', '')}.py, '# Q{n}')"]
        if self.datasets:
            want.append("code loading " + " or ".join(DATASETS[d] for d in self.datasets))
        if self.conv is True:
            want.append("a model with nn.Conv2d")
        if self.conv is False:
            want.append("a model of nn.Linear layers only")
        if self.squeezenet:
            want.append("SqueezeNet (squeezenet1_1/1_0)")
        if self.connection == "skip":
            want.append("a forward() joining earlier features with torch.cat (skip connection)")
        if self.connection == "residual":
            want.append("a forward() adding a block's input to its output, x + block(x) (residual)")
        return "; ".join(want)


SPECS = {
    "2022": (
        Spec("Q6.1.1", "fully connected network on NIST36", ("nist36",), conv=False),
        Spec("Q6.1.2", "CNN on NIST36", ("nist36",), conv=True),
        Spec("Q6.1.3", "CNN on CIFAR-10", ("cifar10",), conv=True),
        Spec("Q6.1.4", "CNN on the SUN scenes", ("scenes",), conv=True),
        Spec("Q6.2.1", "SqueezeNet fine-tuned and a CNN from scratch on the flowers", ("flowers",),
             squeezenet=True),
    ),
    "2019": (
        Spec("Q7.1.1", "fully connected network on NIST36", ("nist36",), conv=False),
        Spec("Q7.1.2", "CNN on MNIST", ("mnist",), conv=True),
        Spec("Q7.1.3", "CNN on NIST36", ("nist36",), conv=True),
        Spec("Q7.1.4", "CNN on EMNIST, then the photos", ("emnist",), conv=True),
        Spec("Q7.1.5a", "network with skip connections", connection="skip"),
        Spec("Q7.1.5b", "network with residual connections", connection="residual"),
        Spec("Q7.2.1", "SqueezeNet fine-tuned and a CNN from scratch on the flowers", ("flowers",),
             squeezenet=True),
    ),
}


def specs(edition: str) -> tuple[Spec, ...]:
    try:
        return SPECS[str(edition)]
    except KeyError:
        raise ValueError(f"no PyTorch questions known for edition {edition!r} "
                         f"(known: {', '.join(SPECS)})") from None


def section_of(edition: str) -> int:
    """The handout's number of the PyTorch part: 6 in 2022, 7 in 2019."""
    return specs(edition)[0].number[0]


# -- comments and constants that state a question (names: graders.pipeline.ingest.number_in_name) -------
_COMMENT = re.compile(r"^[#\s*=\-]*(?:(?:q|question|part|problem|section)\s*[_:.]?\s*)?"
                      r"(\d)\s*[._]\s*(\d)(?:\s*[._]\s*(\d))?(?![\d.])")
_CONSTANT = re.compile(r"^\s*q?\s*(\d)[._]?(\d)(?:[._]?(\d))?\s*$", re.I)


def number_in_comment(line: str) -> tuple:
    m = _COMMENT.match(line.lstrip().lstrip("#").lower())
    return tuple(int(g) for g in m.groups() if g) if m and line.lstrip().startswith("#") else ()


# -- reading the submission --------------------------------------------------------------------
@dataclass
class Source:
    """One file's code: a .py file, a file with no extension, or a notebook's cells."""
    path: str                          # relative to python_dir, posix
    text: str
    tree: ast.Module | None
    cells: dict = field(default_factory=dict)   # line -> notebook cell number (notebooks only)
    notes: list = field(default_factory=list)
    markdown: frozenset = frozenset()          # lines that are a notebook's markdown

    def locate(self, line: int) -> str:
        """Where a line is, as the student sees it: 'run_q6.py line 12', 'hw5.ipynb cell 4'."""
        if self.cells:
            return f"{self.name} cell {self.cells.get(line, '?')}"
        return f"{self.name} line {line}"

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def module(self) -> str:
        return Path(self.path).stem if self.path.endswith(".py") else ""

    def cells_of(self, first: int, last: int) -> tuple:
        return tuple(sorted({c for line, c in self.cells.items() if first <= line <= last}))


def _looks_like_python(text: str) -> bool:
    return bool(re.search(r"^\s*(import|from)\s+\w", text, re.M))


def _read_bounded(path: Path, limit: int) -> bytes | None:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def _notebook_source(data: bytes, label: str) -> tuple[str, dict, list, frozenset]:
    """The notebook as one script: its code cells (magics commented out), markdown as comments
    (so headings mark sections), and line -> cell number (cells counted from 1 as Jupyter shows)."""
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    lines, cell_of, notes, markdown = [], {}, [], set()
    for number, cell in enumerate(nb.get("cells") or [], 1):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            body = ["# " + line for line in source.splitlines()]
        elif cell.get("cell_type") == "code":
            code = ingest.without_magics(source)
            if code is None:
                continue
            try:
                static.parse_source(code)
            except SyntaxError:
                notes.append(f"{label}: cell {number} is not valid Python and was left out")
                continue
            body = code.splitlines()
        else:
            continue
        for line in body:
            lines.append(line)
            cell_of[len(lines)] = number
            if cell.get("cell_type") == "markdown":
                markdown.add(len(lines))
    return "\n".join(lines) + "\n", cell_of, notes, frozenset(markdown)


def read_sources(python_dir: Path, notes: list | None = None) -> list[Source]:
    """Every .py file, notebook and extension-less Python file under python_dir (bounded);
    what was left out and why goes to notes."""
    root = Path(python_dir)
    found: list[Source] = []
    notes = [] if notes is None else notes
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith(".")
                         and depth < MAX_DEPTH and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            if len(found) >= MAX_FILES:
                notes.append(f"only the first {MAX_FILES} code files were read")
                return found
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            suffix = path.suffix.lower()
            if suffix == ".ipynb":
                data = _read_bounded(path, MAX_NOTEBOOK_BYTES)
                if data is None:
                    notes.append(f"{rel} is larger than {MAX_NOTEBOOK_BYTES} bytes and was not read")
                    continue
                try:
                    text, cells, cell_notes, markdown = _notebook_source(data, rel)
                except Exception as err:  # noqa: BLE001 -- an unreadable notebook is the student's
                    notes.append(f"{rel} is not a notebook Jupyter can read ({type(err).__name__}); "
                                 "not read")
                    continue
                found.append(Source(rel, text, _parse(text), cells, cell_notes, markdown))
            # run_q613 (no extension), run_q6.1.1 and 7.1.5_skip (a suffix of the dotted number)
            elif suffix == ".py" or not suffix or re.fullmatch(r"\.\d+(?:_\w*)?", suffix):
                data = _read_bounded(path, MAX_SOURCE_BYTES)
                if data is None or b"\0" in data:
                    if suffix == ".py":
                        notes.append(f"{rel} is larger than {MAX_SOURCE_BYTES} bytes or not text; not read")
                    continue
                text = data.decode("utf-8", errors="replace")
                if suffix != ".py" and not _looks_like_python(text):
                    continue
                source = Source(rel, text, _parse(text))
                if source.tree is None:
                    source.notes.append(f"{rel} is not valid Python; judged from its text")
                found.append(source)
    return found


def _parse(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# -- signals -----------------------------------------------------------------------------------
def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


# what a script prints or writes on a plot names data; it does not load it
_OUTPUT_CALLS = {"print", "title", "suptitle", "set_title", "xlabel", "ylabel", "legend", "label",
                 "format", "write", "info", "set_description", "add_scalar"}
_NAME_DATASETS = {"MNIST": "mnist", "EMNIST": "emnist", "CIFAR10": "cifar10", "Flowers102": "flowers"}
_SQUEEZENET = {"squeezenet1_1", "squeezenet1_0", "SqueezeNet"}
_SCENES = re.compile(r"scene|(?:^|[/\\_.-])sun(?:$|[/\\_.\d-])|traintest")


@functools.lru_cache(maxsize=1)
def _scene_classes() -> re.Pattern:
    """The 8 SUN classes of homework 1 ('aquarium', ..., 'windmill'): a script listing them or
    reading their folders is on the scenes."""
    from fixtures.torchdata import SUN_CLASSES
    return re.compile(r"(?:^|[^a-z])(?:" + "|".join(SUN_CLASSES) + r")(?:$|[^a-z])")


def _string_dataset(s: str) -> str | None:
    low = s.lower()
    if "nist36" in low or "nist_36" in low:
        return "nist36"
    if "emnist" in low:
        return "emnist"
    if "mnist" in low and "fashion" not in low:
        return "mnist"
    if "cifar" in low:
        return "cifar10"
    if "flower" in low:
        return "flowers"
    if _SCENES.search(low) or _scene_classes().search(low):
        return "scenes"
    return None


@dataclass
class Signals:
    datasets: dict = field(default_factory=dict)    # key -> evidence
    models: dict = field(default_factory=dict)      # label -> (conv, linear) of its own layers
    uses: dict = field(default_factory=dict)        # label -> names it calls (its sub-modules)
    squeezenet: str = ""
    frozen: str = ""
    skip: str = ""
    residual: str = ""
    photos: str = ""
    torch: bool = False
    helpers: set = field(default_factory=set)       # the student's modules that contributed

    def merge(self, other: "Signals") -> None:
        for k, v in other.datasets.items():
            self.datasets.setdefault(k, v)
        for k, v in other.models.items():
            self.models.setdefault(k, v)
        for k, v in other.uses.items():
            self.uses.setdefault(k, v)
        for name in ("squeezenet", "frozen", "skip", "residual", "photos"):
            setattr(self, name, getattr(self, name) or getattr(other, name))
        self.torch = self.torch or other.torch
        self.helpers |= other.helpers

    def kinds(self) -> dict:
        """label -> (conv, linear) counting the layers of the modules it is built of (a ResNet
        of Block modules has the convolutions of its blocks)."""
        kinds = dict(self.models)
        for _ in range(8):             # sub-modules nest a few levels deep at most
            changed = False
            for label, names in self.uses.items():
                conv, linear = kinds[label]
                for name in names:
                    sub = kinds.get(f"class {name}")
                    if sub and (sub[0] and not conv or sub[1] and not linear):
                        conv, linear, changed = conv or sub[0], linear or sub[1], True
                kinds[label] = (conv, linear)
            if not changed:
                break
        return kinds

    @property
    def fully_connected(self) -> str:
        return next((label for label, (conv, linear) in self.kinds().items() if linear and not conv), "")

    @property
    def convolutional(self) -> str:
        return next((label for label, (conv, _) in self.kinds().items() if conv), "")

    @property
    def from_scratch(self) -> str:
        return next((label for label, (conv, _) in self.kinds().items()
                     if conv and "squeezenet" not in label.lower()), "")


def _is_module_class(node: ast.ClassDef) -> bool:
    return any(_dotted(b).split(".")[-1] == "Module" for b in node.bases)


def _own_signals(nodes, locate) -> Signals:
    """The signals of these AST nodes alone (definitions they reference are added by the caller)."""
    sig = Signals()
    in_call = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                in_call.add(id(node.value))        # a docstring
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                sig.torch = sig.torch or any(m.split(".")[0] == "torch" for m in mods)
            if isinstance(node, ast.Call):
                func = _dotted(node.func)
                last = func.split(".")[-1]
                for arg in list(node.args) + [k.value for k in node.keywords]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        in_call.add(id(arg))
                        kind = _string_dataset(arg.value) if last not in _OUTPUT_CALLS else None
                        if kind:
                            sig.datasets.setdefault(kind, f"{func}('{arg.value[:60]}')")
                if last in _NAME_DATASETS:
                    sig.datasets.setdefault(_NAME_DATASETS[last], func)
                if last in _SQUEEZENET:
                    sig.squeezenet = sig.squeezenet or f"{func}()"
                    sig.models.setdefault(f"{func}()", (True, False))
                if last == "Sequential":
                    names = {_dotted(n).split(".")[-1] for n in ast.walk(node)}
                    label = f"{func}(...) at {locate(node.lineno)}"
                    sig.models.setdefault(label, ("Conv2d" in names, "Linear" in names))
                    sig.uses.setdefault(label, _called(node))
                if last == "requires_grad_" and (not node.args or (
                        isinstance(node.args[0], ast.Constant) and node.args[0].value is False)):
                    sig.frozen = sig.frozen or f"requires_grad_(False) ({locate(node.lineno)})"
                if last == "findLetters":
                    sig.photos = sig.photos or f"findLetters ({locate(node.lineno)})"
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_call:
                kind = _string_dataset(node.value)
                if kind and len(node.value) < 200:
                    sig.datasets.setdefault(kind, f"'{node.value[:60]}'")
            elif isinstance(node, ast.Attribute) and node.attr in _NAME_DATASETS:
                sig.datasets.setdefault(_NAME_DATASETS[node.attr], _dotted(node))
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is False \
                    and any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets):
                sig.frozen = sig.frozen or f"requires_grad = False ({locate(node.lineno)})"
            elif isinstance(node, ast.ClassDef) and _is_module_class(node):
                names = {_dotted(n).split(".")[-1] for n in ast.walk(node)}
                sig.models.setdefault(f"class {node.name}", ("Conv2d" in names or "conv2d" in names,
                                                              "Linear" in names))
                sig.uses.setdefault(f"class {node.name}", _called(node) - {node.name})
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "forward":
                        _connections(item, f"{node.name}.forward", sig, locate)
    return sig


def _called(node) -> set:
    """The plain names a model's code calls (Block(8), self.layer = Residual(...))."""
    return {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _connections(forward: ast.FunctionDef, label: str, sig: Signals, locate) -> None:
    for node in ast.walk(forward):
        if isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] in ("cat", "concat", "concatenate"):
            sig.skip = sig.skip or f"{_dotted(node.func)} in {label} ({locate(node.lineno)})"
        added = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            added = (node.left, node.right)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            added = (node.target, node.value)
        elif isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] == "add" and len(node.args) >= 2:
            added = tuple(node.args[:2])
        if added and not any(isinstance(a, ast.Constant) for a in added) and any(
                isinstance(a, ast.Name) for a in added):
            text = ast.unparse(node)[:60]
            sig.residual = sig.residual or f"{text} in {label} ({locate(node.lineno)})"


def _text_signals(text: str) -> Signals:
    """For a file that does not parse: its text, with comments dropped."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    sig = Signals(torch=bool(re.search(r"^\s*(import|from)\s+torch", code, re.M)))
    for s in re.findall(r"['\"]([^'\"\n]{1,200})['\"]", code):
        kind = _string_dataset(s)
        if kind:
            sig.datasets.setdefault(kind, f"'{s[:60]}'")
    for name, kind in _NAME_DATASETS.items():
        if re.search(rf"\b{name}\b", code):
            sig.datasets.setdefault(kind, name)
    if "Conv2d" in code:
        sig.models["nn.Conv2d in its text"] = (True, "Linear" in code)
    elif "Linear" in code:
        sig.models["nn.Linear in its text"] = (False, True)
    if re.search(r"squeezenet1_[01]", code):
        sig.squeezenet = "squeezenet in its text"
    if "requires_grad = False" in code or "requires_grad=False" in code:
        sig.frozen = "requires_grad = False"
    return sig


# -- the parts of a script ---------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """A stretch of one file: the whole file, a line range, a function or if-block, or cells."""
    file: str
    first: int | None = None           # 1-based lines of the file (a notebook's: its code as one script)
    last: int | None = None
    function: str | None = None
    cells: tuple = ()                  # notebook cell numbers
    role: str | None = None            # Q*.2.1: "fine-tuned SqueezeNet" or "from scratch"

    @property
    def label(self) -> str:
        if self.cells:
            where = (f"cell {self.cells[0]}" if len(self.cells) == 1
                     else f"cells {self.cells[0]}-{self.cells[-1]}")
        elif self.function:
            where = f"{self.function}()"
        elif self.first is not None:
            where = f"lines {self.first}-{self.last}"
        else:
            return self.file
        return f"{self.file} {where}"


@dataclass
class _Candidate:
    part: Part
    number: tuple
    named_by: str                      # what stated the number ("its file name", "the comment ...")
    signals: Signals


class _Index:
    """The submission's files, their top-level definitions and what they import."""

    def __init__(self, sources: list[Source]):
        self.sources = sources
        self.by_module = {s.module: s for s in sources if s.module}
        self.defs: dict = {}           # (path, name) -> function or class
        self.globals: dict = {}        # (path, name) -> top-level statements assigning it, in order
        for s in sources:
            if s.tree is not None:
                for node in s.tree.body:
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        self.defs[(s.path, node.name)] = node
                    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for t in targets:
                            for name in ast.walk(t):
                                if isinstance(name, ast.Name):
                                    self.globals.setdefault((s.path, name.id), []).append(node)
        self._own: dict = {}
        self._imports: dict = {}

    def imports(self, source: Source) -> tuple[dict, dict, list]:
        """name -> (helper path, def name); alias -> helper path; star-imported helper paths."""
        if source.path in self._imports:
            return self._imports[source.path]
        self._imports[source.path] = found = self._find_imports(source)
        return found

    def _find_imports(self, source: Source) -> tuple[dict, dict, list]:
        names, aliases, stars = {}, {}, []
        if source.tree is None:
            return names, aliases, stars
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    helper = self.by_module.get(a.name)
                    if helper is not None and helper is not source:
                        aliases[a.asname or a.name] = helper.path
            elif isinstance(node, ast.ImportFrom) and node.module:
                helper = self.by_module.get(node.module.split(".")[-1])
                if helper is None or helper is source:
                    continue
                for a in node.names:
                    if a.name == "*":
                        stars.append(helper.path)
                    else:
                        names[a.asname or a.name] = (helper.path, a.name)
        return names, aliases, stars

    def helpers_of(self, source: Source) -> set:
        names, aliases, stars = self.imports(source)
        return {p for p, _ in names.values()} | set(aliases.values()) | set(stars)

    def _global(self, src: Source, node: ast.Name, in_def: bool):
        """The top-level statement that gave a global its value where `node` reads it: the last
        assignment before that line (a later section reassigning `train_loader` does not count
        for an earlier one), or, read inside a function, the last one of the file."""
        assigned = self.globals.get((src.path, node.id), [])
        if not in_def:
            assigned = [a for a in assigned if a.lineno < node.lineno]
        return assigned[-1] if assigned else None

    def signals(self, source: Source, nodes: list, follow_globals: bool = True) -> Signals:
        """The nodes' signals with those of every definition and global they use, in this file
        or in the student's modules it imports (followed transitively)."""
        sig = _own_signals(nodes, source.locate)
        seen = set()
        todo = [(source, nodes)]
        while todo:
            src, group = todo.pop()
            names, aliases, stars = self.imports(src)
            for top in group:
                in_def = isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                local = _local_names(top) if in_def else set()
                for node in ast.walk(top):
                    definition, helper = None, src
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                        if (src.path, node.id) in self.defs:
                            definition = self.defs[(src.path, node.id)]
                        elif node.id in names:
                            path, name = names[node.id]
                            definition = self.defs.get((path, name))
                            helper = self._source(path)
                        elif follow_globals and (src.path, node.id) in self.globals and node.id not in local:
                            definition = self._global(src, node, in_def)
                        else:
                            path = next((p for p in stars if (p, node.id) in self.defs), None)
                            if path is not None:
                                definition, helper = self.defs[(path, node.id)], self._source(path)
                    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                            and node.value.id in aliases:
                        definition = self.defs.get((aliases[node.value.id], node.attr))
                        helper = self._source(aliases[node.value.id])
                    if definition is None or (helper.path, id(definition)) in seen \
                            or len(seen) >= MAX_FOLLOWED:
                        continue
                    seen.add((helper.path, id(definition)))
                    key = (helper.path, id(definition))
                    if key not in self._own:
                        self._own[key] = _own_signals([definition], helper.locate)
                    sig.merge(self._own[key])
                    if helper is not source:
                        sig.helpers.add(helper.path)
                    todo.append((helper, [definition]))
        return sig

    def _source(self, path: str) -> Source:
        return next(s for s in self.sources if s.path == path)


def _local_names(definition) -> set:
    """Names a function or class binds itself (parameters, assignments): not the globals'."""
    names = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _span(nodes) -> tuple[int, int]:
    return (min(n.lineno for n in nodes),
            max(getattr(n, "end_lineno", n.lineno) or n.lineno for n in nodes))


def _is_definition(node) -> bool:
    return isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef))


def _constant_number(test) -> tuple:
    for node in ast.walk(test):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) \
                and not isinstance(node.value, bool):
            m = _CONSTANT.match(str(node.value))
            if m:
                return tuple(int(g) for g in m.groups() if g)
    return ()


def _parts(source: Source, index: _Index, section: int) -> list[_Candidate]:
    """The parts of one file that may each answer a question, with the number each states."""
    file_number = number_in_name(source.name)
    file_number = file_number if file_number[:1] == (section,) else ()
    named_file = f"its file name ({source.name})" if file_number else ""

    def part(nodes, first=None, last=None, function=None):
        cells = source.cells_of(first or 1, last or len(source.text.splitlines())) if source.cells else ()
        return Part(source.path, first, last, function, cells)

    if source.tree is None:
        return [_Candidate(Part(source.path), file_number, named_file, _text_signals(source.text))]
    body = source.tree.body
    lines = source.text.splitlines()

    # 1. section comments naming two or more questions (a notebook's headings are comments here)
    marks = []
    for number, line in enumerate(lines, 1):
        stated = number_in_comment(line)
        if stated[:1] == (section,) and len(stated) >= 2 and (not marks or marks[-1][1] != stated):
            marks.append((number, stated, line.strip()[:60]))
    if len({m[1] for m in marks}) >= 2 and len(marks) <= MAX_PARTS:
        found = []
        shared = [n for n in body if n.lineno < marks[0][0] or _is_definition(n)]
        for i, (start, stated, text) in enumerate(marks):
            end = marks[i + 1][0] - 1 if i + 1 < len(marks) else len(lines)
            nodes = [n for n in body if start <= n.lineno <= end and not _is_definition(n)] or \
                    [n for n in body if start <= n.lineno <= end]
            if not nodes:
                continue
            sig = index.signals(source, nodes)
            found.append(_Candidate(part(nodes, start, max(_span(nodes)[1], start)), stated,
                                    _marked_by(source, start, text), sig))
        if found:
            _add_shared(found, index, source, shared)
            return found

    # 2. functions and if-blocks named for questions
    found = []
    for node in body:
        if len(found) >= MAX_PARTS:
            break
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stated = number_in_name(node.name)
            if stated[:1] == (section,) and len(stated) >= 2:
                first, last = _span([node])
                found.append(_Candidate(part([node], first, last, node.name), stated,
                                        f"its function {node.name}() (line {node.lineno})",
                                        index.signals(source, [node])))
        elif isinstance(node, ast.If) and not _is_main(node):
            for test, block in _if_chain(node):
                stated = _constant_number(test)
                if stated[:1] == (section,) and len(stated) >= 2:
                    first, last = _span(block)
                    found.append(_Candidate(part(block, first, last), stated,
                                            f"the if-block '{ast.unparse(test)[:50]}' (line {test.lineno})",
                                            index.signals(source, block)))
    if found:
        _add_shared(found, index, source, body)
        return found[:MAX_PARTS]

    # 2b. functions that each load data and build a model (def train_cifar(): ...), whatever
    # their names, when they differ in what they train
    trainers = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and len(trainers) < MAX_PARTS:
            sig = index.signals(source, [node])
            if sig.datasets and sig.models:
                trainers.append((node, sig))
    profiles = {(tuple(sorted(sig.datasets)), bool(sig.fully_connected), bool(sig.convolutional))
                for _, sig in trainers}
    if len(profiles) >= 2:
        found = [_Candidate(part([node], *_span([node]), node.name), file_number, named_file, sig)
                 for node, sig in trainers]
        _add_shared(found, index, source, body)
        return found

    # 3. sections by the data they load, in the order the script runs
    statements = [n for n in body if not _is_definition(n)]
    segments: list[list] = []
    current: set = set()
    for node in statements:
        # what this statement loads itself or through the functions it calls (the globals it
        # reads were loaded by earlier statements, already counted where they stand)
        loads = set(index.signals(source, [node], follow_globals=False).datasets)
        if segments and loads and current and not loads <= current and not current <= loads \
                and len(segments) < MAX_PARTS:
            segments.append([node])
            current = loads
        else:
            if not segments:
                segments.append([])
            segments[-1].append(node)
            current |= loads
    if len(segments) >= 2:
        found = []
        for nodes in segments:
            first, last = _span(nodes)
            found.append(_Candidate(part(nodes, first, last), file_number, named_file,
                                    index.signals(source, nodes)))
        _add_shared(found, index, source, [n for n in body if _is_definition(n)])
        return found

    # 4. the whole file
    whole = index.signals(source, body)
    if source.cells:
        at = next((n for n, line in enumerate(lines, 1) if number_in_comment(line)[:1] == (section,)
                   and len(number_in_comment(line)) >= 2), None)
        stated = number_in_comment(lines[at - 1]) if at else file_number
        how = _marked_by(source, at, lines[at - 1].strip()[:60]) if at else named_file
        return [_Candidate(Part(source.path, cells=tuple(sorted(set(source.cells.values())))),
                           stated, how, whole)]
    stated = next(((n, line.strip()[:60]) for n, line in enumerate(lines, 1)
                   if number_in_comment(line)[:1] == (section,) and len(number_in_comment(line)) >= 2), None)
    if stated and (not file_number or number_in_comment(lines[stated[0] - 1])[:len(file_number)] == file_number):
        return [_Candidate(Part(source.path), number_in_comment(lines[stated[0] - 1]),
                           named_file or _marked_by(source, stated[0], stated[1]), whole)]
    return [_Candidate(Part(source.path), file_number, named_file, whole)]


def _marked_by(source: Source, line: int, text: str) -> str:
    if line in source.markdown:
        return f"the notebook's heading '{text[2:]}' ({source.locate(line)})"
    return f"the comment '{text}' ({source.locate(line)})"


def _add_shared(found, index, source, shared) -> None:
    """The torch import at the top of a file counts for each of its parts (the definitions and
    globals a part uses were already followed from it)."""
    torch = index.signals(source, [n for n in shared if isinstance(n, (ast.Import, ast.ImportFrom))]).torch
    for c in found:
        c.signals.torch = c.signals.torch or torch


def _if_chain(node: ast.If):
    """(test, body) of an if and each of its elifs."""
    while True:
        yield node.test, node.body
        if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
            node = node.orelse[0]
        else:
            return


def _is_main(node: ast.If) -> bool:
    return isinstance(node.test, ast.Compare) and _dotted(node.test.left) == "__name__"


# -- scoring -----------------------------------------------------------------------------------
NAMED, CONTENT, MODEL, EXTRA = 100, 40, 20, 10


@dataclass
class _Judged:
    candidate: _Candidate
    score: int
    why: list


def _judge(spec: Spec, c: _Candidate, numbers: list) -> _Judged | None:
    """How strongly a part answers a question, and the signals that say so (None: it does not)."""
    sig, why, score = c.signals, [], 0
    n = c.number
    own = spec.number
    # a number that is a prefix of exactly this question among the edition's states it
    unique = n and len(n) >= 2 and own[:len(n)] == n and sum(q[:len(n)] == n for q in numbers) == 1
    named = bool(n) and (n == own or unique)
    if named:
        score += NAMED
        why.append(f"named {'.'.join(map(str, n))} by {c.named_by}")
    elif n and own[:len(n)] != n:
        return None                    # it states another question
    models = ", ".join(list(sig.models)[:3])
    content = False
    if spec.datasets:
        hit = [d for d in spec.datasets if d in sig.datasets]
        if hit:
            score += CONTENT
            content = True
            why.append(f"loads {DATASETS[hit[0]]} ({sig.datasets[hit[0]]})")
        elif named and sig.datasets:
            other = next(iter(sig.datasets))
            why.append(f"but it loads {DATASETS[other]} ({sig.datasets[other]}), not "
                       + " or ".join(DATASETS[d] for d in spec.datasets))
    if spec.conv is True:
        if sig.convolutional:
            score += MODEL
            why.append(f"nn.Conv2d layers ({sig.convolutional})")
        elif sig.models:
            score -= MODEL
            content = False
            why.append(f"but no model with nn.Conv2d (its models: {models})")
    if spec.conv is False:
        if sig.fully_connected:
            score += MODEL
            why.append(f"nn.Linear layers only ({sig.fully_connected})")
        elif sig.models:
            score -= MODEL
            content = False
            why.append(f"but no model of nn.Linear layers only (its models: {models})")
    if spec.squeezenet:
        if sig.squeezenet:
            score += MODEL
            why.append(f"SqueezeNet ({sig.squeezenet})")
            if sig.frozen:
                score += EXTRA
                why.append(f"frozen features ({sig.frozen})")
        if sig.from_scratch:
            why.append(f"a network from scratch ({sig.from_scratch})")
    if spec.connection:
        found = getattr(sig, spec.connection)
        if found:
            score += CONTENT
            content = True
            why.append(f"{spec.connection} connection ({found})")
    elif spec.conv and (sig.skip or sig.residual) and "nist36" in spec.datasets:
        score -= EXTRA                 # a skip/residual network answers Q7.1.5 before Q7.1.3
    if spec.id.startswith("Q7.1.4") and sig.photos:
        score += EXTRA
        why.append(f"reads the photos ({sig.photos})")
    if sig.helpers:
        why.append("with " + ", ".join(sorted(sig.helpers)) + " (its own module, imported)")
    if named or (content and sig.torch) or (content and spec.connection):
        return _Judged(c, score, why)
    return None


# -- the result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    question: str
    task: str
    parts: tuple                       # Parts graded (empty: none found)
    reason: str
    considered: tuple = ()             # other candidates and why they lost
    by_map: bool = False

    @property
    def file(self) -> str | None:
        return self.parts[0].file if self.parts else None

    def as_json(self) -> dict:
        """For grade.json: the parts graded (file, lines, function, cells, role) and why."""
        return {"question": self.question, "reason": self.reason, "by_map": self.by_map,
                "parts": [{"file": p.file, "lines": [p.first, p.last] if p.first is not None else None,
                           "function": p.function, "cells": list(p.cells), "role": p.role}
                          for p in self.parts],
                "considered": list(self.considered)}


class Discovery(Mapping):
    """question -> Answer for every PyTorch question of the edition, in the rubric's order."""

    def __init__(self, edition: str, answers: dict, notes: list, scripts: dict | None = None):
        self.edition = edition
        self._answers = answers
        self.notes = tuple(notes)
        self._scripts = scripts or {}

    def script(self, file: str) -> str:
        """The code that was read for a file: a notebook's code cells as one script (magics
        commented out, markdown as comments; Part.first/last count lines of this text)."""
        return self._scripts[file]

    def __getitem__(self, key):
        return self._answers[key]

    def __iter__(self):
        return iter(self._answers)

    def __len__(self):
        return len(self._answers)

    def files(self) -> list[str]:
        """The files to run, each once, in the order of the questions they answer."""
        out = []
        for a in self.values():
            for p in a.parts:
                if p.file not in out:
                    out.append(p.file)
        return out


def _reason(part: Part, question: str, why: list) -> str:
    return f"{part.label}: {', '.join(why)} -> {question}"


def discover(python_dir, edition: str, overrides: Mapping | None = None) -> Discovery:
    """For each PyTorch question of the edition, the part of the submission that answers it.

    overrides: question -> (file, part or None), as load_map gives; those questions are taken
    from it (a TA's decision) and their files are still checked to exist under python_dir.
    """
    python_dir = Path(python_dir)
    section = section_of(edition)
    all_specs = specs(edition)
    numbers = [s.number for s in all_specs]
    notes: list = []
    sources = read_sources(python_dir, notes)
    index = _Index(sources)
    notes += [n for s in sources for n in s.notes]
    helpers = set()
    for s in sources:
        helpers |= index.helpers_of(s)
    candidates = []
    for s in sources:
        if s.path in helpers and not number_in_name(s.name)[:1] == (section,):
            continue                   # a module the scripts import is not itself a script
        try:
            candidates += _parts(s, index, section)
        except RecursionError:     # code nested beyond the parser's depth: judged from its text
            number = number_in_name(s.name)
            candidates.append(_Candidate(Part(s.path), number if number[:1] == (section,) else (),
                                         f"its file name ({s.name})", _text_signals(s.text)))

    answers = {}
    overrides = dict(overrides or {})
    unknown = set(overrides) - {s.id for s in all_specs}
    if unknown:
        raise MapError(f"the map names questions that edition {edition} does not have: "
                       f"{', '.join(sorted(unknown))} (its PyTorch questions: "
                       f"{', '.join(s.id for s in all_specs)})")
    for spec in all_specs:
        if spec.id in overrides:
            answers[spec.id] = _mapped(spec, overrides[spec.id], python_dir, sources)
            continue
        judged = [j for j in (_judge(spec, c, numbers) for c in candidates) if j is not None]
        judged.sort(key=lambda j: (-j.score, j.candidate.part.file, j.candidate.part.first or 0))
        if not judged:
            # parts that fit by content but whose name states another question are left to it
            named_elsewhere = [c for c in candidates if c.number and _judge(
                spec, dataclasses.replace(c, number=()), numbers) is not None]
            aside = "".join(f"; {c.part.label} fits by content but {c.named_by} states "
                            f"{'.'.join(map(str, c.number))}" for c in named_elsewhere[:MAX_CONSIDERED])
            answers[spec.id] = Answer(spec.id, spec.task, (), f"{spec.id}: nothing found to grade; "
                                      f"looked for {spec.looked_for()}{aside}")
            continue
        best = judged[0]
        parts, why = [best.candidate.part], [best.why]
        considered = []
        if spec.squeezenet:
            parts, why = _pair(best, judged)
        taken = {dataclasses.replace(p, role=None) for p in parts}
        for other in judged[1:]:
            if other.candidate.part in taken:
                continue
            tie = " (as strong: the first in file order was taken)" if other.score == best.score else ""
            considered.append(f"{other.candidate.part.label} also answers {spec.id} "
                              f"({', '.join(other.why) or 'by its name'}); not taken: weaker signals "
                              f"than {best.candidate.part.label}{tie}")
        if len(considered) > MAX_CONSIDERED:
            considered = considered[:MAX_CONSIDERED] + [f"and {len(considered) - MAX_CONSIDERED} more "
                                                        f"parts that also answer {spec.id}"]
        reason = "; ".join(_reason(p, spec.id, w) for p, w in zip(parts, why))
        if considered:
            reason += "; chosen over " + ", ".join(c.split(" also answers")[0] for c in considered
                                                   if " also answers" in c) \
                      + " by the strongest signal" + (" (a tie: file order)" if any(
                          "as strong" in c for c in considered) else "")
        answers[spec.id] = Answer(spec.id, spec.task, tuple(parts), reason, tuple(considered))
    return Discovery(str(edition), answers, notes, {s.path: s.text for s in sources})


def _pair(best: _Judged, judged: list):
    """Q*.2.1 has two networks: the fine-tuned SqueezeNet and one trained from scratch, in the
    same part or in two files (run_q7_2_finetune.py + run_q7_2_scratch.py)."""
    sig = best.candidate.signals
    if not sig.squeezenet or sig.from_scratch:
        return [best.candidate.part], [best.why]
    scratch = next((j for j in judged[1:] if not j.candidate.signals.squeezenet
                    and j.candidate.signals.from_scratch), None)
    if scratch is None:
        return [best.candidate.part], [best.why]
    first = dataclasses.replace(best.candidate.part, role="fine-tuned SqueezeNet")
    second = dataclasses.replace(scratch.candidate.part, role="from scratch")
    return [first, second], [best.why + ["the fine-tuned SqueezeNet"], scratch.why + ["the network from scratch"]]


def _mapped(spec: Spec, entry, python_dir: Path, sources: list[Source]) -> Answer:
    file, part = entry
    rel = Path(file)
    if rel.is_absolute() or ".." in rel.parts:
        raise MapError(f"{spec.id}: the map's file {file!r} must be a path inside the submission")
    target = python_dir / rel
    if target.is_symlink() or not target.is_file():
        raise MapError(f"{spec.id}: the map names {file!r}, which the submission does not have "
                       f"(it has: {', '.join(s.path for s in sources) or 'no code'})")
    source = next((s for s in sources if s.path == rel.as_posix()), None)
    graded = Part(rel.as_posix())
    if part:
        m = re.fullmatch(r"\s*(?:lines?\s*)?(\d+)\s*-\s*(\d+)\s*", str(part))
        c = re.fullmatch(r"\s*cells?\s*(\d+)(?:\s*-\s*(\d+))?\s*", str(part))
        if c:
            first, last = int(c.group(1)), int(c.group(2) or c.group(1))
            graded = Part(rel.as_posix(), cells=tuple(range(first, last + 1)))
        elif m:
            graded = Part(rel.as_posix(), int(m.group(1)), int(m.group(2)))
        else:
            node = None
            if source is not None and source.tree is not None:
                node = next((n for n in source.tree.body if isinstance(
                    n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part), None)
            if node is None:
                raise MapError(f"{spec.id}: the map's part {part!r} is neither a line range "
                               f"('40-120'), cells ('cells 3-5') nor a function of {file}")
            first, last = _span([node])
            graded = Part(rel.as_posix(), first, last, node.name)
    return Answer(spec.id, spec.task, (graded,), f"{graded.label}: mapped by the TA's file -> {spec.id}",
                  by_map=True)


# -- the TA's map and the report ---------------------------------------------------------------
def load_map(path) -> dict:
    """A TA's mapping file (TOML or JSON): question -> file, [file, part] or {file, part}.

        "Q6.1.2" = "run_q6.py"
        "Q6.1.3" = ["run_q6.py", "40-120"]          # a line range, "cells 3-5" or a function
        "Q6.2.1" = { file = "nb.ipynb", part = "cells 9-14" }
    """
    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise MapError(f"{path}: cannot read the map ({err})") from None
    if not isinstance(data, dict):
        raise MapError(f"{path}: the map must be a table question -> file")
    out = {}
    for question, entry in data.items():
        if isinstance(entry, str):
            out[question] = (entry, None)
        elif isinstance(entry, list) and 1 <= len(entry) <= 2 and all(isinstance(e, str) for e in entry):
            out[question] = (entry[0], entry[1] if len(entry) == 2 else None)
        elif isinstance(entry, dict) and isinstance(entry.get("file"), str) and \
                isinstance(entry.get("part", ""), str) and set(entry) <= {"file", "part"}:
            out[question] = (entry["file"], entry.get("part") or None)
        else:
            raise MapError(f"{path}: {question} = {entry!r}: write a file name, [file, part] or "
                           "{ file = ..., part = ... }")
    return out


def describe(mapping: Mapping) -> list[str]:
    """The report's lines: which part was graded as which question, and why."""
    out = []
    for question, answer in mapping.items():
        if not answer.parts:
            out.append(f"Nothing graded as {question} ({answer.task}): {answer.reason.split(': ', 1)[1]}")
            continue
        for part in answer.parts:
            role = f" ({part.role})" if part.role else ""
            out.append(f"Graded {part.label} as {question}{role}: "
                       + answer.reason.split(f"{part.label}: ", 1)[-1].split(f" -> {question}")[0])
        for other in answer.considered:
            out.append(f"  {other}")
    for note in getattr(mapping, "notes", ()):
        out.append(f"Note: {note}")
    return out
