"""Matplotlib backend for the sandbox: plt.show() saves figures as PNG instead of blocking.

Loaded in the worker as ``MPLBACKEND=module://hw5sandbox_capture_backend`` (a copy of this file sits in
the worker's library folder).  Rendering is Agg's.  A blocking show() captures every open figure
and closes it, as closing the windows would; figures still open when a script ends are captured
by the worker through capture_open(). A figure the script saves to a file (plt.savefig, the
habit of a script that writes its plots for the write-up and shows none) is captured as saved;
it is captured again later only if it changed since.

Besides the picture, each captured figure's plotted data is kept as plain data (FIGURE_DATA):
the graders find a loss or accuracy curve by its axes' labels and read its values, which a
PNG cannot give back.
"""
import io

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureManager = FigureManagerBase

MAX_FIGURES = 50
MAX_PNG_BYTES = 8 << 20
MAX_AXES = 20            # per figure
MAX_LINES = 20           # per axes
MAX_POINTS = 10_000      # per line: an epoch curve has far fewer; a per-batch one is cut
MAX_TEXT = 200
CAPTURED: list[bytes] = []
FIGURE_DATA: list[dict] = []
MADE = [0]               # figures shown in all, kept or not (the report says how many were dropped)
_CAPTURING = [False]     # our own savefig of a figure being captured: not the student's


class FigureCanvas(FigureCanvasAgg):
    def print_figure(self, *args, **kwargs):
        result = super().print_figure(*args, **kwargs)
        if not _CAPTURING[0] and getattr(self, "manager", None) is not None:
            _capture(self.manager)
        return result


def _text(get) -> str:
    try:
        return str(get())[:MAX_TEXT]
    except Exception:   # a student's artist may be broken: its text is simply unknown
        return ""


def _ydata(line) -> list:
    try:
        values = line.get_ydata(orig=False)
        return [float(v) for v in list(values)[:MAX_POINTS]]
    except Exception:   # non-numeric data (dates, categories) carries no curve to read
        return []


def _axes_data(ax) -> dict:
    lines = []
    for line in list(ax.get_lines())[:MAX_LINES]:
        label = _text(line.get_label)
        lines.append({"label": "" if label.startswith("_") else label, "y": _ydata(line)})
    return {"title": _text(ax.get_title), "xlabel": _text(ax.get_xlabel),
            "ylabel": _text(ax.get_ylabel), "lines": lines}


def figure_data(figure) -> dict:
    """What a figure plots: its title and, per axes, the labels and each line's y values."""
    suptitle = getattr(figure, "_suptitle", None)
    return {"title": _text(suptitle.get_text) if suptitle is not None else "",
            "axes": [_axes_data(ax) for ax in list(figure.get_axes())[:MAX_AXES]]}


def _capture(manager):
    figure = manager.canvas.figure
    if getattr(figure, "_hw5grade_captured", False) and not figure.stale:
        return          # captured when saved, and unchanged since
    figure._hw5grade_captured = True
    MADE[0] += 1
    if len(FIGURE_DATA) >= MAX_FIGURES:
        return
    try:
        FIGURE_DATA.append(figure_data(figure))
    except Exception:   # the data is a bonus; the picture still counts
        FIGURE_DATA.append({"title": "", "axes": []})
    buf = io.BytesIO()
    _CAPTURING[0] = True
    try:
        figure.savefig(buf, format="png")
    except Exception:   # a figure the student broke must not stop the script
        return
    finally:
        _CAPTURING[0] = False
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
