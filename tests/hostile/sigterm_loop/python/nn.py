# Ignores the polite signals, then loops, hoping to outlive a terminate().
import signal


def sigmoid(x):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        pass
