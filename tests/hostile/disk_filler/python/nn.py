# Three ways to fill the disk.
import os


def one_big_file(x):
    with open("big.bin", "wb") as f:
        while True:
            f.write(b"\0" * (1 << 20))


def many_files(x):
    # Each file stays under the file size limit; together they do not.
    chunk = b"\0" * (1 << 20)
    n = 0
    while True:
        with open(f"part{n}.bin", "wb") as f:
            for _ in range(4):
                f.write(chunk)
        n += 1


def fill_tmp(x):
    chunk = b"\0" * (1 << 20)
    n = 0
    while True:
        with open(f"/tmp/part{n}.bin", "wb") as f:
            for _ in range(4):
                f.write(chunk)
        n += 1
