"""Checks of the handout's rules, read from the source (advice: the rubric gives them 0 points).

They carry no points because the handout only says breaking these rules "may lead to loss of
credit": the staff decide. They are shown to the student like every other check, and
test_nn_imports is the one clear failure behind every "skipped: nn.py did not import".
"""
import pytest

from graders.results import messages
from graders.checks import rubric as rubric_mod
from graders.checks import static

pytestmark = pytest.mark.rubric("Static")


def test_nn_imports(nn_import):
    """nn.py imports without error"""
    if nn_import is not None:
        raise messages.StudentError(nn_import.message or f"nn.py could not be imported ({nn_import.error})",
                                    traceback=nn_import.traceback or "",
                                    timeout=nn_import.error == "timeout",
                                    hint="; ".join(static.drift_hints_for_error(nn_import.message or "")))


def test_only_allowed_libraries(submission, rubric):
    """the NumPy part imports only numpy, scipy, scikit-image, matplotlib and the standard library"""
    found = static.forbidden_imports(submission, static.student_files(rubric))
    if found:
        raise messages.Failure("; ".join(map(str, found)),
                               hint="the handout allows numpy, scipy, scikit-image and matplotlib "
                                    "(and PyTorch only in the PyTorch part); other libraries may "
                                    "cost credit")


def test_nn_has_no_code_outside_functions(submission):
    """nn.py has no code outside functions (imports, functions and constants only)"""
    path = submission / "nn.py"
    if not path.exists():
        raise messages.Missing("nn.py", "the submission's python/ folder")
    try:
        found = static.code_outside_functions(path)
    except SyntaxError as err:
        raise messages.Failure(f"nn.py has a syntax error at line {err.lineno}: {err.msg}") from None
    if found:
        raise messages.Failure("code outside functions: " + "; ".join(map(str, found)),
                               hint="nn.py says 'do not put any code outside of functions': it "
                                    "runs whenever nn.py is imported, also by the grader")


def test_no_removed_library_names(submission, rubric):
    """uses no NumPy or scikit-image names that current versions removed"""
    found = static.removed_names_in(submission, static.student_files(rubric))
    if found:
        raise messages.Failure("; ".join(map(str, found)),
                               hint="these names worked with the libraries of earlier terms; "
                                    "current NumPy and scikit-image raise errors on them")


def test_files_of_the_edition(submission, rubric):
    """the submission holds the NumPy part's files of the edition it is graded as"""
    present = {p.name for p in submission.glob("*.py")}
    missing = [f for f in rubric.files.get("numpy", ()) if f not in present and f not in static.GIVEN_FILES]
    if "run_q6.py" in missing:
        if static.pca_script(submission) != static.PCA_SCRIPT:     # the 2019 handout names no file for it
            missing.remove("run_q6.py")
    others = {}
    for edition in rubric_mod.editions():
        if edition != rubric.edition:
            theirs = rubric_mod.load(edition).files
            own = {f for files in rubric.files.values() for f in files}
            found = sorted(f for files in theirs.values() for f in files if f in present and f not in own)
            if found:
                others[edition] = found
    if missing or others:
        said = [f"graded as the {rubric.edition} edition"]
        if missing:
            said.append(f"missing {', '.join(missing)}")
        for edition, found in others.items():
            said.append(f"{', '.join(found)} belong{'s' if len(found) == 1 else ''} to the {edition} edition")
        raise messages.Failure(": ".join(said[:1]) + ": " + "; ".join(said[1:]),
                               expected=", ".join(rubric.files.get("numpy", ())), actual=", ".join(sorted(present)),
                               hint=(f"was it graded as the right edition (--edition {next(iter(others))})? "
                                     if others else "") + "the checks of a missing file fail with it")
