# "Trains", then saves weights a few hundred bytes long that describe 8**28 values: every level
# is a list holding the level below eight times (pickle stores each shared list once). A loader
# that walks the structure without counting shared references works for years.
import pickle

import numpy as np

bomb = [0.0] * 8
for _ in range(28):
    bomb = [bomb] * 8

params = {"Wlayer1": bomb, "blayer1": np.zeros(64)}
with open("q3_weights.pickle", "wb") as f:
    pickle.dump(params, f)
