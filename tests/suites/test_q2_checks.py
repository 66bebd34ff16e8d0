"""The Q2 checks judged on known submissions: the reference, the stubs, and wrong submissions.

Each folder of tests/wrong/ holds a patch per file it changes (`nn.py.diff`, made against the
reference, modelled on a real mistake; its README says which); the submission is the reference
with those patches applied, so a mistake follows every later change of the reference. The
table says exactly which checks must not pass: a check that starts passing a wrong submission,
or failing a right one, is a regression either way.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from graders.staff import stubs
from support import grade_cli

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parents[1] / "wrong"
Q2 = ("Q2.1.2", "Q2.2.1", "Q2.2.2", "Q2.2.3", "Q2.3.1", "Q2.4", "Q2.5")
# every check of the Q2 suites (public and hidden), read from their source
Q2_CHECKS = {node.name.removeprefix("test_")
             for suite in ("q2_network.py", "hidden_q2_network.py")
             for node in ast.parse((REPO / "graders" / "suites" / suite).read_text()).body
             if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
RUN_Q2 = ("training_loop_trains", "gradcheck_numerical", "gradcheck_restores_parameters",
          "gradcheck_total_error")

# name -> the checks (test_ prefix dropped) that must NOT pass; all others must pass.
EXPECTED = {
    "acc_count": {"accuracy_is_fraction"},
    # run_q2's training with gradients 1/5 as large stays above loss 35 (37.6-47 over 25 seeds)
    "averaged_grad": {"backwards_grad_w", "backwards_grad_b", "backwards_linear",
                      "backwards_matches_reference", "training_loop_trains", "gradcheck_total_error"},
    "batches_broken_pairs": {"batches_pairs", "training_loop_trains"},
    # N // batch_size full batches of a permutation (DataLoader's drop_last): a reading of "random
    # batches" a TA accepts (issue 15); the partition check passes with advice
    "batches_drop_last": set(),
    "batches_mutate_inputs": {"batches_keep_inputs"},
    # a full batch lost besides the remainder: more than drop_last's reading leaves out
    "batches_off_by_one": {"batches_partition"},
    # np.array_split(order, batch_size): batch_size batches of about N / batch_size rows (on a
    # draw where N // batch_size is batch_size or one less, that is the accepted spread: seed 0's is not)
    "batches_split_count": {"batches_sizes"},
    # the batch checks that cannot read the batches are skipped; run_q2.py cannot unpack them
    "batches_one_tuple": {"batches_structure", "batches_partition", "batches_pairs", "batches_sizes",
                          "batches_random", "batches_keep_inputs", *RUN_Q2},
    "batches_unshuffled": {"batches_random"},
    "batches_with_replacement": {"batches_partition"},
    # run_q2.py's own assert on blayer1's shape stops the script
    "bias_2d": {"init_shapes", *RUN_Q2},
    "bias_uniform": {"init_bias_zero"},
    # constants of the right form everywhere (W zeros, a step sigmoid, uniform softmax rows, a (0, 0)
    # loss, zero gradients, one batch): the form checks count only for an answer; forward is the
    # reference's, so its check with another activation passes
    "constant_answers": {"init_shapes", "init_bias_zero", "init_xavier_range", "init_xavier_variance",
                         "init_uniform", "sigmoid_values", "sigmoid_extremes", "forward_output", "forward_cache",
                         "softmax_rows_sum_to_one", "softmax_matches_scipy", "softmax_translation_invariant",
                         "softmax_large_inputs", "softmax_keeps_input", "loss_acc_returns_two_numbers",
                         "loss_is_summed_cross_entropy", "accuracy_is_fraction", "backwards_shapes",
                         "backwards_grad_w", "backwards_grad_b", "backwards_grad_x", "backwards_linear",
                         "backwards_matches_reference", "batches_structure", "batches_partition",
                         "batches_pairs", "batches_sizes", "batches_random", "batches_keep_inputs", *RUN_Q2},
    "code_outside_functions": {"only_allowed_libraries", "nn_has_no_code_outside_functions"},
    # the output layer gets sigmoid instead of softmax: the checker differentiates another loss
    "forward_ignores_activation": {"forward_uses_activation", "gradcheck_numerical", "gradcheck_total_error"},
    "forward_no_cache": {"forward_cache", *RUN_Q2},
    "gaussian_init": {"init_xavier_range", "init_uniform"},
    # a checker that writes nothing leaves the parameters alone; restoring them is a side
    # property, worth a point only when the checker also wrote its gradients (issue 14)
    # the given lines' keys renamed (dW, db): W's and b's gradients are not where the handout stores
    # them; the returned grad_X is judged on its own
    "grad_keys_renamed": {"backwards_shapes", "backwards_grad_w", "backwards_grad_b", "backwards_linear",
                          "backwards_matches_reference", *RUN_Q2},
    "gradcheck_empty": {"gradcheck_numerical", "gradcheck_restores_parameters", "gradcheck_total_error"},
    "gradcheck_no_restore": {"gradcheck_numerical", "gradcheck_restores_parameters"},
    # no central differences, backwards' gradients with 1e-9 of noise: the values alone agree with
    # the loss; a second run with backwards' gradients halved shows the checker's halved too
    "gradcheck_copies_backwards": {"gradcheck_numerical", "gradcheck_restores_parameters", "gradcheck_total_error"},
    # the same copy, and backwards unwrapped when the probe is found: told it behaves otherwise when probed
    "gradcheck_dodges_the_probe": {"gradcheck_numerical", "gradcheck_restores_parameters", "gradcheck_total_error"},
    # backwards' and the checker's gradients both divided by the batch: they agree with each other,
    # but are not the summed loss's, so the total error (below 1e-4) proves nothing
    "gradcheck_both_averaged": {"gradcheck_numerical", "gradcheck_total_error"},
    # nn.py cannot be imported: every Q2 check is skipped behind one failure
    "import_cv2": {*Q2_CHECKS, "nn_imports", "only_allowed_libraries"},
    "loss_mean": {"loss_is_summed_cross_entropy", "gradcheck_numerical", "gradcheck_total_error"},
    "loss_per_example": {"loss_acc_returns_two_numbers", "loss_is_summed_cross_entropy", *RUN_Q2},
    "removed_np_float": {"loss_acc_returns_two_numbers", "loss_is_summed_cross_entropy",
                         "accuracy_is_fraction", "no_removed_library_names", *RUN_Q2},
    "sigmoid_nan": {"sigmoid_extremes"},
    "softmax_mutates": {"softmax_keeps_input"},
    "softmax_no_shift": {"softmax_large_inputs"},
    "training_loop_empty": {"training_loop_trains"},
    # no loop; every label set to class 0 and one bias by hand: a low loss on data that is not the
    # handout's. The checker differentiates the relabelled loss, so it still agrees.
    "training_loop_relabels": {"training_loop_trains"},
    # the loop rebinds x, y to its last batch (5 examples): judged on all its batches, it has not trained
    "training_loop_rebinds_x": {"training_loop_trains"},
    "transposed_grad": {"backwards_shapes", "backwards_grad_w", "backwards_linear",
                        "backwards_matches_reference", *RUN_Q2},
    "unit_uniform_init": {"init_xavier_range", "init_xavier_variance", "init_uniform"},
    "unscaled_init": {"init_xavier_range", "init_xavier_variance", "init_uniform"},
}


# Q2's verdicts need only these suites; the others train networks for minutes.
Q2_SUITES = ("-k", "q2_network or static_checks")


def grade(python_dir: Path, out: Path, *options: str) -> dict:
    """`hw5grade grade` of the Q2 and static suites; returns grade.json."""
    select = () if "-k" in options else Q2_SUITES
    return grade_cli(python_dir, out, *select, *options, timeout=300)


def short(check: dict) -> str:
    return check["name"].removeprefix("test_")


def not_passed(results: dict) -> set[str]:
    """The checks that ran and did not pass (deselected or hidden ones did not run)."""
    return {short(c) for c in results["checks"] if c["status"] != "passed" and not c.get("not_run")}


# name -> checks that may fail too: knock-on effects whose size depends on the inputs drawn, so a
# correct verdict either way. A unit-uniform init leaves run_q2's loss at 35.5-35.8 on seeds 0
# and 2 (of 0-3), against the handout's 35. A checker that does not restore its parameters
# drifts by eps per entry: its total error failed on seeds 0-5 but passed on the seed a CI run
# derived.
KNOCK_ON = {
    "unit_uniform_init": {"training_loop_trains"},
    "gradcheck_no_restore": {"gradcheck_total_error"},
}


def test_every_wrong_submission_of_the_table_exists():
    folders = {p.name for p in WRONG.iterdir() if p.is_dir()}
    assert set(EXPECTED) <= folders
    assert len(EXPECTED) >= 15


# removed library names are repaired by default (graders/sandbox/shipped/repairs.py), so a mistake only where the
# course refuses repairs: graded with --strict (tests/sandbox/test_repairs.py grades the habit by default)
STRICT = {"removed_np_float"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_submission_fails_exactly_its_checks(name, make_submission, tmp_path):
    # a fixed seed, so that a file added to the reference (from which the default seed is
    # derived) does not change what this test sees
    results = grade(make_submission(WRONG / name), tmp_path / "out", "--seed", "0",
                    *(("--strict",) if name in STRICT else ()))
    expected = EXPECTED[name]
    assert expected <= not_passed(results) <= expected | KNOCK_ON.get(name, set())
    for check in results["checks"]:
        assert check["status"] != "error", check
        if check["status"] != "passed":
            assert check["message"], check     # every failure says something
            assert check["points"] == 0
    # a mistake in Q2's code costs points; the static checks are advice (0 points)
    q2 = [results["questions"][q] for q in Q2]
    lost = sum(q["max_score"] - q["score"] for q in q2)
    assert (lost > 0) == bool(expected & Q2_CHECKS)


def test_a_checker_that_copies_backwards_is_told_so_and_an_honest_one_is_probed(make_submission, tmp_path):
    copied = grade(make_submission(WRONG / "gradcheck_copies_backwards"), tmp_path / "copied", "-k", "gradcheck",
                   "--seed", "0")
    checks = [c for c in copied["checks"] if short(c).startswith("gradcheck")]
    assert len(checks) == 3
    for check in checks:
        assert check["status"] == "failed" and "backwards' own" in check["message"], check
    honest = grade(REPO / "reference" / "python", tmp_path / "honest", "-k", "gradcheck", "--seed", "0")
    probed = next(c for c in honest["checks"] if short(c) == "gradcheck_numerical")
    assert probed["status"] == "passed" and "stayed the loss's" in probed["data"]["checker_probe"], probed


def test_import_failure_cascades_quietly(make_submission, tmp_path):
    """One clear failure (the import) and 'skipped: nn.py did not import' for the rest."""
    results = grade(make_submission(WRONG / "import_cv2"), tmp_path / "out")
    by_name = {short(c): c for c in results["checks"]}
    assert by_name["nn_imports"]["status"] == "failed"
    assert "cv2" in by_name["nn_imports"]["message"]
    skipped = [c for c in results["checks"] if c["question"] in Q2]
    assert skipped and all(c["status"] == "skipped" and c["message"] == "nn.py did not import"
                           for c in skipped)


def test_reference_scores_full_marks_identically_three_times(tmp_path):
    runs = [grade(REPO / "reference" / "python", tmp_path / f"out{i}") for i in range(3)]
    for results in runs:
        assert not_passed(results) == set()
        for q in Q2:
            assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0
        assert results["isolation"]
    views = [[(c["nodeid"], c["status"], c["message"], c["points"]) for c in r["checks"]] for r in runs]
    assert views[0] == views[1] == views[2]
    assert runs[0]["score"] == runs[1]["score"] == runs[2]["score"] == runs[0]["max_score"]


def test_reference_public_visibility_with_xdist(tmp_path):
    """-n 2 gives the same outcomes; the hidden check is reported as existing and not run."""
    results = grade(REPO / "reference" / "python", tmp_path / "out", "--visibility", "public", "-n", "2")
    hidden = [c for c in results["checks"] if c["status"] == "hidden-not-run"]
    assert [short(c) for c in hidden] == ["backwards_matches_reference"]
    assert hidden[0]["points"] == 0 and hidden[0]["max_points"] > 0
    assert not_passed(results) == set()         # the hidden one did not run: not a failure
    assert "hidden" in results["questions"]["Q2.3.1"]["status"]
    assert results["questions"]["Q2.3.1"]["score"] == results["questions"]["Q2.3.1"]["max_score_run"]
    assert any("hidden check" in note for note in results["notes"])


def test_stubs_score_zero_and_say_not_implemented(tmp_path):
    python_dir = tmp_path / "student" / "python"
    stubs.generate(REPO / "reference", tmp_path / "student")
    results = grade(python_dir, tmp_path / "out")
    for q in Q2:
        assert results["questions"][q]["score"] == 0, q
    q2_checks = [c for c in results["checks"] if c["question"] in Q2]
    assert q2_checks
    for check in q2_checks:
        assert check["status"] in ("failed", "skipped"), check
        assert "not implemented yet" in check["message"], check
    assert results["score"] == 0


def test_questions_not_run_are_listed_not_scored(tmp_path):
    results = grade(REPO / "reference" / "python", tmp_path / "out", "-k", "init_shapes")
    q611 = results["questions"]["Q6.1.1"]
    assert q611["status"].startswith("not run") and q611["score"] is None
    # every auto-graded question of 2022 has checks (tests/checks/test_plugin.py covers one without)
    assert results["not_graded_by_this_version"] == []
    assert results["questions"]["Q1.5"]["status"] == "graded by hand"
    # the deselected checks keep their weight: one of Q2.1.2's five checks is worth 3/5
    assert results["questions"]["Q2.1.2"]["max_score_run"] == pytest.approx(0.6)
    assert results["max_score"] == pytest.approx(0.6)
    assert results["questions"]["Q2.2.1"]["status"].startswith("not run")


def test_students_util_is_replaced_with_a_note(make_submission, tmp_path):
    """The course's util.py used np.float (gone in NumPy 1.24); the harness's copy is used."""
    util = (REPO / "reference" / "python" / "util.py").read_text()
    python_dir = make_submission({"util.py": util.replace("res = np.zeros(x.shape)",
                                                         "res = np.zeros(x.shape).astype(np.float)")})
    results = grade(python_dir, tmp_path / "out")
    assert not_passed(results) == set()
    assert "your util.py differed from the handout's; the handout's copy was used" in results["notes"]


# --- honest variants: the reference with one part rewritten the way other students write it ------
# Each must pass every Q2 check it reaches; a check that fails one of them refuses a reading of
# the handout (issue 15).

def solution(source: str, number: int, body: str) -> str:
    """source with its number-th BEGIN/END SOLUTION region (0-based) replaced by body."""
    begin, end = "# BEGIN SOLUTION\n", "# END SOLUTION"
    at = -1
    for _ in range(number + 1):
        at = source.index(begin, at + 1)
    stop = source.index(end, at)
    indent = source[source.rindex("\n", 0, at) + 1:at]
    lines = [indent + line if line.strip() else "" for line in body.strip("\n").splitlines()]
    return source[:at + len(begin)] + "\n".join(lines) + "\n" + indent + source[stop:]


NN = (REPO / "reference" / "python" / "nn.py").read_text()
RUN_Q2_SOURCE = (REPO / "reference" / "python" / "run_q2.py").read_text()
NN_REGIONS = {"initialize_weights": 0, "sigmoid": 1, "forward": 2, "softmax": 3,
              "compute_loss_and_acc": 4, "backwards": 5, "get_random_batches": 6}
TRAINING, CHECKER = 0, 1          # run_q2.py's regions

# the handout's checker written with += / -= (restores each entry only up to rounding)
PLUS_MINUS_CHECKER = """
grad = np.zeros(v.shape)
for index in np.ndindex(*v.shape):
    v[index] += eps
    h = forward(x, params, 'layer1')
    lp, _ = compute_loss_and_acc(y, forward(h, params, 'output', softmax))
    v[index] -= 2 * eps
    h = forward(x, params, 'layer1')
    lm, _ = compute_loss_and_acc(y, forward(h, params, 'output', softmax))
    v[index] += eps
    grad[index] = (lp - lm) / (2 * eps)
