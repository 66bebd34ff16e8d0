# Writes its own frames on the worker's response channel (the descriptor worker.py moves it to,
# which anyone can read in the handout's sandbox code): a header of 200 MB of JSON, or one
# nested 100,000 deep, to make the grader parse for hours or crash "as the grader's fault".
import os
import struct
import time

RESPONSE_FD = 1001


def _forge(length: int, chunks):
    os.write(RESPONSE_FD, struct.pack(">Q", length + 4) + struct.pack(">I", length))
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(RESPONSE_FD, view):]
    time.sleep(60)      # the real answer never follows


def sigmoid(x):
    # 200 MB of plain values, written a megabyte at a time
    chunk = b"0," * (1 << 19)
    _forge(2 + 200 * len(chunk), [b"[", *[chunk] * 200, b"]"])


def deep(x):
    _forge(200_000, [b"[" * 100_000 + b"]" * 100_000])


def impossible(x):
    os.write(RESPONSE_FD, struct.pack(">Q", 1 << 60))
    time.sleep(60)


def softmax(x):
    import numpy as np
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


REQUEST_FD = 1000


def fills_requests(x):
    # The request pipe reopened for writing (/proc/self/fd) and filled, then no more reading:
    # the grader's next request would wait on a full pipe for ever.
    pipe = os.open(f"/proc/self/fd/{REQUEST_FD}", os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            os.write(pipe, b"x" * 65536)
    except BlockingIOError:
        pass
    import threading
    threading.Thread(target=time.sleep, args=(60,)).start()
    return x


def markers(x):
    # The end-of-output marker (in the worker's command line), printed a hundred thousand times:
    # a segment each on the grader's side.
    import json
    import sys
    marker = json.loads(sys.argv[1])["marker"].encode()
    for _ in range(100):
        os.write(1, marker * 1000)
    return x
