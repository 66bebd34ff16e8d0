"""`hw5grade release --out DIR`: the student handout, built from an explicit allowlist.

What students receive: the stub tree as `python/` (student/python, checked to be what
graders.staff.stubs generates), the public checks (the graders package without the hidden suites and
without graders.staff.staff_solution, plus the fixtures package and its command), a tox.ini, a
pyproject.toml for the handout's package and a README. Nothing is copied from the repository
and then deleted: every file is named below or written here, so a new file in the repository
stays out of the handout until someone lists it.

Hidden suites (graders/suites/hidden_*.py) are left out by file. Their checks are declared in
the handout instead (`declared_<suite>.py`: marker and sentence, no code), so a student's public
score has the same maximum as the staff's public view and the report says hidden checks exist.

Before anything is written the build is verified: shipped code may import only shipped modules
(so the handout runs without reference/), no public suite holds a hidden check or loads the
reference, and after writing, no line of a solution block is found in any handout file.

Why one file this long: the handout is built from an explicit allowlist and the files written for
it (tox.ini, pyproject, README); one file keeps the whole list in view.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

import jinja2

from graders.pipeline import editions
from graders.checks import rubric as rubric_mod
from graders.checks import secret
from graders.checks import static
from graders.staff import stubs

REPO = stubs.REPO
GRADERS = REPO / "graders"
SUITES = GRADERS / "suites"
FIXTURES = REPO / "fixtures"

# The handout ships every module of graders/ but this folder's (graders/staff/: stubs, release,
# batch, the Gradescope bundle, similarity, the staff solution's loader); `hw5grade batch` in the
# handout then says the command is unavailable. Hidden suites are left out by file.
STAFF = GRADERS / "staff"
PACKAGE_DATA = {"graders": ("rubrics/*.toml", "given/*.py", "debug_pages/*.toml", "results/grade.schema.json"),
                "fixtures": ("annotations/*.json",)}
# at the top of the repository, as DESIGN.md lays it out; found beside the package (editable installs)
TOP_LEVEL_DATA = ("report_templates/*",)
HIDDEN_SUITE = "hidden_*.py"
DECLARED_PREFIX = "declared_"

# Lines of a solution block too common to prove a leak: punctuation only, a bare keyword, a call
# without arguments (print(), plt.figure()).
TRIVIAL = re.compile(r"[\W_]*|pass|return|break|continue|else:|try:|finally:|[\w.]+\(\)")
# Solution lines that public code also has for its own reasons (checked by hand); any other
# match stops the release.
COMMON_LINES = {
    "for line in lines:",               # any loop over text lines (fixtures/pages.py)
    "y1, x1, y2, x2 = box",             # unpacking a regionprops box (fixtures/glyphs.py)
    "pre_act = X @ W + b",              # the handout's own formula, quoted in a check's hint
    "with torch.no_grad():",            # any PyTorch inference (the worker's predictions, fixtures)
}


class ReleaseError(RuntimeError):
    """The handout cannot be built safely; nothing of it should be handed out."""


# ---------------------------------------------------------------------------------------------
# what goes in

def hidden_suites() -> list[Path]:
    return sorted(SUITES.glob(HIDDEN_SUITE))


def public_files() -> dict[str, Path]:
    """Handout path -> repository file, for every file copied as is."""
    files = {}
    hidden = set(hidden_suites())
    for path in sorted(GRADERS.rglob("*.py")):
        if not path.is_relative_to(STAFF) and path not in hidden:
            files[str(path.relative_to(REPO))] = path
    patterns = [(REPO / package, pattern) for package, pats in PACKAGE_DATA.items() for pattern in pats]
    for root, pattern in patterns + [(REPO, pattern) for pattern in TOP_LEVEL_DATA]:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                files[str(path.relative_to(REPO))] = path
    for path in sorted(FIXTURES.glob("*.py")):
        files[str(path.relative_to(REPO))] = path
    return files


def stub_files(edition: str = editions.BASE, scratch: Path | None = None) -> dict[str, Path]:
    """python/<file> -> its stub: student/python/<file> (checked to be current) for 2022, the
    stubs of the composed tree (graders.staff.stubs.student_tree, written under scratch) for
    another edition."""
    if edition == editions.BASE:
        problems = stubs.drift()
        if problems:
            raise ReleaseError("student/ differs from what `hw5grade stubs` generates; run it first:\n"
                               + "\n".join(problems))
        python = stubs.STUDENT / "python"
    else:
        python = stubs.student_tree(edition, Path(scratch) / "student")
    files = {f"python/{p.relative_to(python)}": p
             for p in sorted(python.rglob("*.py")) if "__pycache__" not in p.parts}
    # the handout's own copy of the files it gives, which replaces a student's edited one
    for name in static.GIVEN_FILES:
        files[f"graders/given/{name}"] = python / name
    return files


def declare_hidden(suite: Path) -> str:
    """A suite holding the hidden checks' markers and sentences, never their code: each skips if
    run, and --visibility public reports it as hidden-not-run."""
    out = [f'"""Hidden checks of {suite.stem.removeprefix("hidden_")}: declared so that scores leave '
           'room for them.\n\nTheir code compares with the staff solution and is run only by the '
           'course staff.\n"""', "import pytest", ""]
    for node in ast.parse(suite.read_text()).body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        markers = [d for d in node.decorator_list if _is_rubric_marker(d)]
        doc = ast.get_docstring(node) or node.name
        out += [""] + [f"@{ast.unparse(m)}" for m in markers] + [
            f"def {node.name}():", f"    {doc!r}",
            '    pytest.skip("hidden check: the course staff run it when they grade")', ""]
    return "\n".join(out)


