"""Repairs: code written for older library releases and other machines runs in the sandbox.

Two sides use this file. The trusted side (graders.checks.static, graders.checks.rubric, the plugin) reads
its tables: one list of the names and keywords NumPy, SciPy, scikit-image and matplotlib removed,
with the modern spelling of the same meaning. Inside the sandbox the worker imports a copy
(hw5sandbox_repairs) and calls `install` before any student code runs: a removed name then
resolves to its modern spelling, an old keyword is passed under its new name, a course data file
opened by a path of the student's own machine is served from ../data, and a write into a folder
that does not exist goes to a scratch folder. Every repair that fires is recorded (its kind, the
student's file and line, the old and the new spelling) and goes back with the call's response.

A repair changes spelling, never results: each maps to the call the modern library documents as
the same operation, or (scipy.misc.imresize, which no library keeps) to a port of the removed
function. A kind the rubric refuses is not installed, and the code fails as it would.

Lazy by design: nothing is imported here that the worker does not import already (NumPy); the
scikit-image, SciPy and matplotlib repairs attach when the student's code imports those modules
(an import hook), and a function is wrapped when it is first looked up.

Why one file this long: it is one table read on both sides of the boundary (the trusted side reads
it, the sandbox installs it), and the table is most of the file.
"""
from __future__ import annotations

import builtins
import errno
import functools
import importlib
import os
import re
import sys
import types

# --- the tables (one source: graders.checks.static names the same removals from the source) -------
# kind -> what it covers; the rubric's [repairs] sets a policy per kind.
KINDS = {
    "numpy": "names NumPy removed (np.float, np.int, np.asscalar, np.product, ...)",
    "scikit-image": "names and keywords scikit-image removed (multichannel=, selem=, rgb2grey, compare_psnr, ...)",
    "scipy": "functions SciPy removed (scipy.misc.imread, imresize, imsave)",
    "matplotlib": "names and keywords matplotlib removed (plt.hold, hist(normed=), cm.get_cmap, ...)",
    "data-path": "a course data file opened by a path of another machine, served from ../data",
    "output-folder": "a file written into a folder that does not exist, kept in a scratch folder",
    "pytorch": "PyTorch code for a GPU machine: .cuda(), .to('cuda'), device='cuda:N' run on the CPU; "
               "DataLoader(num_workers=N) loads in the script's own process; transforms.Scale, RandomSizedCrop; "
               "CIFAR10.train_data and train_labels",
}
# Not repairs: notes of which course data files a script read (the 2019 edition reads NIST36
# under two names), recorded the same way and never charged.
DATA_READ = "data-read"

