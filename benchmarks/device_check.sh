#!/usr/bin/env bash
# One run on a lent machine of many cores (the `run` device tool's nvidia-h200: 16 cores, no
# bubblewrap, no network): does the harness grade the same way twice there, and how does a batch
# scale on 16 cores (issues 14 and 16). Everything it learns lands in $OUT (summary.txt,
# logs.tar.gz, repeat.json, bench.json); the last lines it prints are the summary.
#
#   bash benchmarks/device_check.sh          # on the device machine, from the repository root
#   bash benchmarks/device_check.sh --dry    # here: stage 1 into a temporary prefix, tiny grades
#
# What it needs beside the working tree (carried, ignored by .git/info/exclude):
#   .whl/    cp312 wheels of what pyproject.toml needs and that machine lacks (pip picks only
#            those missing or too old there; --no-index, nothing is downloaded)
#   .bwrap/  bubblewrap, prlimit and git (git apply makes the benchmark's wrong submissions) with
#            the shared libraries they link, installed only where the machine has none
# Stages, each under its own time cap and all under DEVICE_CHECK_SECONDS (default 530):
#   1 env     wheels, tools, whether bubblewrap can make a sandbox there
#   2 data    the public, staff and PyTorch fixtures, and the staff held-out sets, side by side
#   3 repeat  the reference graded six times at once (3 public seed, 3 staff key, -n 2 each) and
#             the stubs once (public): identical verdicts per mode? every stub check explained?
#   gpu       (only when named in DEVICE_CHECK_STAGES, on a machine with NVIDIA GPUs) the
#             reference's PyTorch part graded on the GPUs and with HW5GRADE_GPUS=none side by side:
#             where each script ran, verdicts, times (issue 16, item 4)
#   4 bench   benchmarks/bench_batch.py's batch at -j 16, 1, 8, 4, as far as the time left allows
# Settings: DEVICE_CHECK_SECONDS (the whole, default 530), DEVICE_CHECK_STAGES (of "data repeat
# gpu bench"), DEVICE_CHECK_BENCH (the bench's arguments); FORCE_LOADER, FORCE_UNISOLATED and
# FORCE_TARGET try the fallbacks here.
set -o pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
export PYTHONPATH=$ROOT

DRY=0
[[ ${1:-} == --dry ]] && DRY=1
START=$(date +%s)
DEADLINE=$((START + ${DEVICE_CHECK_SECONDS:-530}))
export DEADLINE
left() { echo $((DEADLINE - $(date +%s))); }
# cap WANT [RESERVE]: WANT seconds, or what is left before the deadline less RESERVE
cap() {
    local want=$1 room=$(($(left) - ${2:-0}))
    ((room < want)) && want=$room
    ((want < 5)) && want=5
    echo "$want"
}

OUT=${OUT:-/tmp/device_check_out}
mkdir -p "$OUT"
W=$(mktemp -d /tmp/device_check.XXXXXX)
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
# the logs and grade documents so far, in one file (at most 8 files come back from $OUT)
pack() {
    (cd "$W" && find . -type f \( -name '*.json' -o -name '*.log' -o -name '*.out' -o -name '*.txt' \) \
        -size -8M -print0 | tar --null -T - -czf "$OUT/logs.tar.gz.part") &&
        mv "$OUT/logs.tar.gz.part" "$OUT/logs.tar.gz"
}
trap pack EXIT
# timed NAME SECONDS CMD...: run CMD under a time limit into $W/NAME.log; a line in $W/NAME.rc
timed() {
    local name=$1 limit=$2 t0 rc ms
    shift 2
    t0=$(date +%s%N)
    timeout -k 10 "$limit" "$@" >"$W/$name.log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    printf '%s rc=%s seconds=%d.%d%s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100)) \
        "$( ((rc == 124 || rc == 137)) && echo " (stopped at its limit of ${limit}s)")" >"$W/$name.rc"
    return $rc
}
stage() { say "== stage $1 ($(($(date +%s) - START)) s in, $(left) s left)"; }
# DEVICE_CHECK_STAGES: which of data, repeat, bench run (stage 1 always does);
# DEVICE_CHECK_BENCH: the bench driver's arguments (default --jobs 16 1 8 4 --copies 4)
STAGES=" ${DEVICE_CHECK_STAGES:-data repeat bench} "
((DRY)) && [[ -z ${DEVICE_CHECK_STAGES:-} ]] && STAGES=" repeat bench "
want() { [[ $STAGES == *" $1 "* ]]; }

