"""graders.pipeline.discovery: which script, notebook or part of a script answers each PyTorch question.

Static analysis only (no torch, no student code runs). Each case under tests/discovery_cases/ is
a small submission's python/ folder in one of the shapes real submissions use; the table says
what a TA would grade as each question, and which signal the reason must name.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from graders.pipeline import discovery
from graders.pipeline import editions
from graders.pipeline import ingest
from graders.checks import rubric
from graders.staff import stubs

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parents[1] / "discovery_cases"


def found(case: str, edition: str = "2022"):
    return discovery.discover(CASES / case, edition)


# case, edition, question, the part graded (Part.label; a tuple for two parts), what the reason names
GRADED = [
    ("compact_names", "2022", "Q6.1.1", "run_q611.py",
     ["file name (run_q611.py)", "NIST36", "loadmat('../data/nist36_train.mat')", "nn.Linear layers only"]),
    ("compact_names", "2022", "Q6.1.2", "run_q612.py",
     ["file name (run_q612.py)", "NIST36", "nn.Conv2d layers (class Net)"]),
    ("no_extension", "2022", "Q6.1.3", "run_q613",
     ["file name (run_q613)", "CIFAR-10", "torchvision.datasets.CIFAR10"]),
    ("dotted_names", "2022", "Q6.1.1", "run_q6.1.1.py", ["file name (run_q6.1.1.py)", "NIST36", "nn.Linear"]),
    ("dotted_names", "2022", "Q6.1.4", "run_q6.1.4.py",
     ["file name (run_q6.1.4.py)", "the SUN scenes", "ImageFolder('../data/sun/train')"]),
    ("sections_by_comment", "2022", "Q6.1.1", "run_q6_1.py lines 22-28",
     ["the comment '# Q6.1.1 fully connected' (run_q6_1.py line 22)", "NIST36", "nn.Linear layers only"]),
    ("sections_by_comment", "2022", "Q6.1.2", "run_q6_1.py lines 30-33",
     ["the comment '# Q6.1.2 convolutional'", "nn.Conv2d layers", "NIST36"]),
    ("sections_by_comment", "2022", "Q6.1.3", "run_q6_1.py lines 35-38", ["'# Q6.1.3 CIFAR'", "CIFAR10"]),
    ("sections_by_comment", "2022", "Q6.1.4", "run_q6_1.py lines 40-43",
     ["'# Q6.1.4 scenes'", "ImageFolder('/home/me/hw1/data/sun_train')"]),
    ("functions_per_question", "2022", "Q6.1.1", "run_q6.py q6_1_1()",
     ["its function q6_1_1() (line 14)", "NIST36", "nn.Linear layers only"]),
    ("functions_per_question", "2022", "Q6.1.3", "run_q6.py q6_1_3()", ["function q6_1_3()", "CIFAR10"]),
    ("functions_per_question", "2022", "Q6.2.1", "run_q6.py q6_2_1()",
     ["function q6_2_1()", "squeezenet1_1", "requires_grad = False", "a network from scratch"]),
    ("functions_by_data", "2022", "Q6.1.1", "run_q6_1.py train_fc()",
     ["loadmat('../data/nist36_train.mat')", "nn.Linear layers only"]),
    ("functions_by_data", "2022", "Q6.1.2", "run_q6_1.py train_cnn()", ["NIST36", "nn.Conv2d layers"]),
    ("functions_by_data", "2022", "Q6.1.3", "run_q6_1.py train_cifar()", ["CIFAR10"]),
    ("by_data_order", "2022", "Q6.1.1", "run_q6.py lines 31-38", ["NIST36", "nn.Linear layers only"]),
    ("by_data_order", "2022", "Q6.1.2", "run_q6.py lines 31-38", ["NIST36", "nn.Conv2d layers (class ConvNet)"]),
    ("by_data_order", "2022", "Q6.1.3", "run_q6.py lines 40-43", ["CIFAR10", "class ConvNet"]),
    ("if_blocks", "2022", "Q6.1.1", "run_q6.py lines 12-13", ["the if-block 'args.q == '6.1.1''", "NIST36"]),
    ("if_blocks", "2022", "Q6.1.3", "run_q6.py lines 15-16", ["the if-block 'args.q == '6.1.3''", "CIFAR10"]),
    ("if_blocks", "2022", "Q6.1.4", "run_q6.py lines 19-20", ["'args.q == '6.1.4''", "ImageFolder('../data/scenes/train')"]),
    ("content_only", "2022", "Q6.1.1", "mlp_letters.py", ["NIST36", "nn.Linear layers only"]),
    ("content_only", "2022", "Q6.1.2", "cnn_letters.py", ["NIST36", "nn.Conv2d layers (class LetterCNN)"]),
    ("content_only", "2022", "Q6.1.3", "tiny_images.py", ["CIFAR10('/data/cifar')"]),
    ("content_only", "2022", "Q6.1.4", "places.py", ["the SUN scenes", "scene_categories"]),
    ("content_only", "2022", "Q6.2.1", "transfer.py",
     ["torchvision.datasets.Flowers102", "squeezenet1_1", "requires_grad_(False)"]),
    ("scenes_of_hw1", "2022", "Q6.1.4", "scenes_hw1.py",
     ["the SUN scenes", "open('../data/traintest.pkl')", "nn.Conv2d"]),
    ("prefix_names", "2022", "Q6.1.2", "q6_1_2.py", ["file name (q6_1_2.py)", "nn.Conv2d"]),
    ("prefix_names", "2022", "Q6.1.3", "run_q6_cifar.py", ["CIFAR10"]),
    ("prefix_names", "2022", "Q6.2.1", "q_62_squeezenet.py",
     ["named 6.2 by its file name (q_62_squeezenet.py)", "ImageFolder('../data/17flowers/jpg')", "squeezenet1_1"]),
    ("two_claims", "2022", "Q6.1.3", "run_q6_1_3.py",
     ["file name (run_q6_1_3.py)", "chosen over cifar_experiment.py by the strongest signal"]),
    ("helper_modules", "2022", "Q6.1.1", "train_mlp.py",
     ["NIST36", "nn.Linear layers only (class MLP)", "models.py (its own module, imported)"]),
    ("helper_modules", "2022", "Q6.1.2", "train_cnn.py",
     ["NIST36", "nn.Conv2d layers (class ConvNet)", "nn_pytorch.py (its own module, imported)"]),
    ("syntax_error", "2022", "Q6.1.4", "run_q6_1_4.py", ["file name (run_q6_1_4.py)", "'../data/sun/train'"]),
    ("notebook_sections", "2022", "Q6.1.1", "hw5_pytorch.ipynb cells 3-5",
     ["the notebook's heading '## Q6.1.1 Fully connected network on NIST36' (hw5_pytorch.ipynb cell 3)",
      "loadmat('../data/nist36_train.mat')", "hw5_pytorch.ipynb cell 5"]),
    ("notebook_sections", "2022", "Q6.1.2", "hw5_pytorch.ipynb cells 6-7", ["heading '## Q6.1.2", "nn.Conv2d"]),
    ("notebook_sections", "2022", "Q6.1.3", "hw5_pytorch.ipynb cells 8-9", ["heading '## Q6.1.3", "CIFAR10"]),
    ("notebook_whole_2019", "2019", "Q7.1.2", "digits.ipynb cells 1-3",
     ["MNIST", "nn.Conv2d", "digits.ipynb cell 3"]),
    ("names_2019", "2019", "Q7.1.1", "q711.py", ["file name (q711.py)", "nist36_train_set1.mat", "nn.Linear"]),
    ("names_2019", "2019", "Q7.1.2", "q712.py", ["file name (q712.py)", "torchvision.datasets.MNIST"]),
    ("names_2019", "2019", "Q7.1.3", "q713.py", ["file name (q713.py)", "NIST36", "nn.Conv2d"]),
    ("names_2019", "2019", "Q7.1.4", "q714.py", ["EMNIST", "findLetters", "q4.py"]),
    ("names_2019", "2019", "Q7.1.5a", "7.1.5_skip.py",
     ["file name (7.1.5_skip.py)", "torch.cat in Dense.forward (7.1.5_skip.py line 17)"]),
    ("names_2019", "2019", "Q7.1.5b", "7.1.5_residual.py", ["x + self.block(x) in Res.forward"]),
    ("names_2019", "2019", "Q7.2.1", ("run_q7_2_finetune.py", "run_q7_2_scratch.py"),
     ["squeezenet1_1", "requires_grad = False", "a network from scratch (torch.nn.Sequential"]),
    ("pca_is_not_pytorch_2019", "2019", "Q7.1.2", "digits.py", ["MNIST('./mnist')", "nn.Conv2d"]),
    ("named_but_wrong_model", "2022", "Q6.1.1", "run_q6_1_1.py",
     ["file name (run_q6_1_1.py)", "but no model of nn.Linear layers only (its models: nn.Sequential"]),
    ("named_but_wrong_model", "2022", "Q6.1.3", "run_q6_1_3.py",
     ["file name (run_q6_1_3.py)", "but it loads MNIST (torchvision.datasets.MNIST), not CIFAR-10"]),
    ("connections_by_content_2019", "2019", "Q7.1.3", "simple_cnn.py",
     ["NIST36", "nn.Conv2d", "chosen over blocks.py, concat_net.py by the strongest signal"]),
    ("resnet_of_blocks_2019", "2019", "Q7.1.5b", "resnet.py", ["x + self.conv2(", "in Residual.forward"]),
    ("connections_by_content_2019", "2019", "Q7.1.5a", "concat_net.py", ["torch.cat in Skip.forward"]),
    ("connections_by_content_2019", "2019", "Q7.1.5b", "blocks.py", ["out += identity in Block.forward"]),
]

# case, edition, question that nothing answers, what the reason says was looked for
NOT_FOUND = [
    ("sections_by_comment", "2022", "Q6.2.1", ["run_q6_2_1.py", "the flowers", "SqueezeNet"]),
    ("if_blocks", "2022", "Q6.1.2", ["'# Q6.1.2'", "NIST36", "nn.Conv2d"]),
    ("nothing_pytorch", "2022", "Q6.1.1", ["run_q6_1_1.py", "NIST36", "nn.Linear layers only"]),
    ("pca_is_not_pytorch_2019", "2019", "Q7.1.1", ["run_q7_1_1.py", "NIST36"]),
    ("pca_is_not_pytorch_2019", "2019", "Q7.1.5a", ["torch.cat (skip connection)"]),
    # its ResNet's only own layer is nn.Linear, its convolutions are in its Residual blocks
    ("resnet_of_blocks_2019", "2019", "Q7.1.1", ["NIST36", "a model of nn.Linear layers only"]),
    # 'MNIST' stands in a docstring and a print, which load nothing
    ("resnet_of_blocks_2019", "2019", "Q7.1.2", ["MNIST"]),
    ("named_but_wrong_model", "2022", "Q6.1.2",
     ["NIST36", "run_q6_1_1.py fits by content but its file name (run_q6_1_1.py) states 6.1.1"]),
]


def _label(answer) -> tuple:
    return tuple(p.label for p in answer.parts)


@pytest.mark.parametrize("case,edition,question,graded,signals", GRADED,
                         ids=[f"{c}-{q}" for c, _, q, _, _ in GRADED])
def test_the_part_answering_each_question(case, edition, question, graded, signals):
    answer = found(case, edition)[question]
    assert _label(answer) == (graded if isinstance(graded, tuple) else (graded,)), answer.reason
    for signal in signals:
        assert signal in answer.reason, f"{signal!r} not in: {answer.reason}"


@pytest.mark.parametrize("case,edition,question,looked_for", NOT_FOUND,
                         ids=[f"{c}-{q}" for c, _, q, _ in NOT_FOUND])
def test_a_question_nothing_answers_says_what_was_looked_for(case, edition, question, looked_for):
    answer = found(case, edition)[question]
    assert answer.parts == () and answer.file is None
    assert "nothing found to grade; looked for" in answer.reason
    for want in looked_for:
        assert want in answer.reason, answer.reason


def test_every_pytorch_question_of_each_edition_is_discovered():
    """The questions discovery answers are the rubric's auto-graded extra-credit (PyTorch) ones."""
    for edition in discovery.SPECS:
        rub = rubric.load(edition)
        pytorch = [q for q, spec in rub.questions.items() if spec.kind == "auto" and spec.extra_credit]
        assert [s.id for s in discovery.specs(edition)] == pytorch
        assert set(discovery.discover(CASES / "nothing_pytorch", edition)) == set(pytorch)


