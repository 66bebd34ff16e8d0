"""The realistic corpus (tests/realistic/) graded as one batch per edition (issue 15, "Show it").

    python benchmarks/bench_corpus.py [--jobs 2] [--full] [--select EXPR]

Each realistic submission is composed as tests/suites/test_realistic.py composes it (its own files over
the edition's reference, REMOVED files taken out), then the 2022 ones and the 2019 ones are graded
by graders.staff.batch with every check (visibility all), the quick tier unless --full. Printed: per
submission its score and the job's seconds; per edition the batch's wall time, submissions per
minute and seconds per submission. Not a test: figures depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "suites")]

from graders.staff import batch  # noqa: E402
from test_realistic import REALISTIC_VERDICTS, submission  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="every tier (training and PyTorch included)")
    parser.add_argument("--select", default=None, help="a -k expression")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw5corpus-") as tmp:
        for edition in ("2022", "2019"):
            names = sorted(n for n, v in REALISTIC_VERDICTS.items() if v.edition == edition)
            subs = Path(tmp) / f"subs-{edition}"
            subs.mkdir()
            for name in names:
                python_dir = submission(Path(tmp) / "compose" / name, name, edition)
                root = python_dir.parent if python_dir.name == "python" else python_dir
                root.rename(subs / name)
            out = Path(tmp) / f"out-{edition}"
            options = batch.Options(edition=edition, quick=not args.full, select=args.select)
            start = time.perf_counter()
            report = batch.Batch(out, options, progress=False).run(subs, jobs=args.jobs)
            wall = time.perf_counter() - start
            print(f"edition {edition}: {len(names)} submissions, {'every tier' if args.full else 'quick tier'}, "
                  f"-j {args.jobs}")
            for summary in sorted(report["summaries"], key=lambda s: s["name"]):
                doc = batch.submission_out(out, summary["name"]) / "grade.json"
                grade = json.loads(doc.read_text()) if doc.is_file() else {}
                print(f"  {summary['name']:<32} {summary['status']:<10} {grade.get('score', '-'):>6}/"
                      f"{grade.get('max_score', '-'):<6} {summary.get('seconds') or 0:6.1f} s")
            print(f"  batch wall {wall:.1f} s: {60 * len(names) / wall:.1f} submissions/min, "
                  f"{wall / len(names):.1f} s per submission")


if __name__ == "__main__":
    main()