if ((DRY)); then
    PY=${DRY_PYTHON:-$ROOT/.tox/tests/bin/python}
    PREFIX=$W/prefix                    # tools go here instead of /usr/local
else
    PY=python3
    PREFIX=/usr/local
    mkdir -p "$PREFIX/bin" 2>/dev/null && [[ -w $PREFIX/bin ]] || PREFIX=/tmp/hw5grade-tools
    export HW5GRADE_CACHE=/tmp/hw5grade-cache
fi
export PATH=$PREFIX/bin:$PATH
# A fixed course key: the staff runs draw their photos, held-out sets and seeds from it.
export HW5GRADE_SECRET=5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed0f5eed
ISOLATED=0

# ---------------------------------------------------------------------------------------------
stage "1 env"
{
    echo "date: $(date -u +%FT%TZ)  kernel: $(uname -r)  cores: $(nproc)  memory: $(free -g | awk '/Mem:/{print $2}') GiB"
    echo "user: $(id -un)  cgroup: $(cat /proc/self/cgroup 2>/dev/null | tr '\n' ' ')  fs: $(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
    echo "user namespaces: max_user_namespaces=$(cat /proc/sys/user/max_user_namespaces 2>/dev/null)"
    command -v nvidia-smi >/dev/null && nvidia-smi -L
    $PY -c "import sys; print('python', sys.version.split()[0], sys.executable)"
    $PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tail -1
} 2>&1 | tee -a "$SUMMARY"

"$PY" - >"$W/requirements.txt" <<'EOF'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
EOF
if ((DRY)); then
    # the wheels are cp312: a bare Python 3.12 venv stands in for the machine's (which already
    # holds numpy, scipy, torch...: their absence here is expected and reported)
    IPY_BASE=${DRY_PY312:-$(pyenv prefix 3.12.1 2>/dev/null)/bin/python3}
    "$IPY_BASE" -m venv "$W/venv" && IPY=$W/venv/bin/python
else
    IPY=$PY
fi
# Into the interpreter's own site-packages, which the sandbox mounts (a PYTHONPATH folder under
# /tmp would be the grader's alone); where it is read-only, into a folder on PYTHONPATH.
TARGET=()
if [[ ${FORCE_TARGET:-0} == 1 ]] ||
    ! "$IPY" -c "import os, sys, sysconfig; sys.exit(not os.access(sysconfig.get_paths()['purelib'], os.W_OK))"; then
    TARGET=(--target /tmp/hw5grade-site)
    export PYTHONPATH=$ROOT:/tmp/hw5grade-site
    say "wheels: site-packages is read-only: into /tmp/hw5grade-site (the sandbox will not see them)"
