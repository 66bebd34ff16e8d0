"""Static checks of a submission's source: parsed with `ast`, never imported or run.

- which libraries the NumPy part imports (the handout allows numpy, scipy, scikit-image,
  matplotlib and the standard library; PyTorch only in the PyTorch part);
- code outside functions in nn.py (the starter says "do not put any code outside of functions");
- names that current NumPy and scikit-image removed, with the modern spelling, so that a
  submission written against 2019's libraries gets a plain-words hint instead of a bare
  AttributeError.
"""
from __future__ import annotations

import ast
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from graders.sandbox.shipped import repairs

# mpl_toolkits and pylab ship with matplotlib (the starter run_q3.py uses mpl_toolkits.axes_grid1)
ALLOWED_LIBRARIES = {"numpy", "scipy", "skimage", "matplotlib", "mpl_toolkits", "pylab"}
# Files of the NumPy part; the PyTorch part (run_q6*.py, run_q7*.py) may import torch.
NUMPY_PART = ("nn.py", "util.py", "q4.py", "run_q2.py", "run_q3.py", "run_q4.py", "run_q5.py")
# The functions the handout's nn.py and q4.py define (sigmoid_deriv is given, the rest written).
NN_FUNCTIONS = ("initialize_weights", "sigmoid", "forward", "softmax", "compute_loss_and_acc",
                "sigmoid_deriv", "backwards", "get_random_batches")
Q4_FUNCTIONS = ("findLetters",)
# Files the handout gives: the harness uses its own copy, so the student's is not judged.
GIVEN_FILES = ("util.py",)
STUDENT_FILES = tuple(f for f in NUMPY_PART if f not in GIVEN_FILES)


def student_files(rubric) -> tuple[str, ...]:
    """The NumPy part's files the student writes, as the edition's rubric lists them (2019's
    has run_q6.py, its PCA)."""
    return tuple(f for f in rubric.files.get("numpy", NUMPY_PART) if f not in GIVEN_FILES)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    text: str
    kind: str = ""      # a removed name's repair kind (graders/sandbox/shipped/repairs.py KINDS)

    def __str__(self):
        return f"{self.file}, line {self.line}: {self.text}"


def python_folder(path: Path) -> Path:
    """A submission's python/ folder: path/python when there is one, else path itself."""
    path = Path(path).resolve()
    return path / "python" if (path / "python").is_dir() else path


def parse(path: Path) -> ast.Module:
    return parse_source(Path(path).read_bytes(), str(path))


def parse_source(source, filename: str = "<unknown>") -> ast.Module:
    """ast.parse of a student's text, where a text the parser cannot take (nested thousands deep,
    null bytes, too large) raises SyntaxError like any other unreadable file: the student's
    failure, with a message, never a crash of the grader (the grading process parses from deeper
    in its stack than the sandbox's import, so a file can import there and not parse here)."""
    try:
        return ast.parse(source, filename=filename)
    except (RecursionError, MemoryError, ValueError) as err:
        raise SyntaxError(f"{filename} could not be read by the grader's parser ({type(err).__name__}: "
                          "nested too deeply, too large, or holding null bytes)") from None


