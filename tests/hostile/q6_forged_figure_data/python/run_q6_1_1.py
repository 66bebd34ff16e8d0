import sys
import numpy as np
import matplotlib.pyplot as plt

# Q6.1.1 -- trains nothing. The plotted data the sandbox's matplotlib backend hands back is
# plain data the script can append to: a figure whose "axes" is not a list.
plt.figure()
plt.plot([1, 2, 3])
plt.show()
backend = sys.modules.get("hw5sandbox_capture_backend")
if backend is not None:
    backend.FIGURE_DATA.append({"title": "x", "axes": 5})
