"""graders.pipeline.ingest: every kind of submission a TA downloads, and every archive that must be refused."""
from __future__ import annotations

import ast
import io
import json
import os
import stat
import struct
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from graders.pipeline import ingest
from graders.pipeline.ingest import IngestError, Submission, discover, prepare

from support import REPO

REFERENCE = REPO / "reference" / "python"
HANDOUT = ("nn.py", "q4.py", "run_q2.py", "run_q3.py", "run_q4.py", "run_q5.py", "util.py")


def source(name: str) -> str:
    return (REFERENCE / name).read_text()


def make_zip(path: Path, files: dict, infos=()) -> Path:
    """files: {archive name: text or bytes}; infos: (ZipInfo, bytes) written as given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for info, data in infos:
            zf.writestr(info, data)
    return path


def submission(path: Path, kind: str) -> Submission:
    return Submission(path.stem if kind != "folder" else path.name, path, kind)


def prepared_files(prepared) -> set[str]:
    python = prepared.folder / "python"
    return {p.relative_to(python).as_posix() for p in python.rglob("*") if p.is_file()}


def refused(sub: Submission, dest: Path) -> str:
    with pytest.raises(IngestError) as caught:
        prepare(sub, dest)
    # nothing is left behind, partial or hidden
    assert not dest.exists() or list(dest.iterdir()) == []
    return str(caught.value)


def definition_cells(text: str) -> list[str]:
    """A module cut into cells: its header, then one cell per top-level definition (with the
    comment block above it), as a student pastes it into a notebook."""
    lines = text.splitlines()
    cuts = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            start = node.lineno - 1
            while start > 0 and lines[start - 1].startswith("#"):
                start -= 1
            cuts.append(start)
    bounds = [0] + cuts + [len(lines)]
    return [c for c in ("\n".join(lines[a:b]).strip() for a, b in zip(bounds, bounds[1:])) if c]


def write_notebook(path: Path, cells) -> Path:
    nb = new_notebook(cells=[c if not isinstance(c, str) else new_code_cell(c) for c in cells])
    nbformat.write(nb, str(path))
    return path


# -- discover ----------------------------------------------------------------------------------
def test_discover_kinds_names_and_duplicates(tmp_path):
    root = tmp_path / "downloads"
    root.mkdir()
    (root / "alice").mkdir()
    make_zip(root / "alice.zip", {"nn.py": "x = 1\n"})
    make_zip(root / "Bob Smith (late).zip", {"nn.py": "x = 1\n"})
    write_notebook(root / "carol.ipynb", ["print(1)"])
    (root / "dave.pdf").write_bytes(b"%PDF")
    (root / "eve.tar.gz").write_bytes(b"\x1f\x8b")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "__MACOSX").mkdir()
    os.mkfifo(root / "fifo")
    (root / "link").symlink_to(root / "alice")

    found = discover(root)
    by_path = {s.path.name: s for s in found}
    assert set(by_path) == {"alice", "alice.zip", "Bob Smith (late).zip", "carol.ipynb", "dave.pdf",
                            "eve.tar.gz", "fifo", "link"}
    assert [s.kind for s in found if s.path.name in ("alice", "alice.zip", "carol.ipynb")] == \
        ["folder", "zip", "notebook"]
    assert {by_path[n].kind for n in ("dave.pdf", "eve.tar.gz", "fifo", "link")} == {"unknown"}
    assert by_path["Bob Smith (late).zip"].name == "Bob_Smith_late"
    names = [s.name for s in found]
    assert len(set(n.lower() for n in names)) == len(names)
    assert {by_path["alice"].name, by_path["alice.zip"].name} == {"alice", "alice-2"}
    # unknown entries explain themselves, without stopping anything
    assert "only .zip" in refused(by_path["eve.tar.gz"], tmp_path / "o1")
    assert ".zip of your python/" in refused(by_path["dave.pdf"], tmp_path / "o2")
    assert "symbolic link" in refused(by_path["link"], tmp_path / "o3")


def test_discover_refuses_a_missing_root(tmp_path):
    with pytest.raises(IngestError, match="not a folder"):
        discover(tmp_path / "nowhere")


# -- folders -----------------------------------------------------------------------------------
def test_folder_with_python_and_links_and_specials(tmp_path):
    sub = tmp_path / "alice"
    (sub / "python").mkdir(parents=True)
    for name in HANDOUT:
        (sub / "python" / name).write_text(source(name))
    (sub / "python" / "helpers.py").write_text("HELP = 1\n")
    (sub / "python" / "q3_weights.pickle").write_bytes(b"\x80" * 1000)
    (sub / "python" / "__pycache__").mkdir()
    (sub / "python" / "__pycache__" / "nn.cpython-311.pyc").write_bytes(b"\0")
    (sub / "python" / "secret.py").symlink_to("/etc/passwd")
    os.mkfifo(sub / "python" / "pipe.py")
    (sub / "data").mkdir()
    big = sub / "python" / "nist36_train.mat"
    with open(big, "wb") as f:
        f.truncate(ingest.MAX_DATA_BYTES + 1)
    (sub / "writeup.pdf").write_bytes(b"%PDF")

    out = prepare(submission(sub, "folder"), tmp_path / "out")
    assert out.folder == tmp_path / "out" / "alice"
    assert prepared_files(out) == set(HANDOUT) | {"helpers.py", "q3_weights.pickle"}
    assert (out.folder / "python" / "nn.py").read_text() == source("nn.py")
    assert not any(p.is_symlink() for p in out.folder.rglob("*"))
    notes = "\n".join(out.notes)
    assert "secret.py (a link)" in notes and "pipe.py (not a regular file)" in notes
    assert "nist36_train.mat" in notes and "python/" in notes


def test_folder_with_files_at_its_top_and_a_second_prepare_replaces_the_first(tmp_path):
    sub = tmp_path / "bob"
    sub.mkdir()
    (sub / "nn.py").write_text(source("nn.py"))
    (sub / "run_q2.py").write_text(source("run_q2.py"))
    first = prepare(submission(sub, "folder"), tmp_path / "out")
    assert prepared_files(first) == {"nn.py", "run_q2.py"}
    assert any("no util.py" in n for n in first.notes)
    (sub / "run_q2.py").unlink()
    (first.folder / "grade.json").write_text("{}")      # a batch's output beside python/ survives
    again = prepare(submission(sub, "folder"), tmp_path / "out")
    assert prepared_files(again) == {"nn.py"}
    assert (again.folder / "grade.json").exists()


def test_folder_without_deliverables(tmp_path):
    sub = tmp_path / "carl"
    sub.mkdir()
    (sub / "answers.txt").write_text("hello")
    message = refused(submission(sub, "folder"), tmp_path / "out")
    assert "none of the handout's files" in message and "answers.txt" in message


@pytest.mark.parametrize("names", [("run_q6_1_1.py",), ("q711.py", "models.py"), ("run_q6.1.1.py",),
                                   ("7.1.5_skip.py", "6_1_1.py")])     # named as graders.pipeline.discovery reads them
def test_a_folder_of_pytorch_scripts_only_is_a_submission(tmp_path, names):
    """The PyTorch part's scripts have no fixed names, and a student may hand them in alone."""
    sub = tmp_path / "dana" / "code"
    sub.mkdir(parents=True)
    for name in names:
        (sub / name).write_text("import torch\n")
    prepared = prepare(submission(tmp_path / "dana", "folder"), tmp_path / "out")
    assert prepared_files(prepared) == set(names)
    assert any("files taken from code/" in n for n in prepared.notes)


