"""`hw5grade similarity GRADES_DIR`: which submissions share code they wrote themselves. Staff only.

Pairwise similarity by copydetect's winnowing (Schleimer, Wilkerson and Aiken's MOSS algorithm):
each file is tokenised with Pygments and its names replaced (variables V, functions F, classes O,
strings S), so renamed variables and reordered functions still match; fingerprints of the stub
tree of the edition (graders.staff.stubs.student_tree: the starter code and the handout's given code)
are boilerplate and never count. A submission is read as the grader reads it (graders.pipeline.ingest:
a zip unpacked, a notebook reduced to the modules it defines), and compared file by file with
the same file of the other: nn.py with nn.py, q4.py with q4.py, each script with the same script.

A pair's similarity is, for each side, the share of its own code (after the boilerplate) that
the other also has; a pair is listed when either side is above the threshold. Its page shows
the two files side by side with the shared regions highlighted. This is evidence for a person
to weigh, never a verdict: short files, the handout's hints and common idioms match by
themselves. It is never part of a student's report or results.json: it is written under
GRADES_DIR/similarity/ and linked from the class overview only.

copydetect is an optional dependency (`pip install 'hw5grade[similarity]'`); without it the
command says so and the overview leaves the section out.
"""
from __future__ import annotations

import argparse
import html
import io
import itertools
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from graders.outputs import overview
from graders.outputs import report
from graders.results import document as results_doc

NOISE = 25            # copydetect's noise threshold: shared runs shorter than this never count
GUARANTEE = 30        # and its guarantee threshold: shared runs this long are always found
THRESHOLD = 0.5       # a pair is listed when either side shares at least this share of its own code
MIN_OWN = 120         # a side with fewer fingerprinted characters of its own is too short to judge
FOLDER = overview.SIMILARITY_FOLDER     # the overview reads what this module writes there
PAIRS = overview.SIMILARITY_PAIRS
INSTALL = "pip install 'hw5grade[similarity]' (copydetect)"


class SimilarityUnavailable(RuntimeError):
    pass


def _copydetect():
    try:
        import copydetect
        import copydetect.utils
    except ImportError:
        raise SimilarityUnavailable(f"copydetect is not installed: {INSTALL}") from None
    # copydetect hashes k-grams with Python's hash(), salted afresh in every process
    # (PYTHONHASHSEED): winnowing then keeps other fingerprints each run, and a pair's score
    # moved across the threshold between two gradings of the same class.
    copydetect.utils.hashed_kgrams = stable_kgram_hashes
    return copydetect


def stable_kgram_hashes(string: str, k: int):
    """The signed 64-bit BLAKE2b hash of every k-gram of `string`: the same in every process."""
    import hashlib

    import numpy as np
    return np.array([int.from_bytes(hashlib.blake2b(string[i:i + k].encode(), digest_size=8).digest(),
                                    "little", signed=True)
                     for i in range(len(string) - k + 1)], dtype=np.int64)


def normal_form(text: str) -> str:
    """The code as Python reads it (ast.unparse, docstrings left out): layout, comments,
    parentheses and quotes the same for everyone, so neither a formatter run on a copy nor the given code re-typed matters;
    text as it is when it does not parse."""
    import ast
    try:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            # a docstring is a comment: kept or dropped, the code is the same
            if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and node.body and isinstance(node.body[0], ast.Expr)
                    and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
        return ast.unparse(tree)
    except (SyntaxError, ValueError, RecursionError):
        return text


def fingerprint(name: str, text: str, boilerplate=()):
    """copydetect's fingerprint of one Python file held in memory, in its normal form."""
    cd = _copydetect()
    return cd.CodeFingerprint(name, NOISE, GUARANTEE - NOISE + 1, boilerplate=list(boilerplate),
                              fp=io.StringIO(normal_form(text)))


def boilerplate(edition: str = "2022") -> list[int]:
    """The fingerprints of the edition's stub tree: the code every student was given."""
    from graders.staff.stubs import student_tree
    hashes: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="hw5similar-") as work:
        for path in sorted(student_tree(edition, Path(work)).glob("*.py")):
            hashes |= set(fingerprint(path.name, path.read_text()).hashes)
    return sorted(hashes)


@dataclass
class FileMatch:
    file: str
    shares: tuple[float, float]        # each side's share of its own code found in the other
    own: tuple[int, int]               # each side's fingerprinted characters after the boilerplate
    html: tuple[str, str] = ("", "")   # each side's code, escaped, shared regions in <mark>


@dataclass
class Pair:
    a: str
    b: str
    files: list[FileMatch] = field(default_factory=list)

    @property
    def shares(self) -> tuple[float, float]:
        """Each side's share of its own code (all compared files together) that the other has."""
        out = []
        for side in (0, 1):
            own = sum(f.own[side] for f in self.files)
            out.append(sum(f.shares[side] * f.own[side] for f in self.files) / own if own else 0.0)
        return out[0], out[1]

    @property
    def score(self) -> float:
        return max(self.shares)

    @property
    def slug(self) -> str:
        return f"{quote(self.a, safe='')}--{quote(self.b, safe='')}.html"


