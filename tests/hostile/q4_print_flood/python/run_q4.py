# A megabyte of one-letter lines: every printed line is scored against every truth line, which
# took hours of edit distances. The grader refuses to score far more text than the photos hold.
import sys

for i in range(500_000):
    sys.stdout.write("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] + "\n")
