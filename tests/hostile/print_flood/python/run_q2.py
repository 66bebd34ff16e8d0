import sys

while True:
    sys.stdout.write("spam " * 2000 + "\n")
