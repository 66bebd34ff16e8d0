# Tries to lift its CPU limit (resource.setrlimit up to infinity; failing that, the soft limit
# up to the hard one with SIGXCPU ignored) and spins: in the call, or in a thread left running
# after the call has returned.
import resource
import signal
import threading


def _lift():
    tried = {}
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        tried["infinity"] = "raised"
    except (ValueError, OSError) as exc:
        tried["infinity"] = f"refused: {type(exc).__name__}"
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    tried["limit"] = list(resource.getrlimit(resource.RLIMIT_CPU))
    return tried


def capabilities(x):
    """The capability sets of this process (a process with CAP_SYS_RESOURCE may raise limits)."""
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, v in (line.split(":", 1) for line in f) if k.startswith("Cap")}


def _spin():
    while True:
        pass


def sigmoid(x):
    _lift()
    _spin()


def lift(x):
    return _lift()


def spin_in_background(x):
    _lift()
    threading.Thread(target=_spin, daemon=True).start()
    return x


def softmax(x):
    import numpy as np
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
