"""Numbers a script printed, read as a TA reads them: the training loss of each line that says one.

Students print the loss in their own words: the handout's "itr: 02 loss: 123.4", "Epoch 3/100 -
loss: 1.2e5", "Loss at epoch 3: 1.2", "epoch=3 avg_loss=1,234.5". Untrusted text: a check that
believes a printed loss also measures the model it claims to describe.
"""
from __future__ import annotations

import re

_LOSS = re.compile(r"(?<![a-z])loss(?![a-z])", re.IGNORECASE)
_EPOCH = re.compile(r"\b(?:itr|iter|iteration|epoch|ep)\b\D{0,4}(\d+)", re.IGNORECASE)
_VALUE = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
                    r"|(?<![a-z])(?:nan|inf)(?![a-z]))(?![\w%]|\.\w)", re.IGNORECASE)
# what may stand between 'loss' and its number (the epoch's words and number aside): marks, and
# at most two short words such as "at", "is", "value" ("Using loss CrossEntropyLoss with lr=0.001",
# "loss went down by 50%" and "loss curve saved to loss_1.png" name no loss)
_BETWEEN = re.compile(r"[\s:=,|()\[\]\-]*(?:(?:is|was|at|of|for|in|on|now|value|avg|mean|total|sum|per|"
                      r"images?|batch(?:es)?|examples?|samples?|pixels?)\b[\s:=,|()\[\]\-]*){0,2}", re.IGNORECASE)


def losses(stdout: str) -> list[tuple[int | None, float]]:
    """(epoch or None, loss) for each printed line with 'loss' and a number after it; the epoch
    is the number after itr/iter/epoch anywhere on the line (before or after the loss)."""
    found = []
    for line in (stdout or "").splitlines():
        word = _LOSS.search(line)
        if not word:
            continue
        epoch = _EPOCH.search(line)
        aside = epoch.span() if epoch and epoch.start() >= word.end() else (0, 0)
        for value in _VALUE.finditer(line, word.end()):
            if aside[0] <= value.start() < aside[1]:
                continue
            between = line[word.end():value.start()]
            if aside[1] <= value.start() and word.end() <= aside[0]:
                between = line[word.end():aside[0]] + line[aside[1]:value.start()]
            if _BETWEEN.fullmatch(between):
                found.append((int(epoch.group(1)) if epoch else None, float(value.group().replace(",", ""))))
            break
    return found