def _stub_name(question: str) -> str:
    return "run_q" + "_".join(c for c in question[1:] if c.isdigit()) + ".py"


def _assert_stub_names(mapping, edition):
    files = rubric.load(edition).files["pytorch"]
    for question, answer in mapping.items():
        assert _label(answer) == (_stub_name(question),), answer.reason
        assert _stub_name(question) in files
        assert "by its file name" in answer.reason
        assert answer.considered == (), answer.considered


def test_the_2022_reference_and_stubs_map_to_their_names():
    for tree in (REPO / "reference" / "python", REPO / "student" / "python"):
        mapping = discovery.discover(tree, "2022")
        _assert_stub_names(mapping, "2022")
    reference = discovery.discover(REPO / "reference" / "python", "2022")
    assert "nn.Linear layers only" in reference["Q6.1.1"].reason
    assert "nn.Conv2d" in reference["Q6.1.2"].reason
    assert "squeezenet1_1" in reference["Q6.2.1"].reason and "from scratch" in reference["Q6.2.1"].reason
    assert reference.files() == [_stub_name(q) for q in reference]


def test_the_2019_reference_and_stubs_map_to_their_names(tmp_path):
    reference = editions.compose(REPO / "reference", "2019", tmp_path / "reference")
    assert (reference / "run_q6.py").exists()          # the PCA: NumPy, never a PyTorch answer
    _assert_stub_names(discovery.discover(reference, "2019"), "2019")
    _assert_stub_names(discovery.discover(stubs.student_tree("2019", tmp_path / "student"), "2019"), "2019")
    mapping = discovery.discover(reference, "2019")
    assert "torch.cat in SkipNet.forward" in mapping["Q7.1.5a"].reason
    assert "in ResidualNet.forward" in mapping["Q7.1.5b"].reason
    assert "findLetters" in mapping["Q7.1.4"].reason


