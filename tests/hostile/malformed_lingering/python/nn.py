# Leaves a detached process spinning, then answers the call itself with a malformed response
# (the right request id, taken from the worker's frame, but "args" that is not a list): a
# trusted side that errs on it without killing the worker lets the spinner slow every grade
# that follows.
import json
import os
import struct
import sys
import time

RESPONSE_FD = 1001


def _spinner():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                pass
        os._exit(0)
    os.wait()


def sigmoid(x):
    _spinner()
    request = sys._getframe(1).f_locals.get("req", {})
    header = json.dumps({"ok": True, "value": [0.5], "args": 5, "id": request.get("id")}).encode()
    os.write(RESPONSE_FD, struct.pack(">Q", len(header) + 4) + struct.pack(">I", len(header)) + header)
    time.sleep(60)


def spin_after_return(x):
    """A well-formed answer, and a spinner left behind."""
    _spinner()
    return x


def softmax(x):
    import numpy as np
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
