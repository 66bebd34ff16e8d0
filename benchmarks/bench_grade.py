"""Wall time of a full grade of the reference against running its scripts bare.

    python benchmarks/bench_grade.py [--data-dir DIR] [--jobs 0 2] [--repeat 1]

Bare: `python run_q2.py`, run_q3.py, run_q4.py, run_q5.py from a laid-out copy of reference/python
(data/ and images/ beside it), one BLAS thread as in the sandbox, figures to Agg. Sequentially,
and on two lanes side by side (run_q2, run_q3, run_q4 | run_q5), which is how `grade -n 2`
spreads them (loadgroup: the q3 group and the q5 group train on separate workers).
Grade: graders.pipeline.grade.run on the reference, every check, for each --jobs value. The overhead is
grade / bare - 1 against the matching baseline (sequential for -n 0, two lanes for -n 2); it
includes the checks' own work (Q2's unit checks, findLetters on the pages, the trusted
evaluation), not only the sandbox. Not a test: it prints figures for the README.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from graders.pipeline import grade  # noqa: E402
from graders.suites.conftest import course_data_dirs  # noqa: E402
from support import lay_out  # noqa: E402  (tests/support.py: a student's layout)

SCRIPTS = ("run_q2.py", "run_q3.py", "run_q4.py", "run_q5.py")
LANES = (("run_q2.py", "run_q3.py", "run_q4.py"), ("run_q5.py",))
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def run_bare(python_dir: Path, scripts) -> dict[str, float]:
    times = {}
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0", **THREADS)
    for script in scripts:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, script], cwd=python_dir, env=env,
                              capture_output=True, text=True)
        times[script] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{script} failed bare:\n{done.stderr[-2000:]}")
    return times


def bare_copy(root: Path, data: Path, images: Path) -> Path:
    return lay_out(root, REPO / "reference" / "python", data, images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="course data (default: the synthetic profile)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[0, 2], help="grade -n values to time")
    args = parser.parse_args()
    data, images = course_data_dirs(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="hw5bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        sequential = run_bare(bare_copy(tmp / "seq", data, images), SCRIPTS)
        seq_total = time.perf_counter() - start

        lanes_dir = [bare_copy(tmp / f"lane{i}", data, images) for i in range(len(LANES))]
        start = time.perf_counter()
        with ThreadPoolExecutor(len(LANES)) as pool:
            list(pool.map(run_bare, lanes_dir, LANES))
        lanes_total = time.perf_counter() - start

        graded = {}
        for jobs in args.jobs:
            start = time.perf_counter()
            results = grade.run(REPO / "reference" / "python", tmp / f"grade{jobs}",
                                data_dir=args.data_dir, jobs=jobs)
            graded[jobs] = (time.perf_counter() - start, results)

    print(f"data: {data}")
    print("bare, sequential: " + ", ".join(f"{k} {v:.1f} s" for k, v in sequential.items())
          + f"; total {seq_total:.1f} s")
    print(f"bare, two lanes ({' + '.join(LANES[0])} | {' + '.join(LANES[1])}): {lanes_total:.1f} s")
    for jobs, (seconds, results) in graded.items():
        base = seq_total if jobs <= 1 else lanes_total
        label = "sequential" if jobs <= 1 else "two lanes"
        print(f"grade -n {jobs}: {seconds:.1f} s, score {results['score']:g}/{results['max_score']:g}, "
              f"overhead {seconds / base - 1:+.1%} against bare {label} ({base:.1f} s)")


if __name__ == "__main__":
    main()