def test_a_module_the_scripts_import_is_not_graded_as_a_script():
    mapping = found("helper_modules")
    graded = {p.file for a in mapping.values() for p in a.parts}
    assert graded == {"train_mlp.py", "train_cnn.py"}
    assert not any("nn_pytorch.py also answers" in c or "models.py also" in c
                   for a in mapping.values() for c in a.considered)


def test_a_later_section_does_not_take_on_the_data_of_an_earlier_one():
    """by_data_order reassigns train_loader for CIFAR; its ConvNet's forward reads its own x."""
    mapping = found("by_data_order")
    assert mapping["Q6.1.2"].considered == (), "the CIFAR section is not a NIST36 section"
    assert mapping["Q6.1.1"].considered == ()
    assert "NIST36" not in mapping["Q6.1.3"].reason
    assert mapping["Q6.1.4"].parts == ()


def test_a_plain_cnn_keeps_q7_1_3_and_the_connected_networks_go_to_q7_1_5():
    mapping = found("connections_by_content_2019", "2019")
    # blocks.py and concat_net.py load NIST36 with convolutions too, and come first by name
    assert any("blocks.py also answers Q7.1.3" in c for c in mapping["Q7.1.3"].considered)
    assert mapping["Q7.1.1"].parts == ()     # no fully connected network there


