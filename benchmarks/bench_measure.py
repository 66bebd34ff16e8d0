"""What measuring a submission's PyTorch models costs the harness: a fresh measuring worker per
measure() against processes forked from one kept measuring worker.

    python benchmarks/bench_measure.py [--scripts 4] [--repeat 2] [--train-seconds 3]

A sandbox per run holds a small script that trains a linear NIST36 classifier for about
--train-seconds of CPU and saves it; --scripts stands for a submission's PyTorch scripts (2022's
Q6.1.1, 6.1.2, 6.1.3 and 6.2.1 make 4), each measured with one prediction request. Two flows:

- bare: the script runs once, then --scripts measure() calls follow without prepare_measure, so
  every start-up of a measuring worker is paid in the open: the first call and each further one;
- grading: as the Q6 suite does it, per script prepare_measure, run_script (the measuring worker
  starts while it trains), measure; printed: the wall time measure() added beyond the student's
  own request time, per script, and the machine's CPU for the whole submission.

CPU is the machine's (/proc/stat: a sandbox's processes are not this process's to account, as
bwrap's outer process is killed before it reaps them), so the machine must be otherwise idle.
Needs bubblewrap (the fork mode exists only there). Not a test: figures depend on the machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from graders.checks.saved_models import captured, models_request, predict_request, saved_state  # noqa: E402
from graders.sandbox.sandbox import Limits, Sandbox, bwrap_problem  # noqa: E402

SCRIPT = """
import time
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1024, 36)

    def forward(self, v):
        return self.fc(v.reshape(v.shape[0], -1))

torch.manual_seed(0)
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.rand(256, 1024), torch.randint(0, 36, (256,))
start = time.process_time()
while time.process_time() - start < TRAIN_SECONDS:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
torch.save(model.state_dict(), "model.pt")
"""
LIMITS = Limits(wall_seconds=120, cpu_seconds=120)


def machine_cpu() -> float:
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def sandbox(root: Path, forks: bool, train_seconds: float) -> Sandbox:
    python = root / "python"
    python.mkdir(parents=True)
    (python / "train.py").write_text(SCRIPT.replace("TRAIN_SECONDS", repr(train_seconds)))
    box = Sandbox(python, isolation="bubblewrap", limits=LIMITS)
    box.measure_forks = forks
    box.python = python
    return box


def run_and_request(box: Sandbox, x, prepare: bool):
    if prepare:
        box.prepare_measure(1, LIMITS)
    outcome = box.run_script("train.py", written=("*.pt",), files=(), after=[models_request()])
    if not outcome.ok:
        raise SystemExit(f"the script failed: {outcome.message}\n{outcome.stderr}")
    state = saved_state(Path(box.root) / "work" / "python", box.python, "model.pt")
    return predict_request("train.py", captured(outcome.after[0]), "model.pt", state, x, "nist")


def measured(box: Sandbox, request) -> float:
    """Wall seconds measure() took beyond the request's own (the student's) time."""
    start = time.perf_counter()
    answer = box.measure([request], limits=LIMITS)[0]
    if not answer.ok:
        raise SystemExit(f"a measurement failed: {answer.message}")
    return time.perf_counter() - start - answer.elapsed


def bare(root: Path, forks: bool, scripts: int, x) -> list[tuple[float, float]]:
    """(machine CPU, wall beyond the request) of each measure() call."""
    box = sandbox(root, forks, 0.1)
    try:
        request = run_and_request(box, x, prepare=False)
        calls = []
        for _ in range(scripts):
            cpu = machine_cpu()
            added = measured(box, request)
            calls.append((machine_cpu() - cpu, added))
        return calls
    finally:
        box.close()


def grading(root: Path, forks: bool, scripts: int, x, train_seconds: float) -> tuple[float, list[float]]:
    """(machine CPU of the whole submission, wall measure() added per script)."""
    box = sandbox(root, forks, train_seconds)
    try:
        cpu, added = machine_cpu(), []
        for _ in range(scripts):
            added.append(measured(box, run_and_request(box, x, prepare=True)))
        return machine_cpu() - cpu, added
    finally:
        box.close()


def main() -> None:
    import numpy as np
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", type=int, default=4, help="PyTorch scripts per submission (2 or more)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each mode and flow (medians printed)")
    parser.add_argument("--train-seconds", type=float, default=3.0, help="CPU seconds each script trains")
    args = parser.parse_args()
    if bwrap_problem() is not None:
        raise SystemExit(f"needs bubblewrap: {bwrap_problem()}")
    x = np.random.default_rng(0).random((360, 1024), dtype=np.float32)
    n, modes = args.scripts, ((False, "a fresh worker per measure()"), (True, "forked from one kept worker"))
    with tempfile.TemporaryDirectory(prefix="hw5bench-") as tmp:
        runs = {(forks, flow): [] for forks, _ in modes for flow in ("bare", "grading")}
        for i in range(args.repeat):
            for forks, _ in modes:
                runs[forks, "bare"].append(bare(Path(tmp) / f"bare{forks}{i}", forks, n, x))
                runs[forks, "grading"].append(grading(Path(tmp) / f"grading{forks}{i}", forks, n, x,
                                                      args.train_seconds))
    med = statistics.median
    print(f"{n} PyTorch scripts per submission, one prediction request each, {args.repeat} runs (medians), "
          f"{os.cpu_count()} cores")
    print("bare (no prepare_measure):")
    for forks, name in modes:
        calls = runs[forks, "bare"]
        print(f"  {name}: first call CPU {med(c[0][0] for c in calls):.2f} s; each further call "
              f"CPU {med(sum(k[0] for k in c[1:]) for c in calls) / (n - 1):.2f} s, "
              f"wall {med(sum(k[1] for k in c[1:]) for c in calls) / (n - 1):.2f} s")
    print(f"grading (each script {args.train_seconds:g} s of training, the measuring worker prepared while it runs):")
    for forks, name in modes:
        subs = runs[forks, "grading"]
        print(f"  {name}: machine CPU per submission {med(s[0] for s in subs):.2f} s; wall measure() added "
              f"beyond the student's requests {med(sum(s[1]) for s in subs):.2f} s per submission "
              f"({med(sum(s[1]) for s in subs) / n:.2f} s per script)")
    saved = med(s[0] for s in runs[False, "grading"]) - med(s[0] for s in runs[True, "grading"])
    print(f"forking saves {saved:.2f} s of CPU per submission of {n} scripts")


if __name__ == "__main__":
    main()
