"""The student's quick feedback loop: the quick tier's wall time on the reference, and the cost
of one sandbox call (the unit every check pays).

    python benchmarks/bench_quick.py [--runs 3]

Aims (issue 3): quick tier under 10 s on 2 cores; a sandbox call under 2 ms.
Not a test: figures depend on the machine and its load.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_sandbox import NN, bench  # noqa: E402
from graders.pipeline import grade  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        walls, score = [], None
        for i in range(opts.runs):
            start = time.perf_counter()
            results = grade.run(REPO / "reference" / "python", Path(tmp) / f"quick{i}", quick=True)
            walls.append(time.perf_counter() - start)
            score = f"{results['score']:g}/{results['max_score']:g}"
        print(f"quick tier on the reference: {statistics.median(walls):.1f} s "
              f"(median of {opts.runs}; each run {', '.join(f'{w:.1f}' for w in walls)} s), score {score}")
        python_dir = Path(tmp) / "python"
        python_dir.mkdir()
        (python_dir / "nn.py").write_text(NN)
        call_ms, start_ms = bench(python_dir, "auto", calls=300, starts=5)
        print(f"one sandbox call: {call_ms:.2f} ms (median of 300); worker start-up {start_ms:.0f} ms")


if __name__ == "__main__":
    main()