def test_the_pair_of_q7_2_1_files_is_graded_in_roles():
    parts = found("names_2019", "2019")["Q7.2.1"].parts
    assert [p.role for p in parts] == ["fine-tuned SqueezeNet", "from scratch"]


def test_a_notebook_records_its_cells_and_the_cell_left_out():
    mapping = found("notebook_sections")
    assert mapping["Q6.1.2"].parts[0].cells == (6, 7)
    assert any("cell 10 is not valid Python" in n for n in mapping.notes)


# -- describe ----------------------------------------------------------------------------------
def test_describe_says_which_part_was_graded_as_which_question():
    lines = discovery.describe(found("sections_by_comment"))
    assert lines[1].startswith("Graded run_q6_1.py lines 30-33 as Q6.1.2: named 6.1.2 by the comment")
    assert lines[-1].startswith("Nothing graded as Q6.2.1 (SqueezeNet fine-tuned")
    notebook = discovery.describe(found("notebook_sections"))
    assert notebook[0].startswith("Graded hw5_pytorch.ipynb cells 3-5 as Q6.1.1: ")
    pair = discovery.describe(found("names_2019", "2019"))
    assert any(l.startswith("Graded run_q7_2_scratch.py as Q7.2.1 (from scratch): ") for l in pair)
    claims = discovery.describe(found("two_claims"))
    assert any(l.strip().startswith("cifar_experiment.py also answers Q6.1.3") for l in claims)