def _is_rubric_marker(node) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(target) == "pytest.mark.rubric"


# ---------------------------------------------------------------------------------------------
# generated files

PYPROJECT = """\
# The student handout's package: the public checks and the `hw5grade` command they run with.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "hw5grade-handout"
version = {{ version | toml }}
description = "Public checks of the homework 'Neural Networks for Recognition'"
requires-python = {{ requires_python | toml }}
dependencies = [
{%- for dep in dependencies %}
    {{ dep | toml }},
{%- endfor %}
]

[project.optional-dependencies]
# the PyTorch part (Q6): `tox -e pytorch`
torch = {{ torch | toml }}

[project.scripts]
hw5grade = "graders.cli:main"

[project.entry-points.pytest11]
hw5grade = "graders.checks.plugin"

[tool.setuptools.packages.find]
include = ["graders*", "fixtures*"]

[tool.setuptools.package-data]
{%- for package, patterns in package_data.items() %}
{{ package }} = {{ patterns | list | toml }}
{%- endfor %}
"""

TOX_INI = """\
[tox]
requires = tox>=4.11
# `tox` alone grades python/ with the public checks
envlist = feedback

[testenv]
package = editable
setenv =
    # some machines point pip at a local wheel folder whose CPU-only torch breaks torchvision;
    # an empty value turns the variable off (a pip.conf of yours still applies)
    PIP_FIND_LINKS =
    MPLBACKEND = Agg
passenv =
    HOME
    HW5GRADE_CACHE
    XDG_CACHE_HOME

[testenv:feedback]
description = grade python/ with every public check (score table + feedback/report.html)
commands = hw5grade grade {toxinidir} --visibility public --out {toxinidir}/feedback {posargs}

[testenv:quick]
description = the same in seconds: every public check except training
commands = hw5grade grade {toxinidir} --visibility public --quick --out {toxinidir}/feedback {posargs}

[testenv:watch]
description = the quick checks again each time you save a file in python/ (Ctrl-C stops)
commands = hw5grade watch {toxinidir} --out {toxinidir}/feedback {posargs}

[testenv:pytorch]
description = the PyTorch part (Q6) with its public checks; installs torch and torchvision
extras = torch
commands = hw5grade grade {toxinidir} --visibility public -k q6 --out {toxinidir}/feedback-pytorch {posargs}
"""