# -- zips --------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["", "python/", "alice/python/", "alice/", "hw5/code/python/"])
def test_zip_layouts(tmp_path, prefix):
    files = {prefix + name: source(name) for name in ("nn.py", "q4.py", "run_q2.py")}
    files.update({"__MACOSX/._nn.py": b"\0\0", prefix + ".DS_Store": b"\0",
                  prefix + "__pycache__/nn.cpython-311.pyc": b"\0", "README.txt": "hi",
                  prefix + "extra.py": "X = 1\n"})
    out = prepare(submission(make_zip(tmp_path / "alice.zip", files), "zip"), tmp_path / "out")
    assert prepared_files(out) == {"nn.py", "q4.py", "run_q2.py", "extra.py"}
    assert (out.folder / "python" / "q4.py").read_text() == source("q4.py")
    assert any("files taken from" in n for n in out.notes)


def test_zip_skips_big_data_and_keeps_small_weights(tmp_path):
    files = {"python/nn.py": source("nn.py"), "python/q3_weights.pickle": os.urandom(4000),
             "data/nist36_valid.mat": os.urandom(ingest.MAX_DATA_BYTES + 10)}
    out = prepare(submission(make_zip(tmp_path / "a.zip", files), "zip"), tmp_path / "out")
    assert prepared_files(out) == {"nn.py", "q3_weights.pickle"}
    assert (out.folder / "python" / "q3_weights.pickle").read_bytes() == files["python/q3_weights.pickle"]
    files["nn.py"] = source("nn.py")         # at the top too: the top now holds the data as well
    out = prepare(submission(make_zip(tmp_path / "b.zip", {
        "nn.py": source("nn.py"), "data/nist36_valid.mat": files["data/nist36_valid.mat"]}), "zip"),
        tmp_path / "out")
    assert prepared_files(out) == {"nn.py"}
    assert any("data/nist36_valid.mat" in n and "grader provides the data" in n for n in out.notes)