def compare(codes: dict[str, dict[str, str]], base: list[int] = (), threshold: float = THRESHOLD) -> list[Pair]:
    """The pairs of `codes` ({submission: {file name: text}}) above the threshold, most similar first."""
    cd = _copydetect()
    prints = {who: {name: fingerprint(name, text, base) for name, text in files.items()}
              for who, files in codes.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(codes), 2):
        pair = Pair(a, b)
        for name in sorted(set(prints[a]) & set(prints[b])):
            fa, fb = prints[a][name], prints[b][name]
            own = (int(fa.token_coverage), int(fb.token_coverage))
            if min(own) < MIN_OWN:
                continue       # too little of their own in this file (a stub, a two-line script)
            _, shares, slices = cd.compare_files(fa, fb)
            match = FileMatch(name, (float(shares[0]), float(shares[1])), own)
            if match.shares[0] > 0 or match.shares[1] > 0:
                match.html = (marked(fa.raw_code, slices[0]), marked(fb.raw_code, slices[1]))
            pair.files.append(match)
        if pair.files and pair.score >= threshold:
            pairs.append(pair)
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def marked(code: str, slices) -> str:
    """code as HTML (the pair page shows it as it is): escaped, its shared regions in <mark>.
    copydetect's highlight_overlap returns code with no region as it is, unescaped, so that case
    is escaped here: a student's code never reaches the page as markup."""
    from copydetect.utils import highlight_overlap
    if len(slices) < 2 or not len(slices[0]):
        return html.escape(code)
    return highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0]


def submission_code(results: dict) -> dict[str, str]:
    """The .py files a graded submission holds, read from where the batch found it, as the grader
    reads them (graders.pipeline.ingest); {} when it is gone or cannot be read."""
    from graders.pipeline import ingest
    path = results.get("submission")
    if not path or not Path(path).exists():
        return {}
    with tempfile.TemporaryDirectory(prefix="hw5similar-") as work:
        try:
            prepared = ingest.prepare(ingest.submission_at(path), Path(work))
        except Exception:  # noqa: BLE001 -- IngestError, or worse: one submission's code is left out, never the batch
            return {}
        return {p.name: p.read_text(errors="replace") for p in sorted(prepared.folder.glob("python/*.py"))}


def batch_code(batch_dir) -> tuple[dict[str, dict[str, str]], list[str], str]:
    """({submission: {file: text}}, the submissions whose code could not be read, the edition)."""
    codes, missing, editions = {}, [], set()
    for name, results, _ in results_doc.load_batch(batch_dir):
        files = submission_code(results) if results else {}
        if results and results.get("edition"):
            editions.add(str(results["edition"]))
        if files:
            codes[name] = files
        else:
            missing.append(name)
    return codes, missing, (sorted(editions) or ["2022"])[0]


def write(batch_dir, pairs: list[Pair], missing: list[str], threshold: float) -> Path:
    """GRADES_DIR/similarity/index.html (the ranked pairs) and one side-by-side page per pair;
    GRADES_DIR/similarity/pairs.json, which the class overview reads."""
    folder = Path(batch_dir) / FOLDER
    folder.mkdir(exist_ok=True)
    env = report.environment()
    for old in folder.glob("*.html"):
        old.unlink()
    for pair in pairs:
        (folder / pair.slug).write_text(env.get_template("similarity_pair.html.j2").render(
            pair=pair, threshold=threshold), encoding="utf-8")
    summary = [{"a": p.a, "b": p.b, "score": round(p.score, 4), "shares": [round(s, 4) for s in p.shares],
                "files": [f.file for f in p.files if max(f.shares) > 0], "href": f"{FOLDER}/{p.slug}"}
               for p in pairs]
    (folder / PAIRS).write_text(json.dumps({"threshold": threshold, "pairs": summary,
                                                   "not_compared": missing}, indent=1))
    return folder / PAIRS


def refresh(batch_dir, threshold: float = THRESHOLD) -> tuple[list[Pair], dict, list[str]]:
    """Compare the batch's submissions as they are now and write the pages (what `hw5grade
    similarity` and a staff batch both do): (pairs, code compared, submissions not compared).
    Raises SimilarityUnavailable without copydetect."""
    codes, missing, edition = batch_code(batch_dir)
    pairs = compare(codes, boilerplate(edition), threshold)
    write(batch_dir, pairs, missing, threshold)
    return pairs, codes, missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("grades_dir", metavar="GRADES_DIR", help="a batch's output folder")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"list pairs where either side shares at least this share of its own code "
                             f"(default {THRESHOLD})")


def main(args: argparse.Namespace) -> int:
    batch_dir = Path(args.grades_dir)
    if not (batch_dir / results_doc.SUBMISSIONS).is_dir():
        print(f"hw5grade similarity: {batch_dir} is not a batch folder (no {results_doc.SUBMISSIONS}/ in it)",
              file=sys.stderr)
        return 2
    try:
        pairs, codes, missing = refresh(batch_dir, args.threshold)
    except SimilarityUnavailable as err:
        print(f"hw5grade similarity: {err}", file=sys.stderr)
        return 2
    overview.write_batch(batch_dir)
    print(f"{len(pairs)} pair(s) of {len(codes)} submissions at or above {args.threshold:g}: "
          f"{batch_dir / 'index.html'} (staff only)")
    for p in pairs:
        print(f"  {report.fmt_number(100 * p.score, 0)}%  {p.a} / {p.b}")
    if missing:
        print(f"  not compared (code not found where the batch read it): {', '.join(missing)}")
    return 0
