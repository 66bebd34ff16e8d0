"""Every wrong submission in tests/wrong/ is claimed by exactly one suite's table, so none sits
there unchecked (a check that no wrong submission fails may be unable to fail)."""
from pathlib import Path

import test_letters_checks
import test_q2_checks
import test_q6_checks
import test_training_checks

WRONG = Path(__file__).resolve().parents[1] / "wrong"
TABLES = {"Q2": test_q2_checks.EXPECTED, "Q3/Q5": test_training_checks.EXPECTED,
          "Q4": test_letters_checks.EXPECTED, "Q6": test_q6_checks.EXPECTED}


def test_every_folder_is_in_one_table():
    folders = {p.name for p in WRONG.iterdir() if p.is_dir()}
    claimed = [name for table in TABLES.values() for name in table if name in folders]
    assert sorted(claimed) == sorted(set(claimed)), "a folder is claimed by two tables"
    assert folders == set(claimed), f"not in any table: {sorted(folders - set(claimed))}"


def test_the_issues_count_of_wrong_submissions():
    assert len(TABLES["Q2"]) >= 15
    assert len(TABLES["Q3/Q5"]) + len(TABLES["Q4"]) >= 15