# np.<old> -> (the modern spelling, the release that removed it, the target: "module:attr" or a
# function of this file named "_np_<old>")
NUMPY_REMOVED = {
    "float": ("float (or np.float64)", "NumPy 1.24", "builtins:float"),
    "int": ("int (or np.int64)", "NumPy 1.24", "builtins:int"),
    "object": ("object", "NumPy 1.24", "builtins:object"),
    "str": ("str", "NumPy 1.24", "builtins:str"),
    "complex": ("complex (or np.complex128)", "NumPy 1.24", "builtins:complex"),
    "unicode": ("str", "NumPy 1.24", "builtins:str"),
    "asscalar": ("a.item()", "NumPy 1.23", "_np_asscalar"),
    "float_": ("np.float64", "NumPy 2.0", "numpy:float64"),
    "complex_": ("np.complex128", "NumPy 2.0", "numpy:complex128"),
    "cfloat": ("np.complex128", "NumPy 2.0", "numpy:complex128"),
    "singlecomplex": ("np.complex64", "NumPy 2.0", "numpy:complex64"),
    "longfloat": ("np.longdouble", "NumPy 2.0", "numpy:longdouble"),
    "longcomplex": ("np.clongdouble", "NumPy 2.0", "numpy:clongdouble"),
    "clongfloat": ("np.clongdouble", "NumPy 2.0", "numpy:clongdouble"),
    "string_": ("np.bytes_", "NumPy 2.0", "numpy:bytes_"),
    "unicode_": ("np.str_", "NumPy 2.0", "numpy:str_"),
    "Inf": ("np.inf", "NumPy 2.0", "numpy:inf"),
    "Infinity": ("np.inf", "NumPy 2.0", "numpy:inf"),
    "infty": ("np.inf", "NumPy 2.0", "numpy:inf"),
    "PINF": ("np.inf", "NumPy 2.0", "numpy:inf"),
    "NINF": ("-np.inf", "NumPy 2.0", "_np_NINF"),
    "NaN": ("np.nan", "NumPy 2.0", "numpy:nan"),
    "PZERO": ("0.0", "NumPy 2.0", "_np_PZERO"),
    "NZERO": ("-0.0", "NumPy 2.0", "_np_NZERO"),
    "alltrue": ("np.all", "NumPy 2.0", "numpy:all"),
    "sometrue": ("np.any", "NumPy 2.0", "numpy:any"),
    "round_": ("np.round", "NumPy 2.0", "numpy:round"),
    "mat": ("np.asmatrix", "NumPy 2.0", "numpy:asmatrix"),
    "asfarray": ("np.asarray(a, dtype=np.float64)", "NumPy 2.0", "_np_asfarray"),
    "issubclass_": ("issubclass", "NumPy 2.0", "builtins:issubclass"),
    "product": ("np.prod", "NumPy 2.x (deprecated in 1.25)", "numpy:prod"),
    "cumproduct": ("np.cumprod", "NumPy 2.x (deprecated in 1.25)", "numpy:cumprod"),
    "msort": ("np.sort(a, axis=0)", "NumPy 2.x (deprecated in 1.25)", "_np_msort"),
    "trapz": ("np.trapezoid", "NumPy 2.x (deprecated in 2.0)", "numpy:trapezoid"),
    "in1d": ("np.isin(a, b).ravel()", "NumPy 2.x (deprecated in 2.0)", "_np_in1d"),
    "bool8": ("np.bool_", "NumPy 2.x", "numpy:bool_"),
    "int0": ("np.intp", "NumPy 2.x", "numpy:intp"),
    "uint0": ("np.uintp", "NumPy 2.x", "numpy:uintp"),
    "object0": ("np.object_", "NumPy 2.x", "numpy:object_"),
    "str0": ("np.str_", "NumPy 2.x", "numpy:str_"),
    "bytes0": ("np.bytes_", "NumPy 2.x", "numpy:bytes_"),
}

