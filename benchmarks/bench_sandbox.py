"""Cost of the sandbox: one call to a trivial function and the start-up of a worker.

    python benchmarks/bench_sandbox.py [--calls 500] [--starts 10]

Prints the median per-call round trip (nn.sigmoid on a 10x10 array, after warm-up) and the
median worker start-up (spawn + import numpy + first call), with bubblewrap and unisolated.
Not a test: figures depend on the machine.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from graders.sandbox.sandbox import Sandbox, bwrap_problem  # noqa: E402

NN = "import numpy as np\n\ndef sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"


def median_ms(samples):
    return 1000 * statistics.median(samples)


def bench(python_dir, isolation, calls, starts):
    x = np.random.default_rng(0).standard_normal((10, 10))
    with Sandbox(python_dir, isolation=isolation) as box:
        for _ in range(20):                          # warm-up: start the worker, import nn
            box.call("nn", "sigmoid", x)
        per_call = []
        for _ in range(calls):
            t = time.perf_counter()
            outcome = box.call("nn", "sigmoid", x)
            per_call.append(time.perf_counter() - t)
            assert outcome.ok, outcome.message
        start_up = []
        for _ in range(starts):
            box._discard_worker()                    # the next call starts a fresh worker
            t = time.perf_counter()
            box.call("nn", "sigmoid", x)
            start_up.append(time.perf_counter() - t)
    return median_ms(per_call), median_ms(start_up)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--starts", type=int, default=10)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        python_dir = Path(tmp) / "python"
        python_dir.mkdir()
        (python_dir / "nn.py").write_text(NN)
        modes = ["none"] + (["bubblewrap"] if bwrap_problem() is None else [])
        if bwrap_problem():
            print(f"bubblewrap skipped: {bwrap_problem()}")
        for mode in modes:
            call_ms, start_ms = bench(python_dir, mode, opts.calls, opts.starts)
            print(f"{mode:>10}: call {call_ms:.3f} ms (median of {opts.calls}), "
                  f"worker start-up {start_ms:.0f} ms (median of {opts.starts})")


if __name__ == "__main__":
    main()