# -- the TA's map ------------------------------------------------------------------------------
def test_a_toml_map_overrides_discovery(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text('"Q6.1.3" = "run_q6.py"\n'
                    '"Q6.1.2" = ["run_q6.py", "q6_1_2"]\n'
                    '"Q6.1.1" = { file = "run_q6.py", part = "9-11" }\n')
    overrides = discovery.load_map(path)
    assert overrides == {"Q6.1.3": ("run_q6.py", None), "Q6.1.2": ("run_q6.py", "q6_1_2"),
                         "Q6.1.1": ("run_q6.py", "9-11")}
    mapping = discovery.discover(CASES / "functions_per_question", "2022", overrides)
    assert _label(mapping["Q6.1.3"]) == ("run_q6.py",)
    assert _label(mapping["Q6.1.2"]) == ("run_q6.py q6_1_2()",)
    assert (mapping["Q6.1.2"].parts[0].first, mapping["Q6.1.2"].parts[0].last) == (19, 21)
    assert _label(mapping["Q6.1.1"]) == ("run_q6.py lines 9-11",)
    assert all(mapping[q].by_map and "mapped by the TA's file" in mapping[q].reason
               for q in ("Q6.1.1", "Q6.1.2", "Q6.1.3"))
    # the questions the map leaves out are still discovered
    assert _label(mapping["Q6.2.1"]) == ("run_q6.py q6_2_1()",) and not mapping["Q6.2.1"].by_map


def test_a_json_map_names_notebook_cells(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"Q6.1.4": ["hw5_pytorch.ipynb", "cells 8-9"]}))
    mapping = discovery.discover(CASES / "notebook_sections", "2022", discovery.load_map(path))
    assert mapping["Q6.1.4"].parts[0].cells == (8, 9)
    assert discovery.describe(mapping)[3].startswith("Graded hw5_pytorch.ipynb cells 8-9 as Q6.1.4: mapped")


@pytest.mark.parametrize("text,message", [
    ('"Q6.9.9" = "run_q6.py"', "does not have: Q6.9.9"),
    ('"Q6.1.1" = "missing.py"', "which the submission does not have"),
    ('"Q6.1.1" = "../run_q6.py"', "must be a path inside the submission"),
    ('"Q6.1.1" = ["run_q6.py", "no_such_function"]', "neither a line range"),
    ('"Q6.1.1" = 3', "write a file name"),
    ('"Q6.1.1" = ', "cannot read the map"),
])
def test_a_map_that_cannot_be_honoured_says_why(tmp_path, text, message):
    path = tmp_path / "map.toml"
    path.write_text(text + "\n")
    with pytest.raises(discovery.MapError, match=message.replace("(", r"\(")):
        discovery.discover(CASES / "functions_per_question", "2022", discovery.load_map(path))


