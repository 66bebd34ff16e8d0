# Writes the weights file run_q4 needs without training (the attack is run_q4's).
import pickle

with open("q3_weights.pickle", "wb") as f:
    pickle.dump({}, f)