# (public module, old name) -> (the modern spelling, the release that removed it, "module:attr")
NAMES_REMOVED = {
    ("skimage.color", "rgb2grey"): ("skimage.color.rgb2gray", "scikit-image 0.21", "skimage.color:rgb2gray"),
    ("skimage.color", "grey2rgb"): ("skimage.color.gray2rgb", "scikit-image 0.21", "skimage.color:gray2rgb"),
    ("skimage.measure", "compare_psnr"): ("skimage.metrics.peak_signal_noise_ratio", "scikit-image 0.18",
                                          "skimage.metrics:peak_signal_noise_ratio"),
    ("skimage.measure", "compare_ssim"): ("skimage.metrics.structural_similarity", "scikit-image 0.18",
                                          "skimage.metrics:structural_similarity"),
    ("skimage.measure", "compare_mse"): ("skimage.metrics.mean_squared_error", "scikit-image 0.18",
                                         "skimage.metrics:mean_squared_error"),
    ("skimage.measure", "compare_nrmse"): ("skimage.metrics.normalized_root_mse", "scikit-image 0.18",
                                           "skimage.metrics:normalized_root_mse"),
    ("skimage.morphology", "watershed"): ("skimage.segmentation.watershed", "scikit-image 0.19",
                                          "skimage.segmentation:watershed"),
    ("skimage.feature", "greycomatrix"): ("skimage.feature.graycomatrix", "scikit-image 0.21",
                                          "skimage.feature:graycomatrix"),
    ("skimage.feature", "greycoprops"): ("skimage.feature.graycoprops", "scikit-image 0.21",
                                         "skimage.feature:graycoprops"),
    ("scipy.misc", "imread"): ("PIL.Image.open (a port of scipy.misc.imread)", "SciPy 1.2", "_misc_imread"),
    ("scipy.ndimage", "imread"): ("PIL.Image.open (a port of scipy.misc.imread)", "SciPy 1.2", "_misc_imread"),
    ("scipy.misc", "imresize"): ("PIL.Image.resize (a port of scipy.misc.imresize; or skimage.transform.resize)",
                                 "SciPy 1.3", "_misc_imresize"),
    ("scipy.misc", "imsave"): ("PIL.Image.save (a port of scipy.misc.imsave)", "SciPy 1.2", "_misc_imsave"),
    ("matplotlib.pyplot", "hold"): ("nothing: every plot adds to the axes (hold(True) is the only behaviour)",
                                    "matplotlib 3.0", "_plt_hold"),
    ("matplotlib.cm", "get_cmap"): ("matplotlib.colormaps[name] (or plt.get_cmap)", "matplotlib 3.9",
                                    "matplotlib.pyplot:get_cmap"),
    ("torchvision.transforms", "Scale"): ("torchvision.transforms.Resize", "torchvision 0.12",
                                          "torchvision.transforms:Resize"),
    ("torchvision.transforms", "RandomSizedCrop"): ("torchvision.transforms.RandomResizedCrop", "torchvision 0.12",
                                                    "torchvision.transforms:RandomResizedCrop"),
}
KIND_OF_MODULE = {"numpy": "numpy", "skimage": "scikit-image", "scipy": "scipy", "matplotlib": "matplotlib",
                  "torchvision": "pytorch"}

# old keyword -> (new keyword, how a value converts, the release that removed it, the modules
# whose functions took it). Converting returns None for a value with no modern equivalent: the
# keyword is then passed unchanged and fails as it would.
_MULTICHANNEL = {True: -1, False: None}
KEYWORDS_REMOVED = {
    "multichannel": ("channel_axis", lambda v: _MULTICHANNEL.get(v, _KEEP) if isinstance(v, bool) else _KEEP,
                     "scikit-image 0.21", "channel_axis=-1 (channel_axis=None for a grey image)"),
    "selem": ("footprint", lambda v: v, "scikit-image 0.21", "footprint="),
    "neighbors": ("connectivity", lambda v: {4: 1, 8: 2}.get(v, _KEEP), "scikit-image 0.18",
                  "connectivity= (neighbors=4 is connectivity=1, neighbors=8 is connectivity=2)"),
    "as_grey": ("as_gray", lambda v: v, "scikit-image 0.16", "as_gray="),
    "n_iter_max": ("max_num_iter", lambda v: v, "scikit-image 0.21", "max_num_iter="),
    "max_iter": ("max_num_iter", lambda v: v, "scikit-image 0.21", "max_num_iter="),
    "im_true": ("image_true", lambda v: v, "scikit-image 0.18", "image_true="),
    "im_test": ("image_test", lambda v: v, "scikit-image 0.18", "image_test="),
    "normed": ("density", lambda v: v, "matplotlib 3.1", "density="),
}
# keyword -> the library whose functions it belongs to (its repair kind)
KEYWORD_KIND = {k: ("matplotlib" if k == "normed" else "scikit-image") for k in KEYWORDS_REMOVED}
_KEEP = object()

# Data reads noted: the NIST36 sets (the PyTorch part's image trees would be thousands of names).
DATA_READ_SUFFIXES = (".mat",)
# Files a script may read that the deliverables do not include: results of an earlier run.
RESULT_SUFFIXES = (".pickle", ".pkl", ".npy", ".npz", ".pt", ".pth", ".h5")

# --- recording ---------------------------------------------------------------------------------
LOG: list[dict] = []
_seen: set = set()
_state = {"work": None, "allowed": frozenset(), "data_dir": None, "aliases": {}, "names": None,
          "scratch": None}


