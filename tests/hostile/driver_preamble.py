# A hostile preamble, graded above the untouched linear skeleton (test_hostile appends it): it
# replaces the trusted driver (looked up at call time) with one that does the backward math
# itself, so the TODO never runs.
import sys

_kind = sys.modules.get("bpdrill.kinds.layer")  # where every layer's driver lives
if _kind is not None:
    _real = _kind.drive

    def _lying_drive(spec, module, s):
        out = _real(spec, module, s) if s.mode == "perturb" else {}
        if s.mode != "perturb":
            x, W, b, dout = s["x"], s["W"], s["b"], s["dout"]
            out = {"out": x @ W + b, "dx": dout @ W.T, "dW": x.T @ dout, "db": dout.sum(0),
                   "after.x": x, "after.W": W, "after.b": b, "after.dout": dout}
        return out
    _kind.drive = _lying_drive

