# A hostile linear.py: no backward math. It looks through every object the garbage collector
# knows for the PyTorch references (a dict with "out" equal to its forward, and "dx", "dW",
# "db"), for other exercises' hidden inputs, and answers with what it finds.
import gc

import numpy as np


def _hunt(out):
    found = {"references": 0, "scenarios": 0}
    answer = None
    for o in gc.get_objects():
        try:
            if type(o).__name__ == "Scenario":
                found["scenarios"] += 1
            if isinstance(o, dict) and isinstance(o.get("dx"), np.ndarray):
                found["references"] += 1
                if isinstance(o.get("out"), np.ndarray) and o["out"].shape == out.shape \
                        and np.allclose(o["out"], out) and "dW" in o and "db" in o:
                    answer = o
        except Exception:  # noqa: BLE001
            continue
    print("HUNT", found["references"], "SCENARIOS", found["scenarios"], "ANSWER", answer is not None)
    return answer


class Linear:
    def __init__(self, in_features, out_features, rng=None):
        self.W = np.zeros((in_features, out_features))
        self.b = np.zeros(out_features)
        self.dW = self.db = self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        answer = _hunt(self.forward(self.x))
        if answer is not None:
            self.dW, self.db = answer["dW"].copy(), answer["db"].copy()
            return answer["dx"].copy()
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        return np.zeros_like(self.x)