README = """\
# {{ title }}: the public checks

Write your solution in `python/` ({{ numpy_files }}) where the files
say `your code here`. Put the course's `data/` and `images/` folders beside `python/` to run the
scripts yourself; the checks bring their own data.

## Getting feedback

1. Install tox, once (Python {{ requires_python }}): `python -m pip install tox`
2. In this folder, run

| command | what you get |
|---|---|
| `tox -e quick` | every public check except training, in a minute |
| `tox` | every public check, training included (a few minutes) |
| `tox -e pytorch` | the PyTorch part ({{ torch_part }}): installs torch and torchvision (several GB) the first time |
| `tox -e watch` | the quick checks again each time you save a file in `python/`, with what you fixed or broke |

The PyTorch part ({{ torch_part }}, extra credit) is {{ torch_files | length }} scripts, `python/{{ torch_files[0] }}` ... `{{ torch_files[-1] }}`.
Each reads its data from `../data` as the stubs do, plots its training loss and accuracy with
`plt.show()`, and saves its trained model with `torch.save(model.state_dict(), ...)` under the name
the stub gives (scripts of other names, a notebook, or a model left in a variable and not saved
are found and measured too; the report says which file was graded as which question). The checks
run each script once, then load the trained weights into the script's own model and measure its
accuracy on images it never saw. Without a network they use small stand-in
datasets and stand-in SqueezeNet weights made by the checks (the report says so).

The first run installs the checks' dependencies into `.tox/` and builds their synthetic data
(about a minute, cached in `~/.cache/hw5grade`). Each run prints a score table and writes
`feedback/report.html` (open it in a browser: every check, what it expected, what your code
gave, a hint, and your plots) and `feedback/grade.json`. Add `-- -k NAME` to run only the
checks whose name contains NAME, e.g. `tox -e quick -- -k softmax`.

## What is graded

| question | points | graded by |
|---|---|---|
{%- for q in questions %}
| {{ q.id }} {{ q.title }} | {{ "%g" % q.points }}{{ " (extra credit)" if q.extra_credit }} | {{ graded_by(q) }} |
{%- endfor %}

The checks run your code in a separate process with time limits, on fresh random inputs each
submission, so answers hard-coded for one input fail.

**Hidden checks exist.** Some checks (for example comparisons with the staff solution) are not
in this handout: the course staff run them when they grade, together with the questions graded
by hand. `tox` lists them as "hidden check: it exists and was not run"; a full score here is
therefore not a full grade.
"""


