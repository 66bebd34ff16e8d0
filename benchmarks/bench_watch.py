"""The student's loop (issue 19): seconds to the first question's result, and from a saved
one-line change in nn.py to its summary in watch mode.

    python benchmarks/bench_watch.py [--runs 5]

First result: `hw5grade grade` in-process (as `tox` runs it) of the reference and of the stubs,
timed from the call to the first question whose checks have all reported (graders.checks.plugin.PROGRESS;
the quick checks run first), aim: under 3 s on two cores.

The reference is graded once (every quick check, what `hw5grade watch` does first), then nn.py is
saved with one line changed and restored, --runs times each; each regrade runs the checks of the
suites that read nn.py (Q2), in the same process with a spare sandbox ready. Printed: the first
grade's time and the median regrade (aim: under 2 s on two cores). Not a test: figures depend on
the machine and its load.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from conftest import build_submission  # noqa: E402
from graders.pipeline import grade  # noqa: E402
from graders.checks import plugin
from graders.staff import stubs
from graders.pipeline import watch


def first_result(python_dir: Path, out: Path) -> tuple[float, str]:
    """Seconds from grade.run's start to the first question's result, and that question."""
    told = []
    plugin.PROGRESS = lambda question, passed, run: told.append((time.perf_counter(), question))
    start = time.perf_counter()
    try:
        grade.run(python_dir, out, visibility="public", quick=True)
    finally:
        plugin.PROGRESS = None
    return told[0][0] - start, told[0][1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, tree in (("reference", REPO / "reference" / "python"),
                            ("stubs", stubs.student_tree("2022", Path(tmp) / "stubs"))):
            seconds, question = first_result(tree, Path(tmp) / f"first-{label}")
            print(f"first question's result, {label}: {seconds:.2f} s ({question}); aim < 3 s")
        python = build_submission(Path(tmp) / "student")
        nn = python / "nn.py"
        good = nn.read_text()
        stamps = []

        def saves():
            for i in range(opts.runs):
                nn.write_text(good + f"\n# edit {i}\n")
                stamps.append(time.perf_counter())
                yield {"nn.py"}

        printed, ends = [], []

        def emit(text):
            ends.append(time.perf_counter())
            printed.append(text)

        start = time.perf_counter()
        watch.watch(python.parent, Path(tmp) / "out", changed_files=saves(), emit=emit)
        first = ends[0] - start
        regrades = [end - stamp for stamp, end in zip(stamps, ends[1:])]
        print(f"first grade (every quick check): {first:.1f} s")
        print(f"regrade after a one-line change in nn.py: {statistics.median(regrades):.2f} s "
              f"(median of {len(regrades)}: {', '.join(f'{r:.2f}' for r in regrades)}); aim < 2 s")


if __name__ == "__main__":
    main()
