# Touches 20 GB, 256 MB at a time (np.ones writes every page, unlike np.zeros).
import numpy as np


def sigmoid(x):
    blocks = []
    for _ in range(80):
        blocks.append(np.ones(32 << 20))
    return len(blocks)


def shm(megabytes):
    # Memory that no process's RSS shows: files in the sandbox's in-memory /dev/shm, kept while
    # the call sleeps.
    import time
    chunk = b"\0" * (1 << 20)
    for n in range(megabytes // 4):
        with open(f"/dev/shm/fill{n}", "wb") as f:
            for _ in range(4):
                f.write(chunk)
    while True:
        time.sleep(1)


def in_background(x):
    """Returns at once, leaving a thread that allocates while the grader thinks all is done."""
    import threading
    import time

    def hog():
        time.sleep(0.2)
        blocks = []
        while True:
            blocks.append(np.ones(32 << 20))

    threading.Thread(target=hog, daemon=True).start()
    return x