def render(template: str, **context) -> str:
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    # a JSON string or list of strings is a valid TOML one
    env.filters["toml"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env.from_string(template).render(**context)


def _checked_questions(texts) -> set[str]:
    """Questions that some shipped or declared check is tied to (by its rubric marker)."""
    found = set()
    for text in texts:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and _is_rubric_marker(node) and node.args \
                    and isinstance(node.args[0], ast.Constant):
                found.add(node.args[0].value)
    return found


def generated_files(edition: str = "2022") -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    rubric = rubric_mod.load(edition)
    declared = {f"graders/suites/{DECLARED_PREFIX}{suite.name}": declare_hidden(suite)
                for suite in hidden_suites()}
    hidden = set(hidden_suites())
    public = [p.read_text() for p in SUITES.glob("*.py") if p not in hidden]
    checked = _checked_questions(public + list(declared.values()))

    def graded_by(q) -> str:
        if q.kind == "hand":
            return "the course staff, by hand"
        if q.kind == "advisory":
            return "advice only (no points)"
        return "the checks" if q.id in checked else "not graded by this version of the checks"
    files = {
        "pyproject.toml": render(PYPROJECT, version=project["version"],
                                 requires_python=project["requires-python"],
                                 dependencies=project["dependencies"], package_data=PACKAGE_DATA,
                                 torch=project["optional-dependencies"]["torch"]),
        "tox.ini": TOX_INI if edition == editions.BASE else TOX_INI.replace(
            "hw5grade grade {toxinidir}", f"hw5grade grade {{toxinidir}} --edition {edition}").replace(
            "-k q6 ", "-k q6_pytorch ").replace("(Q6)", "(Q7)"),
        "README.md": render(README, title=rubric.title,
                            numpy_files=", ".join(f"`{f}`" for f in rubric.files["numpy"] if f not in static.GIVEN_FILES),
                            torch_part=rubric.files["pytorch"][0][len("run_"):].split("_")[0].upper(),
                            torch_files=rubric.files["pytorch"],
                            requires_python=project["requires-python"],
                            questions=list(rubric.questions.values()), graded_by=graded_by),
        **declared,
    }
    return files


# ---------------------------------------------------------------------------------------------
# verification

def imported_modules(source: str, package: str = "graders") -> set[str]:
    """Absolute names of the graders/fixtures modules a file imports; relative imports are
    resolved from `package`, the file's own (e.g. "graders.suites")."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = ".".join(filter(None, (parent, node.module)))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] in ("graders", "fixtures")}


def check_closure(texts: dict[str, str]) -> list[str]:
    """Imports of repository modules the handout does not ship (they would fail on a student's
    machine, or they are staff-only)."""
    shipped = {p.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
               for p in texts if p.endswith(".py")}
    problems = []
    for path, text in texts.items():
        if not path.endswith(".py") or path.startswith("python/"):
            continue
        for name in sorted(imported_modules(text, str(Path(path).parent).replace("/", "."))):
            in_repo = (REPO / (name.replace(".", "/") + ".py")).is_file() or \
                (REPO / name.replace(".", "/")).is_dir()
            if in_repo and name not in shipped:
                problems.append(f"{path} imports {name}, which the handout does not ship")
    return problems


def check_public_suites(texts: dict[str, str]) -> list[str]:
    """A shipped suite may not hold a non-declared hidden check nor load the staff solution."""
    problems = []
    for path, text in texts.items():
        if not path.startswith("graders/") or not path.endswith(".py"):
            continue
        if "graders.staff.staff_solution" in imported_modules(text) or "load_reference_module" in text:
            problems.append(f"{path} loads the staff solution")
        if path.startswith("graders/suites/") and not Path(path).name.startswith(DECLARED_PREFIX) \
                and re.search(r"visibility\s*=\s*[\"']hidden[\"']", text):
            problems.append(f"{path} holds a hidden check; hidden checks belong in {HIDDEN_SUITE}")
    return problems


def solution_lines(reference: Path = stubs.REFERENCE, student: Path = stubs.STUDENT) -> set[str]:
    """The lines that would give a solution away: in a solution block of reference/python, not
    trivial, and not also a line of the stubs (which students have anyway). reference and
    student are trees holding python/ (an edition's composed ones, for its handout)."""
    given = set()
    for path in (student / "python").rglob("*.py"):
        given.update(line.strip() for line in path.read_text().splitlines())
    found = set()
    for path in (reference / "python").rglob("*.py"):
        found.update(stubs.solution_lines(path.read_text()))
    return {line for line in found - given - COMMON_LINES if not TRIVIAL.fullmatch(line)}


def leaks(root: Path, lines: set[str] | None = None) -> list[str]:
    """`file:line: text` for every line of a handout file that holds a solution line."""
    lines = solution_lines() if lines is None else lines
    found = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue            # not a text file
        for n, line in enumerate(text.splitlines(), 1):
            if any(s in line for s in lines):
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


def check_no_key(root: Path) -> None:
    """Refuse a handout that holds the course key (graders.checks.secret): staff grading's photos and
    seeds would then be the student's to compute."""
    try:
        key = secret.staff_key()
    except secret.SecretError as err:
        raise ReleaseError(f"the course key cannot be read, so the handout cannot be checked for it: {err}") from None
    held = secret.holders(root, key) if key else []
    if held:
        raise ReleaseError("the course key is in the handout (it must stay with the staff): " + ", ".join(held))


# ---------------------------------------------------------------------------------------------

def build(out: Path, edition: str = "2022") -> list[Path]:
    """Write the handout into out (absent or empty); returns the files written."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty; the handout is written only into an empty folder")
    with tempfile.TemporaryDirectory(prefix="hw5grade-release-") as scratch:
        return _build(out, edition, Path(scratch))


def _build(out: Path, edition: str, scratch: Path) -> list[Path]:
    copies = {**public_files(), **stub_files(edition, scratch)}
    generated = generated_files(edition)
    lines = None
    if edition != editions.BASE:
        # the edition's own solutions and stubs: its composed reference against its stub tree
        lines = solution_lines(editions.compose(stubs.REFERENCE, edition, scratch / "reference").parent,
                               scratch / "student")
    texts = {**{k: p.read_text() for k, p in copies.items() if p.suffix == ".py"}, **generated}
    problems = check_closure(texts) + check_public_suites(texts)
    if problems:
        raise ReleaseError("the handout would be broken or unsafe:\n" + "\n".join(problems))
    # built beside out and moved into place only once verified: a failed build leaves nothing
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for rel, source in copies.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / rel)
        for rel, text in generated.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text)
        found = leaks(staging, lines)
        if found:
            raise ReleaseError("solution lines found in the handout:\n" + "\n".join(found[:20]))
        check_no_key(staging)
        staging.chmod(0o755)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(p for p in out.rglob("*") if p.is_file())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="an empty folder for the handout")
    parser.add_argument("--edition", default="2022")


def main(args: argparse.Namespace) -> int:
    try:
        written = build(Path(args.out), args.edition)
    except ReleaseError as err:
        print(f"hw5grade release: {err}", file=sys.stderr)
        return 1
    print(f"wrote the student handout to {args.out} ({len(written)} files); "
          f"students run `tox` there (see its README.md)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="hw5grade release", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