def drain() -> list[dict]:
    """The repairs (and data reads) recorded since the last drain."""
    out = LOG[:]
    LOG.clear()
    _seen.clear()
    return out


def _where():
    """(file relative to the submission, line) of the innermost frame of the student's code."""
    work = _state["work"]
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if work and name.startswith(work + os.sep):
            return os.path.relpath(name, work), frame.f_lineno
        frame = frame.f_back
    return None, 0


def _student_asks(frame) -> bool:
    """Whether a frame is the student's code. A removed name is answered only to the student:
    libraries probe for them (hasattr(np, "float_")) to learn which release they run on."""
    work = _state["work"]
    return bool(work) and frame.f_code.co_filename.startswith(work + os.sep)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 and "\n" not in text else "..."


def record(kind: str, old: str, new: str) -> None:
    file, line = _where()
    key = (kind, file, line, old, new)
    if key in _seen or len(LOG) >= 200:
        return
    _seen.add(key)
    LOG.append({"kind": kind, "file": file, "line": line, "old": old, "new": new})


def _resolve(target: str):
    if ":" not in target:
        return globals()[target]
    module, attr = target.split(":")
    return getattr(builtins if module == "builtins" else importlib.import_module(module), attr)


# --- the ports and adapters named in the tables ------------------------------------------------

def _np_asscalar(a):
    return __import__("numpy").asarray(a).item()


_np_NINF, _np_PZERO, _np_NZERO = float("-inf"), 0.0, -0.0


def _np_asfarray(a, dtype=None):
    np = __import__("numpy")
    dtype = np.float64 if dtype is None or not np.issubdtype(dtype, np.inexact) else dtype
    return np.asarray(a, dtype=dtype)


def _np_msort(a):
    return __import__("numpy").sort(a, axis=0)


def _np_in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    return __import__("numpy").isin(ar1, ar2, assume_unique=assume_unique, invert=invert, **kwargs).ravel()


def _bytescale(data, cmin=None, cmax=None, high=255, low=0):
    np = __import__("numpy")
    if data.dtype == np.uint8:
        return data
    cmin = data.min() if cmin is None else cmin
    cmax = data.max() if cmax is None else cmax
    scale = float(high - low) / ((cmax - cmin) or 1)
    return ((data - cmin) * scale + low).clip(low, high).__add__(0.5).astype(np.uint8)


def _toimage(arr):
    from PIL import Image
    np = __import__("numpy")
    data = np.asarray(arr)
    if np.iscomplexobj(data):
        raise ValueError("cannot convert a complex array to an image")
    return Image.fromarray(_bytescale(data))


def _misc_imresize(arr, size, interp="bilinear", mode=None):
    """scipy.misc.imresize as SciPy 1.2 had it: bytescaled to uint8, resized by PIL."""
    from PIL import Image
    np = __import__("numpy")
    im = _toimage(arr)
    if mode is not None:
        im = im.convert(mode)
    if isinstance(size, (int, np.integer)):
        size = tuple(int(s * size / 100.0) for s in im.size[::-1])
    elif isinstance(size, (float, np.floating)):
        size = tuple(int(s * size) for s in im.size[::-1])
    filters = {"nearest": Image.NEAREST, "lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR,
               "bicubic": Image.BICUBIC, "cubic": Image.BICUBIC}
    return np.array(im.resize((int(size[1]), int(size[0])), resample=filters[interp]))


def _misc_imread(name, flatten=False, mode=None):
    from PIL import Image
    np = __import__("numpy")
    with Image.open(name) as im:
        if flatten:
            im = im.convert("F")
        elif mode is not None:
            im = im.convert(mode)
        return np.array(im)


def _misc_imsave(name, arr, format=None):
    _toimage(arr).save(name, format=format)


def _plt_hold(b=None):
    if b is False:
        raise AttributeError("matplotlib.pyplot.hold was removed in matplotlib 3.0 and hold(False) has no "
                             "modern spelling: clear the axes with plt.cla() before plotting")


