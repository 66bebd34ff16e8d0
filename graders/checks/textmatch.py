"""Comparing the text a script printed with the ground-truth lines of the photos (Q4.4).

run_q4.py prints the text of every photo it finds in ../images, line by line, in whatever order
os.listdir gives and with whatever else a student prints in between. So the printed lines are
first split into blocks, one per photo, by how well each line matches the photos' truth lines;
then each truth line is paired with the printed line of its photo most like it, and scored by
edit distance: a missing, extra or wrong letter costs one character, not the rest of the line.
If the photo's whole text, lines joined in order, is closer to the printed block than that
(a script printing everything on one line), that distance counts instead. Spaces, case and
punctuation are ignored (the handout allows run_q4 to ignore spaces).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

_NOT_COUNTED = re.compile(r"[^A-Z0-9]")
# Moving from one photo's block to another costs this much similarity (a line's similarity is
# at most 1), so a line that is misread and happens to look a little more like another photo's
# line stays in its block; a photo with a single line of text, printed between two others,
# still gets its own block when that line is read fairly well (two changes cost 0.7).
SWITCH_COST = 0.35
# A printed line this unlike every truth line (similarity below) is not text of a photo at all
# (a file name, a debug print); it stays in the block it sits in but no truth line takes it.
NOISE_SIMILARITY = 0.2
# Scoring costs every printed line against every truth line (edit distances): 2,000 one-letter
# lines took 70 s, a megabyte of them hours. Output beyond a generous multiple of the photos'
# text (debug lines and all) is refused before any matching: at this bound scoring takes
# seconds, an honest run_q4 prints about the truth's size.
MAX_LINES_FACTOR, MAX_LINES_SLACK = 3, 40
MAX_CHARS_FACTOR, MAX_CHARS_SLACK = 3, 2000


class TooMuchText(ValueError):
    """The printed text is far larger than the photos' text: not scored; str() says why."""


def text_budget(truth: dict[str, list[str]]) -> tuple[int, int]:
    """(lines, counted characters) a script may print and still be scored."""
    lines = [normalize(t) for texts in truth.values() for t in texts]
    return (MAX_LINES_FACTOR * len(lines) + MAX_LINES_SLACK,
            MAX_CHARS_FACTOR * sum(map(len, lines)) + MAX_CHARS_SLACK)


def normalize(text: str) -> str:
    """The characters that count: upper case letters and digits, nothing else."""
    return _NOT_COUNTED.sub("", str(text).upper())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions and substitutions each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    cols = np.arange(len(b) + 1)
    row = cols.copy()
    for i, ch in enumerate(np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32), start=1):
        # substitution/match and deletion, then insertions along the row as a running minimum
        # (row[j] = min over k <= j of step[k] + (j - k))
        step = np.empty_like(row)
        step[0] = i
        step[1:] = np.minimum(row[1:] + 1, row[:-1] + (codes != ch))
        row = np.minimum.accumulate(step - cols) + cols
    return int(row[-1])


def similarity(a: str, b: str) -> float:
    """1 - edit distance / the longer length: 1 for equal strings, 0 for nothing in common."""
    longest = max(len(a), len(b))
    return 1.0 - edit_distance(a, b) / longest if longest else 1.0


@dataclass
class LineScore:
    truth: str                 # the truth line as written in the annotations
    printed: str | None        # the printed line paired with it (None: no line was)
    errors: int                # edit distance of the normalized texts (all characters if unpaired)
    characters: int            # characters of the truth line that count

    @property
    def accuracy(self) -> float:
        return 1.0 - self.errors / self.characters if self.characters else 1.0


@dataclass
class ImageScore:
    name: str
    lines: list[LineScore] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)     # the block of printed lines of this photo
    # edit distance of the whole text, lines joined in order: forgives a script that prints a
    # photo on one line, or joins two lines, which the pairing of lines would charge twice
    whole_errors: int | None = None

    @property
    def characters(self) -> int:
        return sum(line.characters for line in self.lines)

    @property
    def errors(self) -> int:
        by_line = sum(line.errors for line in self.lines)
        return by_line if self.whole_errors is None else min(by_line, self.whole_errors)

    @property
    def accuracy(self) -> float:
        """Character accuracy over the photo's lines: 1 - (edit distances) / (characters)."""
        return 1.0 - self.errors / self.characters if self.characters else 1.0


def printed_lines(stdout: str) -> list[str]:
    """The printed lines that hold at least one counted character, as printed; a run of lines of
    one character each (a script printing character by character, a blank line between lines
    of text) is one line."""
    lines, run = [], []
    for line in stdout.splitlines() + [""]:
        if len(normalize(line)) == 1:
            run.append(line.strip())
            continue
        lines += ["".join(run)] if len(run) >= MIN_RUN else run
        run = []
        if normalize(line):
            lines.append(line.rstrip())
    return lines