def unix_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


@pytest.mark.parametrize("name, expected", [
    ("/etc/cron.d/evil.py", "absolute path"),
    ("../../evil.py", "outside the archive"),
    ("python/../../evil.py", "outside the archive"),
    ("..\\..\\evil.py", "outside the archive"),
    ("C:/Windows/evil.py", "absolute path"),
])
def test_zip_traversal_is_refused(tmp_path, name, expected):
    archive = make_zip(tmp_path / "evil.zip", {"python/nn.py": "x = 1\n"},
                       infos=[(zipfile.ZipInfo(name), "import os\n")])
    message = refused(submission(archive, "zip"), tmp_path / "out")
    assert expected in message
    assert not list(tmp_path.rglob("evil.py"))


def test_zip_symlink_and_fifo_entries_are_refused(tmp_path):
    link = make_zip(tmp_path / "link.zip", {"python/nn.py": "x = 1\n"},
                    infos=[(unix_info("python/q4.py", stat.S_IFLNK | 0o777), "/etc/passwd")])
    assert "symbolic link (python/q4.py)" in refused(submission(link, "zip"), tmp_path / "o1")
    fifo = make_zip(tmp_path / "fifo.zip", {"python/nn.py": "x = 1\n"},
                    infos=[(unix_info("python/pipe", stat.S_IFIFO | 0o644), b"")])
    assert "not a regular file" in refused(submission(fifo, "zip"), tmp_path / "o2")
    # an ordinary file made on Unix is fine
    ok = make_zip(tmp_path / "ok.zip", {}, infos=[(unix_info("nn.py", stat.S_IFREG | 0o644), "x = 1\n")])
    assert prepared_files(prepare(submission(ok, "zip"), tmp_path / "o3")) == {"nn.py"}


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("python/nn.py", "x = 1\n")
        with zf.open("python/zeros.py", "w") as f:
            for _ in range(50):
                f.write(bytes(2**20))
    assert archive.stat().st_size < 200_000
    message = refused(submission(archive, "zip"), tmp_path / "out")
    assert "zip bomb" in message


def test_zip_too_big_and_too_many_entries(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "big.zip", {f"python/f{i}.py": os.urandom(3000) for i in range(12)})
    monkeypatch.setattr(ingest, "MAX_UNPACKED_BYTES", 20_000)
    assert "more than 20 KB" in refused(submission(archive, "zip"), tmp_path / "o1")
    monkeypatch.setattr(ingest, "MAX_UNPACKED_BYTES", 10**9)
    monkeypatch.setattr(ingest, "MAX_ENTRIES", 10)
    assert "12 entries, more than the 10" in refused(submission(archive, "zip"), tmp_path / "o2")


def lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """The zip with the uncompressed size of `name` replaced in both headers."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    struct.pack_into("<I", out, local + 22, size)
    central = out.find(b"PK\x01\x02")
    assert out[central + 46:central + 46 + len(name)] == name
    struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def test_zip_whose_headers_understate_the_size_is_refused(tmp_path):
    payload = bytes(3 * 2**20)          # 3 MB of zeros declared as 100 bytes: passes every check
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("python/nn.py", payload)
    archive = tmp_path / "liar.zip"
    archive.write_bytes(lie_about_size(buffer.getvalue(), b"python/nn.py", 100))
    message = refused(submission(archive, "zip"), tmp_path / "out")
    assert "not a readable zip" in message or "unpacks to more bytes" in message


def test_the_writer_stops_at_the_actual_bytes(tmp_path, monkeypatch):
    """Even when every declared size passes, the bytes really written are counted."""
    archive = make_zip(tmp_path / "a.zip", {"python/nn.py": bytes(300_000)})
    monkeypatch.setattr(ingest, "MAX_RATIO", 10**9)
    monkeypatch.setattr(ingest, "zip_entries", lambda zf, label: [
        ingest._Entry(ingest.PurePosixPath(i.filename), 10, lambda i=i: zf.open(i))
        for i in zf.infolist()])
    monkeypatch.setattr(ingest, "MAX_SOURCE_BYTES", 100_000)
    assert "unpacks to more bytes" in refused(submission(archive, "zip"), tmp_path / "out")


def test_encrypted_truncated_nested_and_empty_zips(tmp_path):
    good = make_zip(tmp_path / "good.zip", {"python/nn.py": source("nn.py"), "python/q4.py": source("q4.py")})
    data = good.read_bytes()
    encrypted = bytearray(data)
    encrypted[encrypted.find(b"PK\x01\x02") + 8] |= 1            # central directory flag bits
    (tmp_path / "enc.zip").write_bytes(bytes(encrypted))
    assert "encrypted" in refused(submission(tmp_path / "enc.zip", "zip"), tmp_path / "o1")

    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    assert "not a readable zip" in refused(submission(tmp_path / "cut.zip", "zip"), tmp_path / "o2")
    corrupt = bytearray(data)
    start = corrupt.find(b"PK\x03\x04") + 30 + len("python/nn.py")
    corrupt[start + 100:start + 400] = bytes(300)                # the compressed bytes of nn.py
    (tmp_path / "bad.zip").write_bytes(bytes(corrupt))
    message = refused(submission(tmp_path / "bad.zip", "zip"), tmp_path / "o3")
    assert "corrupt" in message or "not a readable zip" in message

    # one archive inside, as a write-up and code.zip zipped together: unpacked, once
    nested = make_zip(tmp_path / "nested.zip", {"writeup.pdf": b"%PDF", "code.zip": data})
    out = prepare(submission(nested, "zip"), tmp_path / "o4")
    assert prepared_files(out) == {"nn.py", "q4.py"}
    assert any("the code came from the archive inside it, code.zip" in n for n in out.notes)
    deeper = make_zip(tmp_path / "deeper.zip", {"outer.zip": nested.read_bytes()})
    message = refused(submission(deeper, "zip"), tmp_path / "o4b")
    assert "unpacked only one level deep" in message and "outer/code.zip" in message
    two = make_zip(tmp_path / "two.zip", {"a.zip": data, "b.zip": data})
    assert "unpacked only one level deep" in refused(submission(two, "zip"), tmp_path / "o4c")
    bulk = make_zip(tmp_path / "submissions.zip", {"smith_12345_678901_hw5.zip": data,
                                                  "jones_23456_678902_hw5.zip": data})
    assert "Canvas's bulk download" in refused(submission(bulk, "zip"), tmp_path / "o4d")
    inner_bomb = make_zip(tmp_path / "b.zip", {"python/nn.py": b"0" * (4 * 2**20)})
    bomb = make_zip(tmp_path / "inner_bomb.zip", {"code.zip": inner_bomb.read_bytes()})
    assert "zip bombs" in refused(submission(bomb, "zip"), tmp_path / "o4e")
    both = make_zip(tmp_path / "both.zip", {"python/nn.py": source("nn.py"), "old.zip": data})
    out = prepare(submission(both, "zip"), tmp_path / "o5")
    assert prepared_files(out) == {"nn.py"}
    assert any("nested archives are not unpacked: old.zip" in n for n in out.notes)

    empty = make_zip(tmp_path / "empty.zip", {})
    assert "none of the handout's files" in refused(submission(empty, "zip"), tmp_path / "o6")


def test_a_zip_holding_a_notebook(tmp_path):
    nb = tmp_path / "hw5.ipynb"
    write_notebook(nb, ["%%writefile python/nn.py\n" + source("nn.py")])
    archive = make_zip(tmp_path / "dana.zip", {"dana/hw5.ipynb": nb.read_text(), "dana/report.pdf": b"%PDF"})
    out = prepare(submission(archive, "zip"), tmp_path / "out")
    assert (out.folder / "python" / "nn.py").read_text() == source("nn.py")
    assert any("%%writefile" in n for n in out.notes)


def test_a_folder_holding_notebooks_only(tmp_path):
    sub = tmp_path / "gina"
    sub.mkdir()
    write_notebook(sub / "part1.ipynb", ["# nn.py\n" + source("nn.py")])
    write_notebook(sub / "part2.ipynb", ["import numpy as np", "# q4.py\n" + source("q4.py")])
    out = prepare(submission(sub, "folder"), tmp_path / "out")
    assert prepared_files(out) == {"nn.py", "q4.py"}
    notes = "\n".join(out.notes)
    assert "'# nn.py': cell part1.ipynb#1" in notes and "'# q4.py': cell part2.ipynb#2" in notes


# -- notebooks ---------------------------------------------------------------------------------
def prepare_notebook(tmp_path, cells, name="nb"):
    path = write_notebook(tmp_path / f"{name}.ipynb", cells)
    return prepare(submission(path, "notebook"), tmp_path / f"out_{name}")


def test_notebook_writefile_convention(tmp_path):
    out = prepare_notebook(tmp_path, [
        new_markdown_cell("# HW5"),
        "from google.colab import drive\ndrive.mount('/content/drive')",
        "%%writefile /content/drive/MyDrive/hw5/python/nn.py\n" + source("nn.py"),
        "%%writefile 'run_q2.py'\n" + source("run_q2.py"),
        "%%writefile -a run_q2.py\nprint('appended')\n",
        "!python run_q2.py",
        "%%writefile notes.txt\nnot python",
    ])
    assert prepared_files(out) == {"nn.py", "run_q2.py"}
    assert (out.folder / "python" / "nn.py").read_text() == source("nn.py")
    assert (out.folder / "python" / "run_q2.py").read_text() == source("run_q2.py") + "print('appended')\n"
    notes = "\n".join(out.notes)
    assert "nn.py from %%writefile cell 3" in notes and "run_q2.py from %%writefile cells 4, 5" in notes
    assert "gives no q4.py" in notes


def test_notebook_marker_convention(tmp_path):
    out = prepare_notebook(tmp_path, [
        "%matplotlib inline\nimport numpy as np",
        "# nn.py\n" + source("nn.py"),
        "print(sigmoid(np.zeros(2)))",          # continues nn.py until the next marker
        "# File: q4.py\n" + source("q4.py"),
        "# ---- run_q2.py ----\n" + source("run_q2.py"),
        "!ls\nfor i in range(2):\n    !echo hi\n    print(i)",
    ])
    assert prepared_files(out) == {"nn.py", "q4.py", "run_q2.py"}
    nn = (out.folder / "python" / "nn.py").read_text()
    assert nn.startswith("# nn.py\n") and "print(sigmoid(np.zeros(2)))" in nn
    assert "%matplotlib" not in nn
    run_q2 = (out.folder / "python" / "run_q2.py").read_text()
    assert "# !ls" in run_q2 and "    pass  # !echo hi" in run_q2
    ast.parse(run_q2)
    notes = "\n".join(out.notes)
    assert "nn.py from the cells marked '# nn.py': cells 2, 3" in notes
    assert "q4.py from the cells marked '# q4.py': cell 4" in notes


def test_notebook_definitions_convention_keeps_definitions_only(tmp_path):
    out = prepare_notebook(tmp_path, [
        "!pip install nothing\n%matplotlib inline\nimport numpy as np\nimport torch\nimport scipy.io",
        "SCALE = 6.0\n\ndef helper(n):\n    return np.sqrt(SCALE / n)",
        "def initialize_weights(in_size, out_size, params, name=''):\n"
        "    a = helper(in_size + out_size)\n"
        "    params['W' + name] = np.random.uniform(-a, a, (in_size, out_size))\n"
        "    params['b' + name] = np.zeros(out_size)\n\n"
        "params = {}\ninitialize_weights(2, 3, params)\nprint(params)",
        "def sigmoid(x):\n    return 0",
        "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))   # the fixed one, defined later",
        "data = scipy.io.loadmat('../data/nist36_train.mat')\nmodel = torch.nn.Linear(2, 2)",
        "def findLetters(image):\n    return [], image[..., 0]",
        "def broken(:\n    pass",
    ])
    assert prepared_files(out) == {"nn.py", "q4.py"}
    nn = (out.folder / "python" / "nn.py").read_text()
    tree = ast.parse(nn)
    assert "from util import *" in nn and "import numpy as np" in nn
    assert "torch" not in nn and "scipy" not in nn and "loadmat" not in nn
    assert "initialize_weights(2, 3, params)" not in nn and "helper" in nn and "SCALE = 6.0" in nn
    defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert defined == ["helper", "initialize_weights", "sigmoid", "sigmoid"]   # the last one wins
    namespace = {}
    exec(compile(nn.replace("from util import *", ""), "nn.py", "exec"), namespace)
    assert namespace["sigmoid"](0.0) == 0.5
    q4 = (out.folder / "python" / "q4.py").read_text()
    assert "def findLetters" in q4 and "numpy" not in q4
    notes = "\n".join(out.notes)
    assert "nn.py from the definitions of initialize_weights, sigmoid in unmarked cells 3, 5" in notes
    assert "q4.py from the definitions of findLetters in unmarked cell 7" in notes
    assert "cannot be told apart" in notes and "run_q3.py" in notes


def test_notebook_with_nothing_gradable(tmp_path):
    path = write_notebook(tmp_path / "empty.ipynb", ["print('hello')", new_markdown_cell("def sigmoid")])
    message = refused(submission(path, "notebook"), tmp_path / "out")
    assert "defines none of the handout's functions" in message


def test_broken_notebooks_are_refused(tmp_path):
    latin = tmp_path / "latin.ipynb"
    latin.write_bytes(json.dumps({"cells": [], "note": "é"}).encode().replace(b"\\u00e9", b"\xe9"))
    assert "not UTF-8" in refused(submission(latin, "notebook"), tmp_path / "o1")
    for i, text in enumerate(['{"cells": [', "[1, 2]", '{"no": "cells"}', "",
                              '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 3}']):
        path = tmp_path / f"bad{i}.ipynb"
        path.write_text(text)
        message = refused(submission(path, "notebook"), tmp_path / f"o_bad{i}")
        assert "not a valid Jupyter notebook" in message or "unreadable cells" in message, message


def test_a_notebook_off_the_schema_is_read_with_a_note(tmp_path):
    nb = new_notebook(cells=[new_code_cell("%%writefile nn.py\nX = 1\n")])
    raw = json.loads(nbformat.writes(nb))
    raw["cells"][0]["colab"] = {"id": "abc"}         # a key the schema does not allow in a cell
    del raw["cells"][0]["outputs"]
    path = tmp_path / "colab.ipynb"
    path.write_text(json.dumps(raw))
    out = prepare(submission(path, "notebook"), tmp_path / "out")
    assert (out.folder / "python" / "nn.py").read_text() == "X = 1\n"
    assert any("does not follow the notebook format" in n for n in out.notes)


# -- end to end --------------------------------------------------------------------------------
def q2_view(results: dict) -> tuple[dict, dict]:
    scores = {q: v["score"] for q, v in results["questions"].items() if q.startswith("Q2.")}
    checks = {c["name"]: c["status"] for c in results["checks"]
              if c["question"].startswith("Q2.") and not c.get("not_run")}
    return scores, checks


def test_an_unmarked_notebook_grades_like_the_reference(tmp_path):
    from support import grade_cli

    cells = [new_markdown_cell("# Homework 5"), "%matplotlib inline\n!pip install -q scikit-image"]
    cells += definition_cells(source("nn.py"))
    cells += ["params = {}\ninitialize_weights(2, 25, params, 'layer1')\nprint(params['Wlayer1'].shape)"]
    cells += definition_cells(source("q4.py"))
    cells += ["import matplotlib.pyplot as plt\nimport skimage.io\n"
              "bboxes, bw = findLetters(skimage.io.imread('../images/01_list.jpg'))\nplt.imshow(bw)"]
    cells += ["%%writefile run_q2.py\n" + source("run_q2.py")]
    out = prepare_notebook(tmp_path, cells, name="frank")
    assert {"nn.py", "q4.py", "run_q2.py"} <= prepared_files(out)
    nn = (out.folder / "python" / "nn.py").read_text()
    assert "initialize_weights(2, 25" not in nn

    options = ("--quick", "--seed", "7", "-k", "q2_network or static_checks")
    from_notebook = grade_cli(out.folder, tmp_path / "grade_nb", *options)
    reference = grade_cli(REFERENCE, tmp_path / "grade_ref", *options)
    nb_scores, nb_checks = q2_view(from_notebook)
    ref_scores, ref_checks = q2_view(reference)
    assert nb_scores == ref_scores and any(nb_scores.values())
    assert nb_checks == ref_checks and len(ref_checks) > 30
    # the training cell was left out, so nn.py keeps the handout's rule
    # (and util.py, which the notebook does not carry, is the harness's: importing it is allowed)
    static = {c["name"]: c["status"] for c in from_notebook["checks"] if c["question"] == "Static"}
    assert static["test_only_allowed_libraries"] == "passed"
    # the notebook holds no run_q3.py ... run_q5.py: the edition's files check names them
    files = next(c for c in from_notebook["checks"] if c["name"] == "test_files_of_the_edition")
    assert files["status"] == "failed" and "missing run_q3.py, run_q4.py, run_q5.py" in files["message"]
    static.pop("test_files_of_the_edition")
    assert {status for status in static.values() if status != "skipped"} == {"passed"}, static


# -- where students put their files (issue 15: real layouts) ------------------------------------
REAL_LAYOUTS = ["python/", "", "alice/", "alice_123456/HW5/", "hw5/python/", "HW5/python/", "code/",
                "hw4/python/", "Alice Smith - hw5/hw5/python/"]


def real_layout_files(prefix: str) -> dict:
    """The deliverables under prefix, the student's own helpers beside them, and what students zip
    along (a write-up folder with a plotting script, the data)."""
    files = {prefix + name: source(name) for name in ("nn.py", "q4.py", "run_q2.py", "run_q3.py")}
    files[prefix + "helpers.py"] = "def pad(x):\n    return x\n"
    files[prefix + "mylib/layers.py"] = "SIZE = 32\n"
    top = prefix.split("/")[0] + "/" if "/" in prefix.rstrip("/") else ""
    files[top + "writeup/make_plots.py"] = "print('plots')\n"
    files[top + "data/readme.txt"] = "the data\n"
    return files


@pytest.mark.parametrize("kind", ["zip", "folder"])
@pytest.mark.parametrize("prefix", REAL_LAYOUTS)
def test_real_layouts_are_found_with_the_students_helpers(tmp_path, prefix, kind):
    files = real_layout_files(prefix)
    if kind == "zip":
        path = make_zip(tmp_path / "alice.zip", files)
    else:
        path = tmp_path / "alice"
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
    out = prepare(submission(path, kind), tmp_path / "out")
    expected = {"nn.py", "q4.py", "run_q2.py", "run_q3.py", "helpers.py", "mylib/layers.py"}
    # files at the top: everything under it is the student's code (the write-up's script too)
    assert prepared_files(out) == expected | ({"writeup/make_plots.py"} if not prefix else set())
    where = prefix or "the top"
    assert any(n.endswith(f"files taken from {where}") for n in out.notes), out.notes
    if "/" in prefix.rstrip("/"):      # a script outside the code's folder is named, not copied
        assert any("ignored .py files outside" in n and "make_plots.py" in n for n in out.notes), out.notes


def test_grade_takes_a_zip_in_a_real_layout_and_reports_the_mapping(tmp_path):
    from graders.pipeline import grade
    files = {f"HW5/python/{name}": source(name) for name in HANDOUT}
    zipped = make_zip(tmp_path / "bob.zip", files)
    results = grade.run(zipped, tmp_path / "out", quick=True, select="q2_network and softmax")
    assert results["questions"]["Q2.2.2"]["score"] == results["questions"]["Q2.2.2"]["max_score"] > 0
    assert "bob.zip: files taken from HW5/python/" in results["notes"]
    assert "files taken from HW5/python/" in (tmp_path / "out" / "report.html").read_text()


# a text nested so deep that Python's parser gives up at any depth of the grader's stack
TOO_DEEP = "experiment = a" + ".b" * 200_000 + "\n"


def test_a_zip_naming_a_file_in_broken_utf8_is_refused_with_a_message(tmp_path):
    archive = make_zip(tmp_path / "alice.zip", {"python/nn.py": source("nn.py"), "python/notes_XX.txt": "notes"})
    data = bytearray(archive.read_bytes())
    # the second entry's name is not UTF-8 although its flags say it is (bit 11), in its local
    # header and in the central directory
    for header, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.rfind(header)
        data[at + flags + 1] |= 0x08
        name = data.find(b"notes_XX", at)
        data[name + 6:name + 8] = b"\xff\xfe"
    archive.write_bytes(bytes(data))
    assert "not valid UTF-8" in refused(submission(archive, "zip"), tmp_path / "out")


def test_a_notebook_cell_too_deep_to_parse_is_left_out_not_a_crash(tmp_path):
    out = prepare_notebook(tmp_path, definition_cells(source("nn.py")) + [TOO_DEEP])
    assert prepared_files(out) == {"nn.py"}
    assert "experiment" not in (out.folder / "python" / "nn.py").read_text()


# -- the shapes of a class's downloads (stop 28's review of a TA's batch) ----------------------
def handout_zip(path: Path, prefix: str = "python/", **extra) -> Path:
    return make_zip(path, {**{prefix + n: source(n) for n in HANDOUT}, **extra})


def test_a_canvas_download_is_one_submission_per_student(tmp_path):
    """Canvas names each file <sortable name>_[LATE_]<user id>_<file id>_<file name>: a student's
    files are one submission named <sortable name>_<user id> (the roster's ID), whatever else
    they uploaded beside the code; the newer of two uploads of one name is graded."""
    root = tmp_path / "downloads"
    root.mkdir()
    (root / "smith_12345_678901_asmith.pdf").write_bytes(b"%PDF")          # the 2019 handout's write-up
    handout_zip(root / "smith_12345_678901_asmith.zip")
    handout_zip(root / "jones_LATE_23456_678903_hw5.zip", prefix="hw5/python/")
    for name in HANDOUT:                                                    # uploaded one by one
        (root / f"brown_34567_6789{len(name):02d}_{name}").write_text(source(name))
    (root / "brown_34567_678999_nn-1.py").write_text(source("nn.py") + "\nNEWER = 1\n")
    handout_zip(root / "lee_45678_678910_hw5.zip", **{"python/nn.py": "OLDER = 1\n"})
    handout_zip(root / "lee_45678_678950_hw5-1.zip")
    (root / "kim_56789_678960_writeup.pdf").write_bytes(b"%PDF")           # a write-up and no code

    found = {s.name: s for s in discover(root)}
    assert set(found) == {"smith_12345", "jones_23456", "brown_34567", "lee_45678", "kim_56789"}
    assert found["smith_12345"].kind == "zip" and found["smith_12345"].canvas == {"user_id": "12345", "late": False}
    assert found["jones_23456"].canvas["late"] and found["brown_34567"].kind == "files"
    assert found["lee_45678"].path.name == "lee_45678_678950_hw5-1.zip"
    for name in ("smith_12345", "jones_23456", "brown_34567", "lee_45678"):
        prepared = prepare(found[name], tmp_path / "out")
        assert prepared_files(prepared) >= set(HANDOUT), (name, prepared_files(prepared))
        notes = " ".join(prepared.notes)
        if name == "smith_12345":
            assert "not graded (a write-up or another file beside the code): smith_12345_678901_asmith.pdf" in notes
        if name == "jones_23456":
            assert "Canvas marked this submission late" in notes
        if name == "brown_34567":
            assert "NEWER = 1" in (prepared.folder / "python" / "nn.py").read_text()
            assert "older uploads of the same file, not graded: brown_34567_678905_nn.py" in notes
        if name == "lee_45678":
            assert "OLDER" not in (prepared.folder / "python" / "nn.py").read_text()
    assert ".zip of your python/" in refused(found["kim_56789"], tmp_path / "o1")


def test_a_write_up_beside_the_code_is_no_submission(tmp_path):
    """The 2019 handout asks for <andrewid>.pdf beside <andrewid>.zip: one student, graded once,
    under the name of the code."""
    root = tmp_path / "downloads"
    root.mkdir()
    (root / "asmith.pdf").write_bytes(b"%PDF")
    handout_zip(root / "asmith.zip")
    (root / "bjones.pdf").write_bytes(b"%PDF")
    found = {s.name: s for s in discover(root)}
    assert set(found) == {"asmith", "bjones"} and found["asmith"].kind == "zip"
    assert found["asmith"].notes == ("not graded (a write-up or another file beside the code): asmith.pdf",)
    assert found["bjones"].kind == "unknown"        # no code: the student is told what to submit


def test_the_pytorch_part_beside_python_and_names_in_capitals_are_taken(tmp_path):
    """hw5/pytorch/ (scripts and their own helper module) and hw5/q6.ipynb beside hw5/python/ are
    copied along; NN.PY is read as nn.py (a Windows disk shows no difference); nothing of the
    chosen folder is replaced."""
    files = {f"hw5/python/{n.upper() if n == 'nn.py' else n}": source(n) for n in HANDOUT}
    files.update({"hw5/pytorch/run_q6_1_1.py": "import models\n", "hw5/pytorch/models.py": "X = 1\n",
                  "hw5/pytorch/util.py": "STALE = 1\n", "hw5/q6_2.ipynb": json.dumps(new_notebook())})
    prepared = prepare(submission(make_zip(tmp_path / "torchsep.zip", files), "zip"), tmp_path / "out")
    assert prepared_files(prepared) == set(HANDOUT) | {"run_q6_1_1.py", "models.py", "q6_2.ipynb"}
    assert "STALE" not in (prepared.folder / "python" / "util.py").read_text()
    notes = " ".join(prepared.notes)
    assert "hw5/python/NN.PY -> nn.py" in notes and "also taken, from beside the chosen folder" in notes
    assert "ignored .py files outside hw5/python/: hw5/pytorch/util.py" in notes


def test_a_notebook_for_the_numpy_part_beside_a_pytorch_script(tmp_path):
    """The PyTorch script makes its folder the code's; the handout's modules it lacks come from the
    notebook beside it (graded 0 before: nn.py did not import)."""
    nb = new_notebook(cells=[new_code_cell(f"%%writefile {n}\n{source(n)}") for n in HANDOUT if n != "util.py"])
    files = {"hw5/hw5.ipynb": nbformat.writes(nb), "hw5/run_q6_1_1.py": "import torch\n"}
    prepared = prepare(submission(make_zip(tmp_path / "nb_plus_q6.zip", files), "zip"), tmp_path / "out")
    assert prepared_files(prepared) >= (set(HANDOUT) - {"util.py"}) | {"run_q6_1_1.py"}
    assert (prepared.folder / "python" / "nn.py").read_text().strip() == source("nn.py").strip()
    assert "taken from the notebook hw5/hw5.ipynb" in " ".join(prepared.notes)


def test_a_gradescope_exports_index_and_the_batchs_own_output_are_no_submissions(tmp_path):
    root = tmp_path / "assignment_2345_export"
    (root / "submission_1001").mkdir(parents=True)
    (root / "submission_metadata.yml").write_text("submission_1001:\n  :submitters: []\n")
    (root / "grades").mkdir()              # a TA's --out inside the downloads
    found = discover(root, skip=[root / "grades"])
    assert [s.name for s in found] == ["submission_1001"]


def test_the_work_in_python_wins_over_the_handouts_stubs_beside_it(tmp_path):
    """hw5/ holding the handout's stubs and hw5/python/ the work: as many deliverables each, and
    the folder named python/ (the handout's) is taken (the shallowest was, and the stubs scored 0)."""
    files = {f"hw5/{n}": "# stub\n" for n in HANDOUT}
    files.update({f"hw5/python/{n}": source(n) for n in HANDOUT})
    prepared = prepare(submission(make_zip(tmp_path / "stubs_too.zip", files), "zip"), tmp_path / "out")
    assert (prepared.folder / "python" / "nn.py").read_text() == source("nn.py")
    assert any("files taken from hw5/python/" in n for n in prepared.notes)