fi
# pip resolves against what is installed and takes from .whl only what is missing or too old
if ((${#TARGET[@]} == 0)) && timed pip 120 "$IPY" -m pip install --no-index --find-links .whl --no-cache-dir \
    --no-compile --disable-pip-version-check -r "$W/requirements.txt"; then
    installed=$(grep '^Successfully installed' "$W/pip.log" | cut -c1-400)
    say "wheels: pip resolved pyproject's dependencies: ${installed:-nothing to install}"
else
    # something pip cannot satisfy from .whl and the machine: install every carried wheel whose
    # distribution is absent there, and say what is still unsatisfied below
    [[ -f $W/pip.log ]] && tail -3 "$W/pip.log" | sed 's/^/  pip: /' | tee -a "$SUMMARY"
    mapfile -t absent < <("$IPY" - .whl/*.whl <<'EOF'
import importlib.metadata as md, re, sys
for wheel in sys.argv[1:]:
    name = re.sub(r"[-_.]+", "-", wheel.rsplit("/", 1)[-1].split("-")[0]).lower()
    try:
        md.version(name)
    except md.PackageNotFoundError:
        print(wheel)
EOF
    )
    timed pip-fallback 120 "$IPY" -m pip install --no-index --no-deps --no-cache-dir --no-compile \
        --disable-pip-version-check "${TARGET[@]}" "${absent[@]}"
    say "wheels: fallback installed ${#absent[@]} absent distributions without resolution: $(cat "$W/pip-fallback.rc")"
fi
"$IPY" - "$W/requirements.txt" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import importlib.metadata as md, sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
bad = []
for line in open(sys.argv[1]).read().split("\n"):
    if not line.strip():
        continue
    req = Requirement(line)
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        version = None
    if version is None or not req.specifier.contains(version, prereleases=True):
        bad.append(f"{req.name} {version or 'missing'} (needs {req.specifier or 'any'})")
print("requirements: " + ("all satisfied" if not bad else "UNSATISFIED: " + "; ".join(bad)))
EOF

# install_tool NAME: the carried .bwrap/NAME where the machine has no NAME (a dry run always
# installs it); through the dynamic loader with the carried libraries when a library it links
# is missing there (FORCE_LOADER=1: always, to try that way here)
install_tool() {
    local name=$1 libdir=$PREFIX/lib/hw5grade-tools missing loader
    if ((!DRY)) && command -v "$name" >/dev/null; then
        say "tool $name: the machine's own, $(command -v "$name")"
        return
    fi
    mkdir -p "$libdir" "$PREFIX/bin"
    if ! cp .bwrap/"$name" "$libdir/$name"; then
        say "tool $name: MISSING here and not carried in .bwrap/"
        return
    fi
    chmod 755 "$libdir/$name"
    missing=$(ldd "$libdir/$name" 2>&1 | awk '/not found/{print $1}' | tr '\n' ' ')
    [[ ${FORCE_LOADER:-0} == 1 ]] && missing=$(cd .bwrap && ls lib*.so* | tr '\n' ' ')
    if [[ -z $missing ]]; then
        cp "$libdir/$name" "$PREFIX/bin/$name"
        say "tool $name: carried copy at $PREFIX/bin/$name"
    else
        for lib in $missing; do cp ".bwrap/$lib" "$libdir/" 2>/dev/null; done
        # --library-path applies to this process only: nothing it starts inherits the libraries
        loader=$(ldd "$libdir/$name" | awk '/ld-linux/{print $1}')
        [[ -x $loader ]] || loader=/lib64/ld-linux-x86-64.so.2
        printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' "$loader" "$libdir" "$libdir/$name" >"$PREFIX/bin/$name"
        chmod 755 "$PREFIX/bin/$name"
        say "tool $name: carried copy at $PREFIX/bin/$name, through $loader with the carried $missing"
    fi
}
install_tool bwrap
install_tool prlimit
install_tool git
hash -r
if bwrap_out=$(timeout 20 bwrap --unshare-all --die-with-parent --ro-bind / / true 2>&1); then
    say "bwrap --unshare-all --die-with-parent --ro-bind / / true: works ($(bwrap --version))"
else
    say "bwrap --unshare-all --die-with-parent --ro-bind / / true: FAILS ($bwrap_out)"
fi
# what the harness itself concludes (its own sandbox command line, as root)
"$PY" -c "from graders.sandbox import sandbox as s; p = s.bwrap_problem(); print('harness: bubblewrap', 'usable at ' + s.bwrap_path() if p is None else 'unusable: ' + p); print('harness: limits enforced by', 'cgroup v2' if s.cgroup_problem() is None else 'the watcher (' + s.cgroup_problem() + ')')" 2>&1 | tee -a "$SUMMARY"
grep -q "bubblewrap usable" "$SUMMARY" && ISOLATED=1
[[ ${FORCE_UNISOLATED:-0} == 1 ]] && ISOLATED=0    # to try the unisolated batch where bwrap works
((ISOLATED)) || say "NOTE: no sandbox here: grades run unisolated (grade.json says so); the batch gets allow_unisolated"
export ISOLATED
pack

# ---------------------------------------------------------------------------------------------
if ! want data; then
    stage "2 data: skipped (the grades below build what they need)"
else
    stage "2 data"
    # First the same fixtures with the generators' blocks spread over this machine's cores
    # (they use two processes); each block is seeded by itself, so the files are the ones
    # `hw5grade fixtures` writes, and the cache names them by code and seed only.
    cat >"$W/fast_data.py" <<'EOF'
"""python fast_data.py WHAT N: build one fixture (public, staff, torch, heldout) of the grader's
cache with N processes drawing the generators' blocks."""
import functools
import sys
import time

from fixtures import cache, nist36, torchdata
from graders.checks import rubric
from graders.checks import secret

what, n = sys.argv[1], int(sys.argv[2])
draw, heldout = nist36._draw, torchdata.write_heldout
nist36._draw = lambda jobs, workers=None: draw(jobs, n)
torchdata.write_heldout = lambda truth, seed, workers=1: heldout(truth, seed, n)
torchdata.write_torch_data = functools.partial(torchdata.write_torch_data, workers=n)
key, layout = secret.staff_key(), rubric.load("2022").nist36_layout()
start = time.perf_counter()
if what == "public":
    cache.build()
elif what == "staff":
    cache.staff(key)
    if layout != cache.DEFAULT_LAYOUT:
        cache.layout(layout, key=key)
elif what == "torch":
    cache.build_torch(nist_layout=layout)
elif what == "heldout":
    torchdata.staff_heldout(key)
print(f"{what}: built with {n} processes in {time.perf_counter() - start:.1f} s")
EOF
    n=$(nproc)
    timed data-fast-heldout "$(cap 200 260)" "$PY" "$W/fast_data.py" heldout 4 &
    {
        timed data-fast-public "$(cap 200 260)" "$PY" "$W/fast_data.py" public "$n" &&
            {
                timed data-fast-staff "$(cap 200 260)" "$PY" "$W/fast_data.py" staff 4 &
                timed data-fast-torch "$(cap 200 260)" "$PY" "$W/fast_data.py" torch "$n"
                wait
            }
    } &
    wait
    # then the commands a TA runs: they find the profiles built (or build what is missing)
    timed data-fixtures "$(cap 240 200)" "$PY" -m graders.cli fixtures --staff --torch
    timed data-heldout "$(cap 120 200)" "$PY" -c "from graders.checks import secret; from fixtures import torchdata; print(torchdata.staff_heldout(secret.staff_key()))"
    cat "$W"/data-*.rc | tee -a "$SUMMARY"
    grep -h "written\|profile\|built\|Error" "$W"/data-*.log | sed 's/^/  /' >>"$SUMMARY"
    pack
fi

# ---------------------------------------------------------------------------------------------
if want repeat; then
stage "3 repeat"
mkdir -p "$W/rep"
if ((DRY)); then
    GRADE_OPTS=(-k sigmoid -n 0)
else
    GRADE_OPTS=(-n 2)
fi
limit=$(cap 400 25)    # the most valuable stage: the bench gets what it leaves
for i in 1 2 3; do
    timed "rep/public$i" "$limit" "$PY" -m graders.cli grade reference --visibility public \
        --out "$W/rep/public$i" "${GRADE_OPTS[@]}" &
    timed "rep/staff$i" "$limit" "$PY" -m graders.cli grade reference --out "$W/rep/staff$i" "${GRADE_OPTS[@]}" &
done
timed rep/stubs "$limit" "$PY" -m graders.cli grade student --visibility public --out "$W/rep/stubs" "${GRADE_OPTS[@]}" &
wait
cat "$W"/rep/*.rc | tee -a "$SUMMARY"
"$PY" - "$W/rep" "$OUT/repeat.json" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import json, sys
from pathlib import Path

rep, dest = Path(sys.argv[1]), Path(sys.argv[2])
SIDE = lambda g: {k: g.get(k) for k in ("isolation", "enforcement")} | {
    k: v for k, v in g.items() if "device" in k.lower() or "gpu" in k.lower()}


def load(name):
    path = rep / name / "grade.json"
    return json.loads(path.read_text()) if path.exists() else None


def verdicts(g):
    return {c["nodeid"]: (c.get("status"), c.get("points")) for c in g.get("checks", [])}


summary = {}
for mode in ("public", "staff"):
    runs = {f"{mode}{i}": load(f"{mode}{i}") for i in (1, 2, 3)}
    done = {k: g for k, g in runs.items() if g}
    missing = sorted(set(runs) - set(done))
    maps = [verdicts(g) for g in done.values()]
    same = len(maps) > 1 and all(m == maps[0] for m in maps[1:])
    differ = sorted({n for m in maps for n in m if len({mm.get(n) for mm in maps}) > 1})
    messages = [{c["nodeid"]: c.get("message") for c in g.get("checks", [])} for g in done.values()]
    msg_differ = sorted({n for m in messages for n in m if len({mm.get(n) for mm in messages}) > 1})
    print(f"{mode}: {len(done)}/3 graded{' (no grade.json: ' + ', '.join(missing) + ')' if missing else ''}; "
          f"verdicts (status, points per check) identical across runs: {same}"
          + (f"; differing: {differ[:8]}" if differ else "")
          + (f"; messages differ on {len(msg_differ)} checks: {msg_differ[:5]}" if msg_differ else ""))
    for name, g in done.items():
        print(f"  {name}: score {g.get('score')}/{g.get('max_score')} visibility={g.get('visibility')} "
              f"staff={g.get('staff')} {SIDE(g)} wall {g.get('timings', {}).get('wall_seconds')} s "
              f"student {g.get('timings', {}).get('student_seconds')} s"
              + (f" ERROR: {str(g.get('error'))[:300]}" if g.get("error") else ""))
    first = next(iter(done.values()), None)
    if first:
        for c in first.get("checks", []):
            if c.get("status") not in ("passed", "hidden-not-run") and not c.get("not_run"):
                print(f"  not passed in {next(iter(done))}: {c['nodeid']} [{c.get('status')}] "
                      f"{c.get('points')}/{c.get('max_points')}: {str(c.get('message'))[:400]}")
        not_run = [c for c in first.get("checks", []) if c.get("not_run")]
        if not_run:
            reasons = sorted({str(c.get("not_run")) for c in not_run})
            print(f"  not run: {len(not_run)} checks ({', '.join(reasons)[:200]})")
    summary[mode] = {"graded": len(done), "identical": same, "differing": differ,
                     "messages_differ": msg_differ,
                     "scores": {k: [g.get("score"), g.get("max_score")] for k, g in done.items()}}

stubs = load("stubs")
if stubs:
    checks = stubs.get("checks", [])
    ran = [c for c in checks if not c.get("not_run") and c.get("status") != "hidden-not-run"]
    silent = [c["nodeid"] for c in ran if c.get("status") != "passed" and not str(c.get("message") or "").strip()]
    statuses = {}
    for c in checks:
        statuses[c.get("status")] = statuses.get(c.get("status"), 0) + 1
    passed = [c["nodeid"] for c in ran if c.get("status") == "passed"]
    print(f"stubs (public): score {stubs.get('score')}/{stubs.get('max_score')}; {len(checks)} checks, "
          f"{len(ran)} ran, statuses {statuses}; checks that ran and failed without a message: {len(silent)}"
          + (f" {silent[:8]}" if silent else "") + (f"; PASSED: {passed[:8]}" if passed else "")
          + (f"; ERROR: {str(stubs.get('error'))[:300]}" if stubs.get("error") else ""))
    summary["stubs"] = {"score": stubs.get("score"), "max_score": stubs.get("max_score"),
                        "statuses": statuses, "silent": silent, "passed": passed}
else:
    print("stubs: no grade.json")
dest.write_text(json.dumps(summary, indent=1))
EOF
pack

fi

# ---------------------------------------------------------------------------------------------
if want gpu; then
stage "gpu"
mkdir -p "$W/gpu"
limit=$(cap 300 25)
timed gpu/on "$limit" "$PY" -m graders.cli grade reference --visibility public -k "q6 or q7" -n 2 --out "$W/gpu/on" &
HW5GRADE_GPUS=none timed gpu/off "$limit" "$PY" -m graders.cli grade reference --visibility public \
    -k "q6 or q7" -n 2 --out "$W/gpu/off" &
wait
cat "$W"/gpu/*.rc | tee -a "$SUMMARY"
"$PY" - "$W/gpu" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import json, sys
from pathlib import Path
from graders.sandbox import gpus

print("GPUs found:", [g.describe() for g in gpus.available()] or "none")
runs = {}
for mode in ("on", "off"):
    path = Path(sys.argv[1]) / mode / "grade.json"
    runs[mode] = json.loads(path.read_text()) if path.exists() else None
    g = runs[mode]
    if g is None:
        print(f"{mode}: no grade.json")
        continue
    print(f"{mode}: score {g.get('score')}/{g.get('max_score')}, wall {g['timings'].get('wall_seconds')} s, "
          f"student {g['timings'].get('student_seconds')} s, devices {g.get('devices', {})}")
if all(runs.values()):
    a, b = ({c["nodeid"]: (c["status"], c.get("points")) for c in r["checks"]} for r in runs.values())
    print("verdicts identical on GPU and CPU:", a == b, {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)})
EOF
pack
fi

# ---------------------------------------------------------------------------------------------
stage "4 bench"
if ! want bench; then
    say "bench: not asked for"
elif (($(left) < 45)); then
    say "bench: skipped, $(left) s left"
else
    if [[ -n ${DEVICE_CHECK_BENCH:-} ]]; then
        read -ra BENCH_ARGS <<<"$DEVICE_CHECK_BENCH"
    elif ((DRY)); then
        BENCH_ARGS=(--jobs 1 --copies 1 --select sigmoid)
    else
        BENCH_ARGS=(--jobs 16 1 8 4 --copies 4)
    fi
    # a file, not stdin: the batch's pool spawns processes that import the main module again
    cat >"$W/bench_driver.py" <<'EOF'
"""The batch of benchmarks/bench_batch.py on this machine, -j values in the order given and each
only while the time left (DEADLINE) allows it: -j 1 grades the 8 submissions once, the others
the set --copies times (so -j 16 has two submissions per job); throughput is submissions per
second, so -j 1's ratio pays its pool's start-up over 8 submissions, not 32 (a conservative
bias of a few percent). The verdicts of each submission (by its name less the copy suffix)
must be the same in every run and every copy. Results: printed, and appended to SUMMARY."""
import argparse
import json
import os
import re
import sys
import tempfile
import time
import types
from pathlib import Path


def main() -> None:
    sys.path.insert(0, "benchmarks")
    import bench_batch  # make_batch, run: the benchmark's own submissions and timing

    parser = argparse.ArgumentParser()
    parser.add_argument("dest")
    parser.add_argument("summary")
    parser.add_argument("--jobs", type=int, nargs="+")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--select", default=None)
    args = parser.parse_args()
    deadline = float(os.environ["DEADLINE"])

    def say(line: str) -> None:
        print(line, flush=True)
        with open(args.summary, "a") as f:
            f.write(line + "\n")

    if os.environ.get("ISOLATED") != "1":
        # no bubblewrap here: the batch grades unisolated only when told to (bench_batch.run
        # builds the Options; the jobs still get a real Options, which pickles into the pool)
        real = bench_batch.batch
        bench_batch.batch = types.SimpleNamespace(**vars(real))
        bench_batch.batch.Options = lambda **kw: real.Options(allow_unisolated=True, **kw)

    results, serial = {}, None        # serial: a job's seconds per submission
    with tempfile.TemporaryDirectory(prefix="hw5bench-") as tmp:
        sets = {}
        for jobs in args.jobs:
            copies = 1 if jobs == 1 else args.copies
            if copies not in sets:
                sets[copies] = bench_batch.make_batch(Path(tmp) / f"subs{copies}", copies=copies)
            subs = sets[copies]
            n = len(list(subs.iterdir()))
            room = deadline - time.time() - 5
            guess = None if serial is None else 1.3 * serial * n / min(jobs, n) + 8
            if room < 20 or (guess and guess > room):
                say(f"-j {jobs}: skipped ({room:.0f} s left, about {guess or 0:.0f} s needed)")
                continue
            try:
                wall, grades = bench_batch.run(subs, Path(tmp) / f"out{jobs}", jobs, 0, args.select)
            except SystemExit as err:
                say(f"-j {jobs}: FAILED: {str(err)[:600]}")
                continue
            job_mean = sum(g["timings"]["job_seconds"] for g in grades) / n
            if jobs == 1 or serial is None:
                # a job's own time is about what one core needs per submission (at -j 16 on 16
                # cores a little more: the estimate errs on the side of skipping)
                serial = job_mean
            r = results[jobs] = {
                "n": n, "wall": round(wall, 2), "per_second": n / wall, "job_seconds_mean": round(job_mean, 2),
                "student_seconds_mean": round(sum(g["timings"]["student_seconds"] for g in grades) / n, 2),
                "isolation": sorted({str(g.get("isolation")) for g in grades}),
                "enforcement": sorted({str(g.get("enforcement")) for g in grades}),
                "verdicts": {g["submission"]: {c["nodeid"]: [c.get("status"), c.get("points")]
                                               for c in g.get("checks", [])} for g in grades},
                "scores": {Path(str(g["submission"])).name: g.get("score") for g in grades},
            }
            say(f"-j {jobs}: {n} submissions in {wall:.1f} s, {60 * n / wall:.1f} submissions/min; "
                f"a job {r['job_seconds_mean']} s on average (student code {r['student_seconds_mean']} s); "
                f"isolation {r['isolation']}, enforcement {r['enforcement']}")
            Path(args.dest).write_text(json.dumps(
                {str(k): {kk: vv for kk, vv in v.items() if kk != "verdicts"} for k, v in results.items()},
                indent=1))

    say(f"bench: {os.cpu_count()} cores, quick tier{f', -k {args.select!r}' if args.select else ''}, "
        "in-process grading per job (bench_batch's --grade-jobs 0)")
    if 1 in results:
        for jobs, r in results.items():
            if jobs != 1:
                say(f"throughput -j {jobs} / -j 1: {r['per_second'] / results[1]['per_second']:.2f}x "
                    f"({r['n']} against {results[1]['n']} submissions)")
    # the same submission (less its copy suffix) must get the same verdicts everywhere
    by_name = {}
    for jobs, r in results.items():
        for sub, verdicts in r["verdicts"].items():
            base = re.sub(r"_\d+$", "", Path(str(sub)).name)
            by_name.setdefault(base, []).append((jobs, verdicts))
    differ = {b: sorted({j for j, _ in runs}) for b, runs in by_name.items()
              if any(v != runs[0][1] for _, v in runs[1:])}
    first = next(iter(results.values()), {"scores": {}})
    say(f"verdicts identical across -j values and copies: {bool(by_name) and not differ}"
        + (f"; differing: {differ}" if differ else "")
        + f"; {sum(len(r) for r in by_name.values())} grades compared; scores: "
        + json.dumps({re.sub(r"_\d+$", "", k): v for k, v in first["scores"].items()}))


if __name__ == "__main__":
    main()
EOF
    timeout -k 10 "$(cap 600 8)" "$PY" "$W/bench_driver.py" "$OUT/bench.json" "$SUMMARY" "${BENCH_ARGS[@]}" \
        >"$W/bench.log" 2>&1
    echo "bench rc=$?" | tee -a "$SUMMARY"
fi
pack
say "== done in $(($(date +%s) - START)) s"
echo
echo "================ SUMMARY ================"
cat "$SUMMARY"
