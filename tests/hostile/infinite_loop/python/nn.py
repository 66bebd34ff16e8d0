# Never returns.
def sigmoid(x):
    while True:
        pass
