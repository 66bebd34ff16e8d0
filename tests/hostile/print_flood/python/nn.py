# Prints without end, through print() and straight to the file descriptors.
import os
import sys


def sigmoid(x):
    while True:
        print("x" * 10000)


def raw(x):
    line = b"y" * 65536
    while True:
        os.write(1, line)
        os.write(2, line)


def chatty(x):
    # A lot, but finite and not a flood: kept up to the limit, the call still succeeds.
    for i in range(2000):
        print(f"line {i:05d} " + "z" * 100)
    return x