# --- installing ---------------------------------------------------------------------------------

def _name_getattr(module, original):
    """A module __getattr__ that answers the module's removed names, then defers to the original."""
    own = {old: entry for (mod, old), entry in NAMES_REMOVED.items() if mod == module.__name__}
    kind = KIND_OF_MODULE[module.__name__.split(".")[0]]

    def __getattr__(name):
        entry = own.get(name)
        if entry is not None and kind in _state["allowed"] and _student_asks(sys._getframe(1)):
            value = _resolve(entry[2])
            record(kind, f"{module.__name__}.{name}", entry[0])
            return value
        if original is None:
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        value = original(name)
        return _keyword_wrapped(module, name, value)
    return __getattr__


def _translate(func, label, args, kwargs):
    """kwargs with removed keywords renamed where func takes the new one and not the old."""
    params = _parameters(func)
    if params is None:
        return kwargs
    for old in [k for k in kwargs if k in KEYWORDS_REMOVED]:
        new, convert, _, _ = KEYWORDS_REMOVED[old]
        kind = KEYWORD_KIND[old]
        if old in params or new not in params or new in kwargs or kind not in _state["allowed"]:
            continue
        value = kwargs[old]
        converted = convert(value)
        if converted is _KEEP:
            continue
        kwargs = dict(kwargs)
        del kwargs[old]
        kwargs[new] = converted
        record(kind, f"{label}({old}={_short(value)})", f"{label}({new}={_short(converted)})")
    return kwargs


