"""Lets torchvision's CIFAR10, MNIST and EMNIST work offline on the grader's stand-in files.

The sandbox has no network, and the grader's CIFAR-10 is a synthetic stand-in in the real
format (fixtures/torchdata.py), whose md5 sums are not the real files' that torchvision checks.
Unpatched, ``CIFAR10(root, download=True)`` would find the files "corrupted" and try to
download. After ``install(data_dir)``:

- a file passes torchvision's integrity check if its md5 is the real file's (as before) or the
  one ``data_dir/cifar-10-batches-py/STANDIN.json`` lists for its name;
- ``download()`` of a root that lacks valid files copies ``data_dir/cifar-10-batches-py`` into
  it (e.g. a script's ``root='./data'``) instead of fetching the archive.

How to call it (the sandbox worker does, before running a Q6 script; cheap, as it imports
neither torch nor torchvision)::

    from graders.sandbox.shipped import offline_torch
    offline_torch.install("/path/to/data")   # the folder mounted at ../data

MNIST and EMNIST read their raw files with no md5 check, so only ``download()`` of a root that
lacks them changes: it copies ``data_dir/MNIST`` (``data_dir/EMNIST``) into the script's root
(``MNIST(root='./mnist_data', download=True)``, the tutorials' spelling) instead of fetching.

The patches are applied when the script imports torchvision (a ``sys.meta_path`` hook waits for
``torchvision.datasets.cifar`` and ``torchvision.datasets.mnist``), or at once if imported already. Calling install again
only changes the folder. Standard library only: this module runs inside the sandbox.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import shutil
import sys

TARGET = "torchvision.datasets.cifar"
MNIST_TARGET = "torchvision.datasets.mnist"
FOLDER = "cifar-10-batches-py"
MANIFEST = "STANDIN.json"

_state: dict = {"data_dir": None}


def install(data_dir) -> None:
    """Patch torchvision's CIFAR10 (now, or when it is imported) to use data_dir's offline copy."""
    _state["data_dir"] = os.path.abspath(os.fspath(data_dir))
    for target, patch in PATCHES.items():
        if target in sys.modules:
            patch(sys.modules[target])
    if not all(t in sys.modules for t in PATCHES) and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _offline_folder() -> str:
    return os.path.join(_state["data_dir"], FOLDER)


def _standin_md5() -> dict:
    try:
        with open(os.path.join(_offline_folder(), MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _patch(module) -> None:
    if getattr(module, "_hw5grade_offline", False):
        return
    real_check = module.check_integrity
    cifar10 = module.CIFAR10
    real_download = cifar10.download

    def check_integrity(fpath, md5=None) -> bool:
        if real_check(fpath, md5):
            return True
        expected = _standin_md5().get(os.path.basename(os.fspath(fpath)))
        return bool(expected) and os.path.isfile(fpath) and _md5(fpath) == expected

    def download(self) -> None:
        offline = _offline_folder()
        if self.base_folder != FOLDER or not os.path.isdir(offline) or self._check_integrity():
            return real_download(self)
        target = os.path.join(self.root, self.base_folder)
        if os.path.abspath(target) != os.path.abspath(offline):
            shutil.copytree(offline, target, dirs_exist_ok=True)
            print(f"CIFAR-10: no network here; copied the grader's offline copy to {target}")

    module.check_integrity = check_integrity  # the module global CIFAR10's methods call
    cifar10.download = download
    module._hw5grade_offline = True


def _patch_mnist(module) -> None:
    if getattr(module, "_hw5grade_offline", False):
        return
    for cls in (getattr(module, "MNIST", None), getattr(module, "EMNIST", None)):
        if cls is not None and "download" in vars(cls):
            cls.download = _offline_download(cls.download)
    module._hw5grade_offline = True


def _offline_download(real_download):
    def download(self) -> None:
        # root/MNIST/raw, root/EMNIST/raw: the grader's copy is data_dir/MNIST, data_dir/EMNIST
        target = os.path.dirname(self.raw_folder)
        offline = os.path.join(_state["data_dir"] or "", os.path.basename(target))
        if not self._check_exists() and os.path.isdir(offline) and \
                os.path.abspath(target) != os.path.abspath(offline):
            shutil.copytree(offline, target, dirs_exist_ok=True)
            print(f"{os.path.basename(target)}: no network here; copied the grader's offline copy to {target}")
        if not self._check_exists():
            return real_download(self)
    return download


PATCHES = {TARGET: _patch, MNIST_TARGET: _patch_mnist}


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the datasets' modules as usual, then patches each once it has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_source, get_filename ... as the real loader
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        if _state["data_dir"]:
            PATCHES[module.__name__](module)
