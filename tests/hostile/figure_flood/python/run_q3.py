# Shows one figure, then has the worker send it 20,000 times: the worker's own cap runs in this
# process, so the script replaces the worker's figure capture (found up its call stack).
import io
import sys

import matplotlib.pyplot as plt

plt.plot([3, 2, 1])
plt.title("loss")
plt.show()
fig = plt.figure(figsize=(1, 1), dpi=20)
buf = io.BytesIO()
fig.savefig(buf, format="png")
png = buf.getvalue()

frame = sys._getframe()
while frame is not None and "capture_figures" not in frame.f_globals:
    frame = frame.f_back
frame.f_globals["capture_figures"] = lambda req: ([png] * 20_000, [{"title": "", "axes": []}] * 20_000, 20_000)