@functools.lru_cache(maxsize=None)
def _parameters_of(func):
    import inspect
    try:
        return frozenset(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None


def _parameters(func):
    try:
        return _parameters_of(func)
    except TypeError:       # unhashable callable
        return None


def _keyword_wrapped(module, name, value):
    """value, wrapped so removed keywords reach it under their new names (functions only). A
    function re-exported by a package (skimage.color's rgb2gray is colorconv's) is wrapped once:
    the module that defines it is patched first, and its wrapper is what the package imports."""
    if not isinstance(value, types.FunctionType) or name.startswith("_") or getattr(value, "__hw5_repaired__", False):
        return value
    label = f"{module.__name__}.{name}"

    @functools.wraps(value)
    def repaired(*args, **kwargs):
        if kwargs and not KEYWORDS_REMOVED.keys().isdisjoint(kwargs):
            kwargs = _translate(value, label, args, kwargs)
        return value(*args, **kwargs)
    repaired.__hw5_repaired__ = True
    try:
        module.__dict__[name] = repaired
    except TypeError:
        pass
    return repaired


def _patch_module(module):
    if getattr(module, "__hw5_repairs__", False):
        return
    module.__hw5_repairs__ = True
    name = module.__name__
    top = name.split(".")[0]
    if top == "skimage" or name == "matplotlib.pyplot":     # pyplot.hist passes density= itself
        for attr, value in list(module.__dict__.items()):
            _keyword_wrapped(module, attr, value)
    if name == "matplotlib.axes":
        _patch_axes(module)
    if top in ("skimage", "scipy", "matplotlib", "torchvision"):
        module.__getattr__ = _name_getattr(module, module.__dict__.get("__getattr__"))
    if name == "skimage.io" and "data-path" in _state["allowed"] and callable(module.__dict__.get("imread")):
        module.imread = _routed_reader(module.imread)
    if name == "torch" and "pytorch" in _state["allowed"]:
        _patch_torch(module)
    if name == "torchvision.datasets" and "pytorch" in _state["allowed"]:
        _patch_cifar(module.CIFAR10)


def _routed_reader(read):
    """imread(fname, ...) reading another machine's path to the photos (or data) from here; its
    plugins check the path themselves, before any open()."""
    def imread(fname, *args, **kwargs):
        if isinstance(fname, (str, os.PathLike)) and not os.path.exists(fname):
            fname = _route(fname, "rb")
        return read(fname, *args, **kwargs)
    return functools.wraps(read)(imread)


def _patch_cifar(cifar):
    """CIFAR10's arrays under the names torchvision gave them before .data and .targets."""
    for old, new in (("train_data", "data"), ("test_data", "data"), ("train_labels", "targets"),
                     ("test_labels", "targets")):
        if hasattr(cifar, old):
            continue

        def getter(self, old=old, new=new):
            record("pytorch", f"CIFAR10.{old}", f"CIFAR10.{new} (its current name)")
            return getattr(self, new)
        setattr(cifar, old, property(getter))


# --- PyTorch written for a GPU machine ----------------------------------------------------------

def _mentions_cuda(work: str) -> bool:
    """Whether the submission's code says cuda anywhere: only then is every torch call watched
    (a torch function mode costs a little on each operation)."""
    for folder, _, files in os.walk(work):
        for name in files:
            if name.endswith((".py", ".ipynb")) or "." not in name:
                try:
                    with _real_open(os.path.join(folder, name), "rb") as f:
                        if b"cuda" in f.read(4 << 20):
                            return True
                except OSError:
                    continue
    return False


def _patch_torch(torch):
    """DataLoader workers in the script's process (the sandbox gives a script one process's
    resources); CUDA asked for on a machine without a GPU runs on the CPU."""
    from torch.utils import data
    loader_init = data.DataLoader.__init__

    @functools.wraps(loader_init)
    def __init__(self, *args, num_workers=0, **kwargs):
        if num_workers and _student_asks(sys._getframe(1)):
            record("pytorch", f"DataLoader(num_workers={_short(num_workers)})",
                   "DataLoader(num_workers=0): batches loaded in the script's process")
            num_workers = 0
            kwargs.pop("prefetch_factor", None)
            kwargs.pop("persistent_workers", None)
        loader_init(self, *args, num_workers=num_workers, **kwargs)
    data.DataLoader.__init__ = __init__
    if torch.cuda.is_available() or not _mentions_cuda(_state["work"] or ""):
        return
    from torch.overrides import TorchFunctionMode

    def cuda(device) -> bool:
        try:
            return isinstance(device, (str, torch.device)) and torch.device(device).type == "cuda"
        except (RuntimeError, TypeError):
            return False

    class OnTheCpu(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func is torch.Tensor.cuda:
                record("pytorch", ".cuda()", "nothing: the tensor stays on the CPU (no GPU here)")
                return args[0]
            if cuda(kwargs.get("device")):
                record("pytorch", f"device={_short(kwargs['device'])}", "device='cpu' (no GPU here)")
                kwargs["device"] = "cpu"
            if func is torch.Tensor.to and any(cuda(a) for a in args):
                record("pytorch", ".to('cuda')", ".to('cpu') (no GPU here)")
                args = tuple("cpu" if cuda(a) else a for a in args)
            return func(*args, **kwargs)
    OnTheCpu().__enter__()      # for the rest of the worker's life, which is this script's


def _patch_axes(axes):
    cls = axes.Axes
    hist = cls.hist

    @functools.wraps(hist)
    def hist_repaired(self, *args, **kwargs):
        if "normed" in kwargs:
            kwargs = _translate(hist, "Axes.hist", args, kwargs)
        return hist(self, *args, **kwargs)
    cls.hist = hist_repaired
    if "matplotlib" in _state["allowed"] and not hasattr(cls, "set_axis_bgcolor"):
        def set_axis_bgcolor(self, color):
            record("matplotlib", "Axes.set_axis_bgcolor", "Axes.set_facecolor (removed in matplotlib 2.2)")
            return self.set_facecolor(color)
        cls.set_axis_bgcolor = set_axis_bgcolor


PATCHED_MODULES = ("skimage", "scipy.misc", "scipy.ndimage", "matplotlib.pyplot", "matplotlib.cm",
                   "matplotlib.axes", "torch", "torchvision.transforms", "torchvision.datasets")


def _watched(name: str) -> bool:
    if name.startswith("skimage"):
        return not any(part.startswith("_") for part in name.split("."))
    return name in PATCHED_MODULES


class _Finder:
    """Patches the watched modules right after they execute (they are imported by the student)."""

    def find_spec(self, name, path, target=None):
        if not _watched(name):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _patch_module(module)

    def __getattr__(self, name):          # get_resource_reader, is_package, ...
        return getattr(self.loader, name)


def _patch_numpy():
    np = sys.modules.get("numpy") or importlib.import_module("numpy")
    original = np.__dict__.get("__getattr__")

    def __getattr__(name):
        entry = NUMPY_REMOVED.get(name)
        if entry is not None and _student_asks(sys._getframe(1)):
            record("numpy", f"np.{name}", entry[0])
            return _resolve(entry[2])
        return original(name)
    np.__getattr__ = __getattr__


# --- files of another machine -------------------------------------------------------------------

_real_open = builtins.open
_real_makedirs = os.makedirs
_real_mkdir = os.mkdir
_real_listdir = os.listdir
_real_scandir = os.scandir
_WRITE = re.compile(r"[wax+]")


def _data_names() -> dict:
    """{file name: path} of the course data files under ../data (and the edition's aliases)."""
    if _state["names"] is None:
        names = {}
        data = _state["data_dir"]
        if data and os.path.isdir(data):
            for root, _, files in os.walk(data):
                for f in sorted(files):
                    names.setdefault(f, os.path.join(root, f))
        for alias, rel in _state["aliases"].items():
            target = os.path.join(data or "", rel)
            if alias not in names and os.path.exists(target):
                names[alias] = target
        _state["names"] = names
    return _state["names"]


def _scratch_for(folder: str) -> str:
    tail = re.sub(r"[:\\]", "_", os.path.abspath(folder)).lstrip("/")
    return os.path.join(_state["scratch"], tail)


def _route(path, mode: str):
    """The path to open instead of `path` (path itself when nothing applies)."""
    text = os.fsdecode(os.fspath(path))
    writing = bool(_WRITE.search(mode))
    data = _state["data_dir"]
    if os.path.exists(text):
        if not writing and text.endswith(DATA_READ_SUFFIXES) and data and os.path.realpath(text).startswith(data + os.sep):
            record(DATA_READ, text, os.path.relpath(os.path.realpath(text), data))
        return path
    name = re.split(r"[\\/]", text)[-1]
    folder = os.path.dirname(os.path.abspath(text))
    if writing:
        if "output-folder" in _state["allowed"] and name and not os.path.isdir(folder):
            scratch = _scratch_for(folder)
            _real_makedirs(scratch, exist_ok=True)
            record("output-folder", text, f"a scratch folder ({os.path.dirname(text) or '.'} does not "
                                          "exist here; the file is kept aside)")
            return os.path.join(scratch, name)
        return path
    alias = _state["aliases"].get(name)
    if alias and data and os.path.realpath(folder) == data and os.path.exists(os.path.join(data, alias)):
        record(DATA_READ, text, alias)       # the edition's other name of the file: not a repair
        return os.path.join(data, alias)
    moved = os.path.join(_scratch_for(folder), name)
    if _state["scratch"] and os.path.exists(moved):
        return moved
    served = _data_names().get(name) if "data-path" in _state["allowed"] else None
    if served:
        rel = os.path.relpath(served, data)
        record("data-path", text, f"../data/{rel}")
        record(DATA_READ, text, rel)
        return served
    photo = _photo(text) if "data-path" in _state["allowed"] else None
    if photo:
        record("data-path", text, "../images/" + os.path.relpath(photo, _images_dir()))
        return photo
    if name.endswith(RESULT_SUFFIXES):
        raise FileNotFoundError(errno.ENOENT, f"No such file or directory: {text!r}. {name} is not in the "
                                f"submission: the script loads a results file the deliverables do not "
                                f"include (a training = False flag?). The grader runs the script as handed "
                                f"in, so it must make {name} itself before reading it", text)
    return path


def _images_dir() -> str | None:
    """The course photos (../images), beside the data."""
    data = _state["data_dir"]
    images = os.path.join(os.path.dirname(data), "images") if data else None
    return images if images and os.path.isdir(images) else None


def _photo(text: str) -> str | None:
    """What another machine's path to the photos (C:\\...\\hw5\\images\\01_list.jpg, or the folder
    itself) is here: the part after its last `images` folder, under ../images, if that exists."""
    parts = re.split(r"[\\/]", text)
    lowered = [p.lower() for p in parts]
    images = _images_dir()
    if "images" not in lowered or images is None:
        return None
    rest = [p for p in parts[len(lowered) - lowered[::-1].index("images"):] if p]
    served = os.path.join(images, *rest)
    return served if os.path.exists(served) else None


def _folder(path) -> object:
    """The folder to list instead of `path`: ../images for another machine's path to it."""
    if isinstance(path, (str, bytes, os.PathLike)):
        text = os.fsdecode(os.fspath(path))
        if not os.path.exists(text):
            photo = _photo(text)
            if photo and os.path.isdir(photo):
                record("data-path", text, "../images")
                return photo
    return path


def _listdir(path="."):
    return _real_listdir(_folder(path))


def _scandir(path="."):
    return _real_scandir(_folder(path))


def _open(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, bytes, os.PathLike)):
        file = _route(file, mode)
    return _real_open(file, mode, *args, **kwargs)


def _makedirs(name, mode=0o777, exist_ok=False):
    try:
        return _real_makedirs(name, mode, exist_ok)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM) or "output-folder" not in _state["allowed"]:
            raise
    _real_makedirs(_scratch_for(name), exist_ok=True)
    record("output-folder", os.fsdecode(name), "a scratch folder (it cannot be made here)")