# -- what is read ------------------------------------------------------------------------------
def test_symlinks_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "run_q6_1_1.py").write_text((CASES / "compact_names" / "run_q611.py").read_text())
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    os.symlink(outside / "run_q6_1_1.py", python_dir / "run_q6_1_1.py")
    os.symlink(outside, python_dir / "linked")
    mapping = discovery.discover(python_dir, "2022")
    assert all(a.parts == () for a in mapping.values())


def test_files_over_the_size_bound_are_not_read(tmp_path, monkeypatch):
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    (python_dir / "cifar.py").write_text((CASES / "two_claims" / "cifar_experiment.py").read_text())
    assert discovery.discover(python_dir, "2022")["Q6.1.3"].file == "cifar.py"
    monkeypatch.setattr(discovery, "MAX_SOURCE_BYTES", 100)
    assert discovery.discover(python_dir, "2022")["Q6.1.3"].parts == ()


def test_no_student_code_runs(tmp_path):
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    sentinel = tmp_path / "ran"
    (python_dir / "run_q6_1_3.py").write_text(
        f"open({str(sentinel)!r}, 'w').close()\nimport torchvision\n"
        "data = torchvision.datasets.CIFAR10('../data')\nraise SystemExit(3)\n")
    (python_dir / "models.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    mapping = discovery.discover(python_dir, "2022")
    assert mapping["Q6.1.3"].file == "run_q6_1_3.py"
    assert not sentinel.exists()


def test_names_in_every_shape_state_their_question():
    shapes = {"run_q6_1_1.py": (6, 1, 1), "run_q6_1.py": (6, 1), "run_q6.py": (6,), "q6_1_2.py": (6, 1, 2),
              "run_q611.py": (6, 1, 1), "run_q613": (6, 1, 3), "run_q6.1.1.py": (6, 1, 1),
              "q_62_squeezenet.py": (6, 2), "run_q6_cifar.py": (6,), "run_q7_2_finetune.py": (7, 2),
              "7.1.5_skip.py": (7, 1, 5), "q711.py": (7, 1, 1), "models.py": (), "nn_pytorch.py": ()}
    assert {name: ingest.number_in_name(name) for name in shapes} == shapes


def test_the_answers_go_into_grade_json_as_plain_data():
    mapping = found("names_2019", "2019")
    data = json.loads(json.dumps([a.as_json() for a in mapping.values()]))
    pair = next(d for d in data if d["question"] == "Q7.2.1")
    assert [(p["file"], p["role"]) for p in pair["parts"]] == [
        ("run_q7_2_finetune.py", "fine-tuned SqueezeNet"), ("run_q7_2_scratch.py", "from scratch")]
    cells = found("notebook_sections")["Q6.1.2"].as_json()["parts"][0]
    assert cells["cells"] == [6, 7] and cells["file"] == "hw5_pytorch.ipynb"


def test_a_notebook_is_one_script_and_an_unreadable_one_is_noted(tmp_path):
    mapping = found("notebook_sections")
    part = mapping["Q6.1.2"].parts[0]
    script = mapping.script(part.file).splitlines()
    assert script[part.first - 1] == "# ## Q6.1.2 Convolutional network on NIST36"
    assert "# !pip install torchsummary" in script     # shell lines commented out, not run
    python_dir = tmp_path / "python"
    python_dir.mkdir()
    (python_dir / "hw5.ipynb").write_text("{ not json")
    broken = discovery.discover(python_dir, "2022")
    assert any("hw5.ipynb is not a notebook Jupyter can read" in n for n in broken.notes)
    assert "Note: hw5.ipynb is not a notebook" in "\n".join(discovery.describe(broken))