def _imports_of(node):
    """(line, top-level module name) of an absolute import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield node.lineno, alias.name.split(".")[0]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.lineno, node.module.split(".")[0]


@dataclass(frozen=True)
class Scan:
    imports: tuple       # (line, module) as imported_modules gives them
    drift: tuple         # Findings of removed library names


def scan(path: Path) -> Scan:
    """What the import and drift checks read from one file, found in one walk of its tree
    (both checks of a grade ask; the file is parsed and walked once). SyntaxError propagates."""
    path = Path(path)
    return _scan(path.read_bytes(), path.name)


@functools.lru_cache(maxsize=32)
def _scan(source: bytes, name: str) -> Scan:
    imports, drift = [], []
    for node in ast.walk(parse_source(source, name)):
        imports.extend(_imports_of(node))
        finding = _drift_of(node, name)
        if finding:
            drift.append(finding)
    return Scan(tuple(imports), tuple(sorted(set(drift), key=lambda f: (f.file, f.line, f.text))))


def forbidden_imports(python_dir: Path, files=STUDENT_FILES) -> list[Finding]:
    # the harness supplies the given files (util.py) even when a zip or notebook left them out
    own = {p.stem for p in Path(python_dir).glob("*.py")} | {Path(f).stem for f in GIVEN_FILES}
    allowed = ALLOWED_LIBRARIES | set(sys.stdlib_module_names) | own
    found = []
    for name in files:
        path = Path(python_dir) / name
        if not path.exists():
            continue
        try:
            imports = scan(path).imports
        except SyntaxError:
            continue      # the import check reports syntax errors
        found += [Finding(name, line, f"imports {module}")
                  for line, module in imports if module not in allowed]
    return found


def _is_constant(node) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def _is_main_guard(node) -> bool:
    # `if __name__ == "__main__":` never runs when the module is imported, so it is allowed
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def code_outside_functions(path: Path) -> list[Finding]:
    """Top-level statements other than imports, definitions, docstrings and constants."""
    found = []
    source_lines = Path(path).read_text(errors="replace").splitlines()
    for node in parse(path).body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)) or _is_main_guard(node):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
                and all(isinstance(t, ast.Name) for t in targets) and _is_constant(node.value)):
            continue      # NAME = literal: a constant
        found.append(Finding(Path(path).name, node.lineno, source_lines[node.lineno - 1].strip()[:80]))
    return found


# Removed names: one table, graders/sandbox/shipped/repairs.py's (the sandbox repairs what this check names).
# Only names and keywords no current code spells otherwise are looked for in the source: a
# student's own `max_iter=` or `hold` variable is not a removed name.
STATIC_KEYWORDS = ("multichannel", "selem", "as_grey")
STATIC_NAMES = ("rgb2grey", "grey2rgb", "compare_psnr", "compare_ssim", "compare_mse", "compare_nrmse",
                "greycomatrix", "greycoprops", "imresize")
REMOVED_NUMPY_ALIASES = {old: new for old, (new, _, _) in repairs.NUMPY_REMOVED.items()}
REMOVED_KEYWORDS = {old: f"{text}; {old}= was removed in {release}"
                    for old, (_, _, release, text) in repairs.KEYWORDS_REMOVED.items()}
REMOVED_NAMES = {old: f"{new}; {module.split('.')[0]}'s {old} was removed in {release}"
                 for (module, old), (new, release, _) in repairs.NAMES_REMOVED.items()}
NAME_KIND = {old: repairs.KIND_OF_MODULE[module.split(".")[0]] for (module, old) in repairs.NAMES_REMOVED}
NUMPY_NAMES = {"np", "numpy"}


def _numpy_removed(attr: str) -> str:
    new, release, _ = repairs.NUMPY_REMOVED[attr]
    return f"np.{attr} was removed in {release}: use {new}"


def drift_findings(path: Path) -> list[Finding]:
    """Uses of names that current NumPy / scikit-image removed, with the modern spelling."""
    return list(scan(path).drift)


def _drift_of(node, name: str) -> Finding | None:
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in NUMPY_NAMES and node.attr in REMOVED_NUMPY_ALIASES):
        return Finding(name, node.lineno, _numpy_removed(node.attr), "numpy")
    if isinstance(node, ast.keyword) and node.arg in STATIC_KEYWORDS:
        return Finding(name, getattr(node, "lineno", 0) or 0,
                       f"{node.arg}= : use {REMOVED_KEYWORDS[node.arg]}", repairs.KEYWORD_KIND[node.arg])
    if isinstance(node, ast.Call) and _called_name(node) == "label" and any(
            k.arg == "neighbors" for k in node.keywords):
        return Finding(name, node.lineno,
                       "label(neighbors=...) : use connectivity= (neighbors=4 is "
                       "connectivity=1, neighbors=8 is connectivity=2); neighbors= was "
                       "removed in scikit-image 0.18", "scikit-image")
    ident = (node.attr if isinstance(node, ast.Attribute)
             else node.id if isinstance(node, ast.Name)
             else node.name.split(".")[-1] if isinstance(node, ast.alias)
             else None)
    if ident in STATIC_NAMES:
        return Finding(name, getattr(node, "lineno", 0) or 0, f"{ident} : use {REMOVED_NAMES[ident]}",
                       NAME_KIND[ident])
    return None


def removed_names_in(python_dir: Path, files=STUDENT_FILES) -> list[Finding]:
    """The removed names the grader's own reading of the files finds (a file that does not parse
    is left to the checks that import it)."""
    found = []
    for name in files:
        path = Path(python_dir) / name
        if path.is_file():
            try:
                found += drift_findings(path)
            except (SyntaxError, ValueError):
                continue
    return found


def _called_name(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


_ERROR_PATTERNS = [
    (re.compile(r"module 'numpy' has no attribute '(\w+)'"),
     lambda m: _numpy_removed(m.group(1)) if m.group(1) in REMOVED_NUMPY_ALIASES else None),
    (re.compile(r"unexpected keyword argument '(\w+)'"),
     lambda m: f"use {REMOVED_KEYWORDS[m.group(1)]}" if m.group(1) in REMOVED_KEYWORDS else None),
    (re.compile(r"cannot import name '(\w+)'|has no attribute '(\w+)'"),
     lambda m: (f"use {REMOVED_NAMES[m.group(1) or m.group(2)]}"
                if (m.group(1) or m.group(2)) in REMOVED_NAMES else None)),
]


def drift_hints_for_error(message: str) -> list[str]:
    """Plain-words hints for an error message caused by a removed library name."""
    hints = []
    for pattern, hint in _ERROR_PATTERNS:
        m = pattern.search(message)
        if m and hint(m):
            hints.append(hint(m))
    return hints


PCA_SCRIPT = "run_q6.py"
# a call that factorises a matrix, as a PCA by SVD or by the covariance's eigenvectors does
_FACTORISES = re.compile(r"\b(svd|eigh?|PCA)\s*\(")


def pca_script(python_dir: Path) -> str:
    """The file that holds the PCA: run_q6.py, as the stubs name it; the 2019 handout names no
    file, so otherwise the script that factorises a matrix (an SVD or eigenvectors) and imports
    no PyTorch, by name: one named for Q6 or PCA first, then run_q5.py (the PCA written after the
    autoencoder it is compared with), then the others."""
    if (python_dir / PCA_SCRIPT).is_file():
        return PCA_SCRIPT
    found = []
    for path in sorted(python_dir.glob("*.py")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if _FACTORISES.search(text) and not re.search(r"^\s*(import|from)\s+torch", text, re.M):
            name = path.name.lower()
            found.append((0 if ("6" in name or "pca" in name) else 1 if name == "run_q5.py" else 2, path.name))
    return min(found)[1] if found else PCA_SCRIPT
