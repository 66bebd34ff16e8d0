"""Matplotlib backend for the sandbox: plt.show() saves figures as PNG instead of blocking.

Loaded in the worker as ``MPLBACKEND=module://hw5sandbox_mplbackend`` (a copy of this file sits in
the worker's library folder).  Rendering is Agg's.  A blocking show() captures every open figure
and closes it, as closing the windows would; figures still open when a script ends are captured
by the worker through capture_open().
"""
import io

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase

MAX_FIGURES = 50
MAX_PNG_BYTES = 8 << 20
CAPTURED: list[bytes] = []


def _capture(manager):
    if len(CAPTURED) >= MAX_FIGURES:
        return
    buf = io.BytesIO()
    try:
        manager.canvas.figure.savefig(buf, format="png")
    except Exception:   # a figure the student broke must not stop the script
        return
    if buf.tell() <= MAX_PNG_BYTES:
        CAPTURED.append(buf.getvalue())


def capture_open():
    for manager in Gcf.get_all_fig_managers():
        _capture(manager)
    Gcf.destroy_all()


def show(*args, block=None, **kwargs):
    # show(block=False) leaves windows open (an animation with plt.pause); those figures are
    # captured when closed by a later blocking show() or at the end of the script.
    if block is False:
        return
    capture_open()
