# Tries to write outside its own folder: the harness, the system, the data, the worker itself.
def write(paths):
    results = {}
    for path in paths:
        try:
            with open(path, "a") as f:
                f.write("pwned\n")
            results[path] = "written"
        except OSError as exc:
            results[path] = f"failed: {type(exc).__name__}"
    return results


def write_own(name):
    with open(name, "w") as f:
        f.write("mine\n")
    return "written"
