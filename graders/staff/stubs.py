"""Generate the student stub tree from the reference solution.

The reference marks every part a student writes with a pair of lines::

    # BEGIN SOLUTION
    ...
    # END SOLUTION

(in the spirit of Otter Assign and nbgrader). Each marked block becomes the handout's
"your code here" banner at the block's indentation, so the stub keeps the starter's given code
(the `res = None` before, the `return res` after) and returns what the handout's starter
returns. Where dropping a block would leave a suite empty (a loop whose whole body is the
solution), a `pass` keeps the stub importable.
"""
from __future__ import annotations

import argparse
import difflib
import re
import shutil
import sys
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
BANNER = (
    "##########################",
    "##### your code here #####",
    "##########################",
)

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference"
STUDENT = REPO / "student"


class MarkerError(ValueError):
    pass


def _blocks(lines: list[str], origin: str) -> list[tuple[int, int, str]]:
    """(begin line, end line, indent) of every marked block, 0-based and inclusive."""
    blocks, begin = [], None
    for i, line in enumerate(lines):
        m = BEGIN.match(line)
        if m:
            if begin is not None:
                raise MarkerError(f"{origin}:{i + 1}: BEGIN SOLUTION inside another block")
            begin, indent = i, m.group("indent")
        elif END.match(line):
            if begin is None:
                raise MarkerError(f"{origin}:{i + 1}: END SOLUTION without BEGIN")
            blocks.append((begin, i, indent))
            begin = None
    if begin is not None:
        raise MarkerError(f"{origin}:{begin + 1}: BEGIN SOLUTION is never closed")
    return blocks


def _render(lines, blocks, with_pass: set[int]) -> str:
    out, pos = [], 0
    for n, (begin, end, indent) in enumerate(blocks):
        out.extend(lines[pos:begin])
        out.extend(indent + b for b in BANNER)
        if n in with_pass:
            out.append(indent + "pass")
        pos = end + 1
    out.extend(lines[pos:])
    return "\n".join(out) + "\n"


def stub_source(source: str, origin: str = "<reference>") -> str:
    """The student's version of one reference file."""
    lines = source.splitlines()
    blocks = _blocks(lines, origin)
    if not blocks:
        return source
    with_pass: set[int] = set()
    while True:
        text = _render(lines, blocks, with_pass)
        try:
            compile(text, origin, "exec")
        except SyntaxError as err:
            # An empty suite is reported on the first line after it; the culprit is the last
            # block that starts before that line and has no `pass` yet.
            offset, culprit = 0, None
            for n, (begin, end, _) in enumerate(blocks):
                stub_line = begin + offset + len(BANNER)  # 0-based index of the banner's last line
                if stub_line < (err.lineno or 0) and n not in with_pass:
                    culprit = n
                offset += len(BANNER) + (n in with_pass) - (end - begin + 1)
            if culprit is None:
                raise MarkerError(f"{origin}: the stub does not compile: {err}") from err
            with_pass.add(culprit)
            continue
        # The error line can point past several blocks; keep only the passes that are needed.
        for n in sorted(with_pass):
            try:
                compile(_render(lines, blocks, with_pass - {n}), origin, "exec")
                with_pass = with_pass - {n}
            except SyntaxError:
                pass
        return _render(lines, blocks, with_pass)


def solution_lines(source: str) -> list[str]:
    """The non-blank lines inside solution blocks (used to prove nothing of them leaks)."""
    lines = source.splitlines()
    found = []
    for begin, end, _ in _blocks(lines, "<reference>"):
        found.extend(line.strip() for line in lines[begin + 1:end] if line.strip())
    return found


def _sources(root: Path) -> list[Path]:
    # python/ only: another edition's files (reference/2019/python) are stubbed when that
    # edition's tree is composed (graders.staff.stubs.student_tree), not committed
    return sorted(p for p in (root / "python").rglob("*.py") if "__pycache__" not in p.parts)


def generate(reference: Path = REFERENCE, student: Path = STUDENT) -> list[Path]:
    """Write the whole stub tree; returns the files written."""
    if student.exists():
        shutil.rmtree(student)
    written = []
    # Only sources: running a reference script leaves weights and caches beside it.
    for src in _sources(reference):
        dest = student / src.relative_to(reference)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(stub_source(src.read_text(), str(src.relative_to(reference))))
        written.append(dest)
    return written


def student_tree(edition: str, out: Path) -> Path:
    """out/python: the stubs of an edition (graders.pipeline.editions), from its composed reference."""
    from graders.pipeline import editions
    python_dir = editions.compose(REFERENCE, edition, out)
    for path in sorted(python_dir.glob("*.py")):
        path.write_text(stub_source(path.read_text(), path.name))
    return python_dir


def drift(reference: Path = REFERENCE, student: Path = STUDENT) -> list[str]:
    """Differences between the committed stub tree and what generate() would write."""
    problems = []
    expected = {p.relative_to(reference) for p in _sources(reference)}
    actual = {p.relative_to(student) for p in _sources(student)}
    for rel in sorted(actual - expected):
        problems.append(f"student/{rel} has no reference counterpart")
    for rel in sorted(expected):
        want = stub_source((reference / rel).read_text(), str(rel))
        path = student / rel
        have = path.read_text() if path.exists() else ""
        if want != have:
            diff = difflib.unified_diff(have.splitlines(), want.splitlines(),
                                        f"student/{rel}", f"generated/{rel}", lineterm="", n=1)
            problems.append("\n".join(list(diff)[:40]))
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="only report whether student/ matches what would be generated")


def main(args: argparse.Namespace) -> int:
    if args.check:
        problems = drift()
        for p in problems:
            print(p)
        print("student/ is up to date" if not problems else
              "student/ differs from the reference: run `hw5grade stubs`")
        return 1 if problems else 0
    for path in generate():
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