params['grad_' + k] = grad
"""

# both gradients on the last training batch, which the handout's text allows
ON_LAST_BATCH = RUN_Q2_SOURCE.replace(
    "h1 = forward(x, params, 'layer1')\nprobs = forward(h1, params, 'output', softmax)\n"
    "loss, acc = compute_loss_and_acc(y, probs)\ndelta1 = probs - y\n",
    "h1 = forward(xb, params, 'layer1')\nprobs = forward(h1, params, 'output', softmax)\n"
    "loss, acc = compute_loss_and_acc(yb, probs)\ndelta1 = probs - yb\n")
ON_LAST_BATCH = solution(ON_LAST_BATCH, CHECKER, PLUS_MINUS_CHECKER.replace("(x,", "(xb,").replace("(y,", "(yb,"))

# a loop in another style (an epoch counter, batches by index, updates by rebinding), printing
# in the student's own formats
_LOOP = RUN_Q2_SOURCE[RUN_Q2_SOURCE.index("for itr in range(max_iters):"):RUN_Q2_SOURCE.index("# Q 2.5 should")]
OWN_PRINTING = RUN_Q2_SOURCE.replace(_LOOP, """for epoch in range(max_iters):
    total_loss, avg_acc = 0.0, 0.0
    for b in range(len(batches)):
        xb, yb = batches[b]
        out = forward(forward(xb, params, 'layer1'), params, 'output', softmax)
        l, a = compute_loss_and_acc(yb, out)
        total_loss, avg_acc = total_loss + l, avg_acc + a / batch_num
        d = backwards(out - yb, params, 'output', linear_deriv)
        backwards(d, params, 'layer1', sigmoid_deriv)
        for name in ('W', 'b'):
            for layer in ('layer1', 'output'):
                params[name + layer] = params[name + layer] - learning_rate * params['grad_' + name + layer]
    if epoch % 100 == 0:
        print(f"epoch {epoch}, loss={total_loss:.3f}, acc {avg_acc:.2f}")
        print("Iter %d | Loss: %.1f" % (epoch, total_loss))
        print(epoch, total_loss, avg_acc, sep="\\t")


