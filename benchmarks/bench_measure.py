"""What measuring a submission's PyTorch models costs the harness: a fresh measuring worker per
measure() against processes forked from one kept measuring worker.

    python benchmarks/bench_measure.py [--scripts 4] [--repeat 2]

One sandbox per mode holds a small script's model (run once); then --scripts measure() calls
follow, one per PyTorch script as a 2022 submission's Q6.1.1, 6.1.2, 6.1.3 and 6.2.1 make, each
with one prediction request, without prepare_measure (so every start-up is paid in the open).
Printed per mode: the CPU seconds the machine spent during the measurements (/proc/stat, so
the machine must be otherwise idle; the trusted side's own work is in it too) and their wall
time; then what forking saves per submission. Needs bubblewrap (the fork mode exists only
there). Not a test: figures depend on the machine.
"""
from __future__ import annotations

import argparse
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
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1024, 36)

    def forward(self, v):
        return self.fc(v.reshape(v.shape[0], -1))

model = Net()
torch.save(model.state_dict(), "model.pt")
"""


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent (/proc/stat): a sandbox's processes are not this
    process's to account (bwrap's outer process is killed before it reaps them)."""
    import os
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def one_run(root: Path, forks: bool, scripts: int) -> list[tuple[float, float]]:
    """(CPU seconds the machine spent, wall seconds) of each measure() call."""
    import numpy as np
    python = root / "python"
    python.mkdir(parents=True)
    (python / "train.py").write_text(SCRIPT)
    x = np.random.default_rng(0).random((360, 1024), dtype=np.float32)
    limits = Limits(wall_seconds=120, cpu_seconds=120)
    box = Sandbox(python, isolation="bubblewrap", limits=limits)
    try:
        box.measure_forks = forks
        outcome = box.run_script("train.py", written=("*.pt",), files=(), after=[models_request()])
        if not outcome.ok:
            raise SystemExit(f"the script failed: {outcome.message}\n{outcome.stderr}")
        state = saved_state(Path(box.root) / "work" / "python", python, "model.pt")
        request = predict_request("train.py", captured(outcome.after[0]), "model.pt", state, x, "nist")
        box._discard_worker()
        calls = []
        for _ in range(scripts):
            cpu_before, start = machine_cpu(), time.perf_counter()
            answer = box.measure([request], limits=limits)[0]
            calls.append((machine_cpu() - cpu_before, time.perf_counter() - start))
            if not answer.ok:
                raise SystemExit(f"a measurement failed: {answer.message}")
    finally:
        box.close()
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", type=int, default=4, help="measure() calls per submission (2 or more)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each mode (medians printed)")
    args = parser.parse_args()
    if bwrap_problem() is not None:
        raise SystemExit(f"needs bubblewrap: {bwrap_problem()}")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="hw5bench-") as tmp:
        for i in range(args.repeat):
            for forks in (False, True):
                figures.setdefault(forks, []).append(one_run(Path(tmp) / f"{forks}{i}", forks, args.scripts))
    n = args.scripts

    def median(forks, which, calls):
        return statistics.median(sum(call[which] for call in run[calls]) for run in figures[forks])

    print(f"{n} measure() calls per submission, one prediction request each, {args.repeat} runs per mode "
          "(medians); CPU: the machine's, wall: the calls'")
    for forks, name in ((False, "a fresh worker per measure()"), (True, "forked from one kept worker")):
        print(f"{name}: CPU {median(forks, 0, slice(None)):.2f} s, wall {median(forks, 1, slice(None)):.2f} s; "
              f"the first call CPU {median(forks, 0, slice(0, 1)):.2f} s, each further call CPU "
              f"{median(forks, 0, slice(1, None)) / (n - 1):.2f} s, wall {median(forks, 1, slice(1, None)) / (n - 1):.2f} s")
    saved = median(False, 0, slice(None)) - median(True, 0, slice(None))
    print(f"forking saves {saved:.2f} s of CPU per submission of {n} scripts "
          f"({median(False, 0, slice(None)) / median(True, 0, slice(None)):.2f}x less)")

if __name__ == "__main__":
    main()
