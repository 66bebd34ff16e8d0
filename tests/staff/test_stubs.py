"""The student tree is generated from the reference and nothing of a solution leaks into it."""
import ast

import pytest

from graders.staff import stubs


def test_committed_student_tree_matches_the_generator():
    problems = stubs.drift()
    assert not problems, "student/ drifted from reference/; run `hw5grade stubs`:\n" + "\n".join(problems)


def test_every_reference_file_has_solution_blocks_except_the_given_util():
    for path in stubs._sources(stubs.REFERENCE):
        blocks = stubs.solution_lines(path.read_text())
        if path.name == "util.py":
            assert not blocks, "util.py is given to students whole"
        else:
            assert blocks, f"{path.name} has no solution block"


def test_no_solution_line_survives_in_the_stubs():
    for path in stubs._sources(stubs.REFERENCE):
        solution = {line for line in stubs.solution_lines(path.read_text()) if not line.startswith("#")}
        stub = {line.strip() for line in stubs.stub_source(path.read_text()).splitlines()}
        # A few solution lines are also given code elsewhere in the file (e.g. a forward call
        # that the starter writes after the block); only those may appear.
        given = {line.strip() for line in _outside_blocks(path.read_text())}
        leaked = (solution & stub) - given
        assert not leaked, f"{path.name} stub contains solution lines: {sorted(leaked)}"


def _outside_blocks(source):
    lines = source.splitlines()
    inside = set()
    for begin, end, _ in stubs._blocks(lines, "<test>"):
        inside.update(range(begin, end + 1))
    return [line for i, line in enumerate(lines) if i not in inside]


def test_stubs_compile_and_keep_the_handout_banner():
    for path in stubs._sources(stubs.STUDENT):
        tree = ast.parse(path.read_text())  # raises on a syntax error
        assert tree.body
        if path.name != "util.py":
            assert "##### your code here #####" in path.read_text()


def test_a_loop_whose_body_was_all_solution_gets_a_pass():
    source = "for i in range(3):\n    # BEGIN SOLUTION\n    print(i)\n    # END SOLUTION\nx = 1\n"
    stub = stubs.stub_source(source)
    compile(stub, "<stub>", "exec")
    assert "    pass" in stub and "print(i)" not in stub


def test_a_block_that_leaves_code_around_it_gets_no_pass():
    source = "def f(x):\n    res = None\n    # BEGIN SOLUTION\n    res = x\n    # END SOLUTION\n    return res\n"
    stub = stubs.stub_source(source)
    assert "pass" not in stub and "res = x" not in stub and "return res" in stub


@pytest.mark.parametrize("source, problem", [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside another"),
])
def test_broken_markers_are_reported_with_their_line(source, problem):
    with pytest.raises(stubs.MarkerError, match=problem):
        stubs.stub_source(source, "x.py")


def test_generate_writes_a_tree_into_any_folder(tmp_path):
    written = stubs.generate(student=tmp_path / "student")
    names = {p.name for p in written}
    assert {"nn.py", "util.py", "run_q2.py"} <= names
    assert stubs.drift(student=tmp_path / "student") == []


def test_hw5grade_loads_only_the_module_of_the_subcommand_it_runs():
    """`hw5grade stubs` (and its --help) needs none of the grading stack; `hw5grade -h` lists
    every subcommand without importing one."""
    import subprocess
    import sys
    probe = ("import sys\nfrom graders import cli\nfor argv in ({argv!r},):\n    try:\n        cli.main(argv)\n"
             "    except SystemExit:\n        pass\nprint(sorted(m for m in ('numpy', 'pytest', 'jinja2', 'dask') "
             "if m in sys.modules))\n")
    for argv in (["stubs", "--check"], ["stubs", "--help"], ["-h"]):
        done = subprocess.run([sys.executable, "-c", probe.format(argv=argv)], capture_output=True, text=True,
                              timeout=120)
        assert done.stdout.strip().splitlines()[-1] == "[]", (argv, done.stdout, done.stderr)
    listing = subprocess.run([sys.executable, "-m", "graders.cli", "-h"], capture_output=True, text=True, timeout=120)
    assert all(name in listing.stdout for name in ("grade", "batch", "stubs", "similarity")), listing.stdout