# consecutive one-character lines joined into one (fewer stay lines of their own: "A" and "1"
# are lines of text on a photo)
MIN_RUN = 3
# a label before a line's text ("Line 3: ", "page_01.jpg: "): the counted characters before its
# first colon, at most this many
MAX_LABEL = 15


def readings(line: str) -> list[str]:
    """The counted characters of a printed line, and of it without a label before a colon: the
    text may be either (a colon is no letter of the photos)."""
    whole = normalize(line)
    head, colon, rest = line.partition(":")
    label = normalize(head)
    return [whole, normalize(rest)] if colon and len(label) <= MAX_LABEL and normalize(rest) else [whole]


def split_blocks(lines: list[str], truth: dict[str, list[str]]) -> dict[str, list[str]]:
    """Which printed lines belong to which photo.

    lines: printed lines in order; truth: photo name -> its truth lines. Each line goes to a
    photo; consecutive lines go to the same photo unless a run of them matches another photo
    clearly better (a Viterbi path over the photos, paying SWITCH_COST per change of photo), so
    the order in which the photos were visited does not matter and short lines stay in their block.
    """
    names = list(truth)
    blocks = {name: [] for name in names}
    if not lines or not names:
        return blocks
    scores = np.array([[max((similarity(r, t) for t in _pieces(truth[name]) for r in readings(line)), default=0.0)
                        for name in names] for line in lines])
    best = scores[0].copy()
    back = np.zeros(scores.shape, dtype=int)
    for j in range(1, len(lines)):
        stay, switch = best, best.max() - SWITCH_COST
        back[j] = np.where(stay >= switch, np.arange(len(names)), int(best.argmax()))
        best = np.maximum(stay, switch) + scores[j]
    path = [int(best.argmax())]
    for j in range(len(lines) - 1, 0, -1):
        path.append(int(back[j, path[-1]]))
    for line, k in zip(lines, reversed(path)):
        blocks[names[k]].append(line)
    return blocks


def _pieces(truth_lines: list[str]) -> list[str]:
    """What one printed line may hold of a photo: a line, two lines joined, or the whole text."""
    lines = [t for t in map(normalize, truth_lines) if t]
    return lines + [a + b for a, b in zip(lines, lines[1:])] + ["".join(lines)]


def score_image(name: str, truth_lines: list[str], printed: list[str]) -> ImageScore:
    """Pair each truth line with the printed line most like it (one to one, least total edit
    distance; a truth line left without a partner costs all its characters) and score the pairs."""
    truth_norm = [normalize(t) for t in truth_lines]
    printed_norm = [readings(p) for p in printed]
    n, m = len(truth_norm), len(printed_norm)
    # columns m.. are "no partner" at the cost of the whole line
    cost = np.zeros((n, m + n))
    for i, t in enumerate(truth_norm):
        for j, options in enumerate(printed_norm):
            near = [p for p in options if similarity(t, p) >= NOISE_SIMILARITY]
            cost[i, j] = min(edit_distance(t, p) for p in near) if near else len(t) + 1
        cost[i, m:] = len(t)
    rows, cols = linear_sum_assignment(cost) if n else ([], [])
    whole = "".join(truth_norm)
    score = ImageScore(name, printed=list(printed),
                       whole_errors=min(edit_distance(whole, "".join(p[k] if k < len(p) else p[0] for p in printed_norm))
                                        for k in (0, 1)))
    for i, j in zip(rows, cols):
        paired = j < m and cost[i, j] < len(truth_norm[i])
        score.lines.append(LineScore(truth_lines[i], printed[j] if paired else None,
                                     int(cost[i, j]) if paired else len(truth_norm[i]),
                                     len(truth_norm[i])))
    return score


def score_output(stdout: str, truth: dict[str, list[str]], script: str = "run_q4.py") -> dict[str, ImageScore]:
    """Photo name -> its ImageScore, from a script's whole standard output; TooMuchText when it
    is beyond text_budget (checked before any matching)."""
    lines = printed_lines(stdout)
    most_lines, most_chars = text_budget(truth)
    chars = sum(len(normalize(line)) for line in lines[:most_lines + 1])
    if len(lines) > most_lines or chars > most_chars:
        raise TooMuchText(f"{script} printed {len(lines):,} lines of text"
                          + (f" ({chars:,}+ letters and digits)" if chars > most_chars else "")
                          + f", far more than the photos hold (at most {most_lines:,} lines and {most_chars:,} "
                          "letters and digits are scored), so the text was not scored")
    blocks = split_blocks(lines, truth)
    return {name: score_image(name, truth[name], blocks[name]) for name in truth}