""")

# the handout's loop with its batch named x, y: x, y end as the last batch of 5
LOOP_NAMES_X = RUN_Q2_SOURCE.replace(_LOOP, _LOOP.replace("xb", "x").replace("yb", "y"))

HONEST = {
    # name: (files, -k selection, notes one of which must hold the words, or "")
    "sigmoid_logaddexp": ({"nn.py": solution(NN, NN_REGIONS["sigmoid"], "res = np.exp(-np.logaddexp(0, -x))")},
                          "sigmoid or forward", ""),
    # clipped against the overflow warning: 1/(1+exp(500)) = 7e-218 at -1000, "zero" to run_q2.py
    "sigmoid_clipped": ({"nn.py": solution(NN, NN_REGIONS["sigmoid"], "res = 1 / (1 + np.exp(-np.clip(x, -500, 500)))")},
                        "sigmoid or forward", ""),
    "softmax_by_indexing": ({"nn.py": solution(NN, NN_REGIONS["softmax"], """
e = np.exp(x - x.max(axis=1)[:, None])
res = e / e.sum(axis=1)[:, None]""")}, "softmax", ""),
    "loss_by_label_index": ({"nn.py": solution(NN, NN_REGIONS["compute_loss_and_acc"], """
labels = np.argmax(y, axis=1)
loss = -np.sum(np.log(probs[np.arange(len(y)), labels]))
acc = float(np.sum(np.argmax(probs, 1) == labels)) / len(y)""")}, "loss_acc or loss_is_summed or accuracy_is", ""),
    "backwards_with_dot": ({"nn.py": solution(NN, NN_REGIONS["backwards"], """