def _mkdir(path, mode=0o777, *, dir_fd=None):
    if dir_fd is not None:
        return _real_mkdir(path, mode, dir_fd=dir_fd)
    try:
        return _real_mkdir(path, mode)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM) or "output-folder" not in _state["allowed"]:
            raise
    _real_makedirs(_scratch_for(path), exist_ok=True)
    record("output-folder", os.fsdecode(path), "a scratch folder (it cannot be made here)")


def _named(function, module: str, name: str):
    function.__module__, function.__name__, function.__qualname__ = module, name, name
    return function


def install(work: str, allowed=tuple(KINDS), data_dir: str | None = None, aliases: dict | None = None,
            scratch: str | None = None) -> None:
    """Install the repairs of the allowed kinds (the others are not installed: code that needs
    them fails as it would). work: the submission's folder (whose frames are the student's);
    data_dir: the course data (../data); aliases: {file name: path under data_dir} of other names
    the edition's scripts use for the same files; scratch: where writes into missing folders go."""
    _state.update(work=os.path.realpath(work), allowed=frozenset(allowed) & frozenset(KINDS),
                  data_dir=os.path.realpath(data_dir) if data_dir else None, aliases=dict(aliases or {}),
                  names=None, scratch=scratch or os.path.join(os.environ.get("TMPDIR") or "/tmp", "hw5-scratch"))
    # the student's frames are found by path: the folder as the worker sees it, not resolved
    _state["work"] = work
    allowed = _state["allowed"]
    if "numpy" in allowed:
        _patch_numpy()
    if allowed & {"scikit-image", "scipy", "matplotlib", "pytorch"}:
        sys.meta_path.insert(0, _Finder())
        for name in list(sys.modules):
            if _watched(name):
                _patch_module(sys.modules[name])
    # files: data reads are always noted; the repairs only when allowed. The replacements carry
    # the names they stand for, so a student's pickle of os.mkdir or open means what it says.
    _named(_open, "builtins", "open")
    builtins.open = _open
    if "data-path" in allowed:
        os.listdir, os.scandir = _named(_listdir, "os", "listdir"), _named(_scandir, "os", "scandir")
    if "output-folder" in allowed:
        os.makedirs, os.mkdir = _named(_makedirs, "os", "makedirs"), _named(_mkdir, "os", "mkdir")
