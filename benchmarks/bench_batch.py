"""Throughput of `hw5grade batch` with one and two jobs, and the harness's own cost per submission.

    python benchmarks/bench_batch.py [--jobs 1 2] [--grade-jobs 0] [--select EXPR] [--copies N]

The same 8 submissions (the reference and 7 wrong ones from tests/wrong/, plain folders), quick
tier, graded by graders.staff.batch into a fresh folder for each -j value (so nothing is skipped as
unchanged). --copies N grades the set N times under other names (8 N submissions), so that -j 16
on 16 cores has at least two submissions per job. Each submission is graded in-process
(--grade-jobs 0, no xdist), so -j 1 uses one core and the ratio shows how the pool itself scales
(`hw5grade batch -j 1` alone would give each submission xdist workers on the other cores).
Printed per -j: wall time, submissions per minute; then the ratio of the last -j to the first
(aim >= 1.8 for -j 2 against -j 1 on two idle cores).

Overhead (aim < 0.5 s): from the -j 1 run, batch wall per submission minus the seconds student
code ran (grade.json timings.student_seconds: the sandbox's own sum of its calls' and scripts'
elapsed; a script's elapsed includes its worker's start-up, a call's does not). It is split into
what pytest and the checks add (grade.run's wall minus student seconds: session start,
collection, sandbox start-ups, the trusted side's evaluations) and what the batch adds around
grade.run (process pool, ingest, hashing, reports). Each job is also timed in its own process
(the summary's "seconds"): the median of job wall minus student code over the jobs after the
first is the steady cost of one more submission, measured directly.

A batch of 8 pays once for what a course's batch of hundreds pays once too: the pool's processes
start and import the libraries (a few seconds). So the -j 1 batch is timed again with each
submission twice (16), and the marginal overhead, (harness(16) - harness(8)) / 8 with harness =
batch wall minus all student seconds, is printed beside the average: what each further
submission costs beyond its own code; the rest is the batch's fixed start-up (skipped with
--copies above 1: the per-job medians measure the same cost without grading the set twice).
Not a test: figures depend on the machine, and two idle cores are assumed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import build_submission  # noqa: E402  (tests/conftest.py: reference + a patch)
from graders.staff import batch  # noqa: E402

WRONG = ("softmax_mutates", "removed_np_float", "bias_2d", "transposed_grad", "boxes_xy",
         "bw_inverted", "loss_mean")


def make_batch(root: Path, copies: int = 1) -> Path:
    for copy in range(copies):
        suffix = f"_{copy + 1}" if copies > 1 else ""
        build_submission(root / f"reference{suffix}")
        for name in WRONG:
            build_submission(root / f"{name}{suffix}", REPO / "tests" / "wrong" / name)
    return root


def run(subs: Path, out: Path, jobs: int, grade_jobs: int, select: str | None) -> tuple[float, list[dict]]:
    """(the batch's wall time, each submission's grade.json with the job's own wall time added
    as timings.job_seconds), in the order the jobs were handed out."""
    options = batch.Options(quick=True, select=select, grade_jobs=grade_jobs)
    start = time.perf_counter()
    report = batch.Batch(out, options, progress=False).run(subs, jobs=jobs)
    wall = time.perf_counter() - start
    failed = [s for s in report["summaries"] if s["status"] != "graded"]
    if failed:
        raise SystemExit(f"-j {jobs}: not graded: {failed}")
    grades = []
    for summary in report["summaries"]:
        grade = json.loads((batch.submission_out(out, summary["name"]) / "grade.json").read_text())
        grade["timings"]["job_seconds"] = summary["seconds"]
        grades.append(grade)
    return wall, grades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="-j values to time")
    parser.add_argument("--grade-jobs", type=int, default=0, help="xdist workers per submission")
    parser.add_argument("--select", default=None, help="a -k expression (default: the whole quick tier)")
    parser.add_argument("--copies", type=int, default=1, metavar="N",
                        help="grade the submission set N times under other names (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw5bench-") as tmp:
        subs = make_batch(Path(tmp) / "subs", copies=args.copies)
        n = len(list(subs.iterdir()))
        timed = {jobs: run(subs, Path(tmp) / f"out{jobs}", jobs, args.grade_jobs, args.select)
                 for jobs in args.jobs}
        doubled = None
        if 1 in timed and args.grade_jobs <= 1 and args.copies == 1:
            doubled = run(make_batch(Path(tmp) / "subs2", copies=2), Path(tmp) / "out1x2", 1,
                          args.grade_jobs, args.select)

    print(f"{n} submissions, quick tier{f', -k {args.select!r}' if args.select else ''}, "
          f"{batch.cores()} cores")
    for jobs, (wall, grades) in timed.items():
        per_grade = args.grade_jobs
        print(f"-j {jobs} ({'in-process' if per_grade <= 1 else f'xdist -n {per_grade}'} per submission): "
              f"{wall:.1f} s, {60 * n / wall:.1f} submissions/min")
    first, last = args.jobs[0], args.jobs[-1]
    if first != last:
        print(f"throughput -j {last} / -j {first}: {timed[first][0] / timed[last][0]:.2f}x")
    one = timed.get(1)
    if one and args.grade_jobs <= 1:
        wall, grades = one
        student = statistics.mean(g["timings"]["student_seconds"] for g in grades)
        graded = statistics.mean(g["timings"]["wall_seconds"] for g in grades)
        per_sub = wall / n
        print(f"-j 1 per submission: batch wall {per_sub:.2f} s, student code {student:.2f} s, "
              f"overhead {per_sub - student:.2f} s (grade.run beyond student code "
              f"{graded - student:.2f} s + batch around grade.run {per_sub - graded:.2f} s)")
        # each job timed in its process: what one more submission costs once the process is
        # warm (the first job imports the libraries and fills the caches: the fixed start-up)
        own = [g["timings"]["job_seconds"] - g["timings"]["student_seconds"] for g in grades]
        print(f"-j 1 per job, the job's own wall minus student code: first job {own[0]:.2f} s; "
              f"the other {len(own) - 1}: median {statistics.median(own[1:]):.2f} s, "
              f"max {max(own[1:]):.2f} s")
        if doubled:
            wall2, grades2 = doubled
            # the harness's time in each batch (wall minus all student code), and what the 8
            # more submissions added to it: the student code of the two runs differs by a few
            # tenths of a second, which a difference of walls alone would count as overhead
            harness = wall - n * student
            harness2 = wall2 - sum(g["timings"]["student_seconds"] for g in grades2)
            marginal = (harness2 - harness) / n
            print(f"-j 1 marginal per submission ({2 * n} against {n}): {(wall2 - wall) / n:.2f} s "
                  f"of wall, of which harness {marginal:.2f} s; the batch's fixed start-up "
                  f"{harness - n * marginal:.1f} s")


if __name__ == "__main__":
    main()