d = delta * activation_deriv(post_act)
grad_W = np.dot(X.T, d)
grad_b = np.ones(X.shape[0]) @ d
grad_X = np.dot(d, W.T)""")}, "backwards", ""),
    "init_scaled_rand": ({"nn.py": solution(NN, NN_REGIONS["initialize_weights"], """
a = np.sqrt(6) / np.sqrt(in_size + out_size)
W = a * (2 * np.random.rand(in_size, out_size) - 1)
b = np.zeros((out_size,))""")}, "init_", ""),
    "batches_shuffled_indices": ({"nn.py": solution(NN, NN_REGIONS["get_random_batches"], """
idx = np.arange(len(x))
np.random.shuffle(idx)
for i in range(0, len(x), batch_size):
    batches.append((x[idx[i:i + batch_size]], y[idx[i:i + batch_size]]))""")}, "batches or training_loop", ""),
    "batches_array_split": ({"nn.py": solution(NN, NN_REGIONS["get_random_batches"], """
idx = np.random.permutation(len(x))
batches = [(x[part], y[part]) for part in np.array_split(idx, len(x) // batch_size)]""")},
                            "batches or training_loop", "np.array_split"),
    "batches_array_split_ceil": ({"nn.py": solution(NN, NN_REGIONS["get_random_batches"], """
idx = np.random.permutation(len(x))
batches = [(x[part], y[part]) for part in np.array_split(idx, int(np.ceil(len(x) / batch_size)))]""")},
                                 "batches", "np.array_split"),
    "batches_drop_last": (WRONG / "batches_drop_last", "batches", "drop_last"),
    "gradcheck_plus_minus": ({"run_q2.py": solution(RUN_Q2_SOURCE, CHECKER, PLUS_MINUS_CHECKER)}, "gradcheck", ""),
    "gradcheck_on_last_batch": ({"run_q2.py": ON_LAST_BATCH}, "gradcheck or training_loop", ""),
    "training_printed_own_way": ({"run_q2.py": OWN_PRINTING}, "training_loop or gradcheck", ""),
    "training_loop_names_batch_x": ({"run_q2.py": LOOP_NAMES_X}, "training_loop or gradcheck", ""),
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_variant_passes(name, make_submission, tmp_path):
    files, select, advice = HONEST[name]
    # within Q2's suites: a bare word like "loss" would also select PyTorch training checks
    results = grade(make_submission(files), tmp_path / "out", "-k", f"q2_network and ({select})", "--seed", "0")
    ran = [c for c in results["checks"] if not c.get("not_run") and c["question"] in Q2]
    assert ran
    assert not_passed(results) == set(), [(c["name"], c["message"]) for c in ran if c["status"] != "passed"]
    if advice:
        assert any(advice in note for note in results["notes"]), results["notes"]


def test_checker_on_the_last_batch_is_named(make_submission, tmp_path):
    results = grade(make_submission({"run_q2.py": ON_LAST_BATCH}), tmp_path / "out", "-k", "gradcheck_numerical",
                    "--seed", "0")
    check = next(c for c in results["checks"] if c["name"].endswith("gradcheck_numerical"))
    assert check["status"] == "passed" and "batch" in check["data"]["gradient_data"]
    assert any("the handout allows either" in note for note in results["notes"]), results["notes"]


def test_restoring_up_to_rounding_is_said(make_submission, tmp_path):
    """The += / -= checker really leaves rounding behind (else the case proves nothing)."""
    results = grade(make_submission({"run_q2.py": solution(RUN_Q2_SOURCE, CHECKER, PLUS_MINUS_CHECKER)}),
                    tmp_path / "out", "-k", "gradcheck_restores", "--seed", "0")
    check = next(c for c in results["checks"] if c["name"].endswith("gradcheck_restores_parameters"))
    assert check["status"] == "passed" and "rounding" in check["data"]["restored"]


def test_check_before_training_judges_the_trained_network(make_submission, tmp_path):
    """"You can do this before or after training": with the checker first, params_orig is the
    untrained network and params the trained one; the training loop is judged on the latter."""
    check = RUN_Q2_SOURCE[RUN_Q2_SOURCE.index("# Q 2.5 should be implemented"):]
    before = RUN_Q2_SOURCE.replace(check, "").replace("# Q 2.4\n", check + "\n# Q 2.4\n", 1)
    assert before.index("params_orig = copy.deepcopy") < before.index("for itr in range(max_iters)")
    results = grade(make_submission({"run_q2.py": before}), tmp_path / "out", "-k", "training_loop or gradcheck",
                    "--seed", "0")
    trains = next(c for c in results["checks"] if c["name"].endswith("training_loop_trains"))
    assert trains["status"] == "passed", trains
    assert trains["data"]["trained_network"] == "params"
    # the checker's gradients, overwritten by training, are read as training began (ParamsWatch)
    assert not_passed(results) == set(), [(c["name"], c["message"]) for c in results["checks"]
                                          if c["status"] != "passed" and not c.get("not_run")]
    assert any("read from params as training began" in note for note in results["notes"]), results["notes"]
    assert any("before training" in note for note in results["notes"]), results["notes"]


def test_check_before_training_that_never_restores_still_fails(make_submission, tmp_path):
    """Read at training's start, a checker that leaves each entry at original - eps is still caught."""
    check = RUN_Q2_SOURCE[RUN_Q2_SOURCE.index("# Q 2.5 should be implemented"):]
    broken = check.replace("        v[index] = original\n", "", 1)
    assert broken != check
    before = RUN_Q2_SOURCE.replace(check, "").replace("# Q 2.4\n", broken + "\n# Q 2.4\n", 1)
    results = grade(make_submission({"run_q2.py": before}), tmp_path / "out", "-k", "gradcheck", "--seed", "0")
    assert {"gradcheck_numerical", "gradcheck_restores_parameters"} <= not_passed(results)


def test_agreement_of_two_wrong_gradients_is_named(make_submission, tmp_path):
    """Both sides averaged agree with each other: the total error says their agreement shows nothing."""
    results = grade(make_submission(WRONG / "gradcheck_both_averaged"), tmp_path / "out", "-k", "gradcheck_total_error",
                    "--seed", "0")
    check = next(c for c in results["checks"] if c["name"].endswith("gradcheck_total_error"))
    assert check["status"] == "failed" and "shows nothing" in check["message"], check


def test_training_loop_is_judged_on_every_batch_when_x_is_the_last(make_submission, tmp_path):
    """On seed 4 the untrained network's summed loss on the last batch of 5 (7 or so) was below
    the 35 meant for 40 examples, and it guessed 3 of 5: the loop is judged on all its batches."""
    results = grade(make_submission(WRONG / "training_loop_rebinds_x"), tmp_path / "out", "-k", "training_loop_trains",
                    "--seed", "4")
    check = next(c for c in results["checks"] if c["name"].endswith("training_loop_trains"))
    assert check["status"] == "failed" and "40 examples" in check["message"], check
