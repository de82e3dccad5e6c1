"""The pictures of `bpdrill explore` and `bpdrill capstone`: PNG files in the data folder.

matplotlib is an optional extra (`pip install 'bpdrill[see]'`); without it the commands keep
their terminal view and say how to get the plot. Only the object-oriented API is used (a
Figure and the Agg canvas): no window, no global pyplot state.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from bpdrill.i18n import t


class MissingExtra(Exception):
    """An optional package is not installed: the message says how to get it."""

    def __init__(self, package: str, what: str):
        super().__init__(t("{what} needs {package}, which is not installed: pip install 'bpdrill[see]' "
                           "(or pip install {package})", what=what, package=package))


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra("matplotlib", t("the plot")) from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def output_path(name: str) -> Path:
    from bpdrill.paths import data_dir
    folder = data_dir() / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _save(fig, path: Path, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, format="png", dpi=dpi)
    os.replace(tmp, path)
    return path



def vanishing_png(result, path: Path, dpi: int = 100) -> Path:
    from bpdrill.explore.curves import CURVES, PANELS
    fig = _figure(12, 7.6)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    layers = np.arange(1, result.depth + 1)
    for ax, (title, keys) in zip(axes, PANELS):
        for key in keys:
            if key not in result.norms:
                continue
            norms = np.where(np.isfinite(result.norms[key]) & (result.norms[key] > 0), result.norms[key], np.nan)
            ax.plot(layers, norms, marker="o", markersize=3, color=f"C{list(CURVES).index(key)}",
                    label=f"{CURVES[key].english_label}  (first/last {_ratio(result.ratio(key))})")
        ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(title, fontsize=11)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    for ax in axes[2:]:
        ax.set_xlabel("layer (1 = next to the input)")
    for ax in axes[::2]:
        ax.set_ylabel("||dL/dz|| reaching the layer")
    fig.suptitle(f"Gradient per layer at initialisation: depth {result.depth}, width {result.width}, "
                 f"seed {result.seed}", fontsize=12)
    fig.tight_layout()
    return _save(fig, path, dpi)


def exploding_png(result, path: Path) -> Path:
    fig = _figure(9.5, 4.2)
    loss_ax, norm_ax = fig.subplots(1, 2)
    labels = {"plain": "without clipping", "clipped": f"clip_grad_norm(max_norm={result.max_norm:g})"}
    for ax, series, title in ((loss_ax, result.losses, "loss"), (norm_ax, result.norms, "gradient norm before clipping")):
        start = [v[0] for v in series.values() if len(v) and np.isfinite(v[0])]
        calm = [np.nanmax(np.where(np.isfinite(v), v, np.nan)) for k, v in series.items() if k == "clipped" and len(v)]
        top = 1e3 * max(start + calm + [1.0])  # a diverging curve leaves the chart here
        for key in ("plain", "clipped"):
            values = series.get(key)
            if values is None or not len(values):
                continue
            shown = np.where(np.isfinite(values), values, np.nan)
            line, = ax.plot(np.arange(len(values)), np.minimum(shown, top), marker="o", markersize=3,
                            label=labels[key])
            off = np.flatnonzero(~np.isfinite(values) | (values > top))
            if off.size:
                first = int(off[0])
                value = values[first]
                words = f"{value:.0e} at step {first}" if np.isfinite(value) else f"inf/NaN at step {first}"
                if not np.all(np.isfinite(values)) and np.isfinite(value):
                    words += f", inf/NaN at step {int(np.argmax(~np.isfinite(values)))}"
                ax.annotate("off the chart: " + words, (first, top), xytext=(first + 1, top / 30), fontsize=8,
                            color=line.get_color(), arrowprops={"arrowstyle": "->", "color": line.get_color()})
        ax.set_yscale("log")
        ax.set_ylim(top=top * 3)
        ax.set_xlabel("SGD step")
        ax.set_title(title, fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Large initial weights (He x {result.gain:g}), ReLU, depth {result.depth}, SGD lr {result.lr:g}",
                 fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def capstone_png(result, path: Path) -> Path:
    fig = _figure(7.5, 4.2)
    ax = fig.subplots()
    for key, label in (("yours", "your Tensor + Adam"), ("torch", "PyTorch")):
        losses = result.losses.get(key)
        if losses is None or not len(losses):
            continue
        acc = result.accuracy.get(key)
        suffix = f" (test accuracy {acc:.1%}, {result.seconds[key]:.1f} s)" if acc is not None else ""
        ax.plot(np.arange(1, len(losses) + 1), np.where(np.isfinite(losses), losses, np.nan),
                "-" if key == "yours" else "--", marker="o", markersize=3, label=label + suffix)
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title("8x8 digits: the same MLP, same start, same batches", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def progress_png(series: dict, path: Path) -> Path:
    """Time to green over attempts: one line per exercise (name -> [progress.Attempt]); solved
    attempts only, interview-mode ones drawn hollow."""
    fig = _figure(8.5, 4.8)
    ax = fig.subplots()
    for name, runs in series.items():
        solved = [a for a in runs if a.green_seconds is not None]
        if not solved:
            continue
        line, = ax.plot([a.number for a in solved], [a.green_seconds / 60 for a in solved], "-", marker="o",
                        markersize=4, label=name)
        hollow = [a for a in solved if a.interview]
        if hollow:
            ax.plot([a.number for a in hollow], [a.green_seconds / 60 for a in hollow], "o", markersize=8,
                    markerfacecolor="none", color=line.get_color())
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("attempt (drill) of the exercise")
    ax.set_ylabel("minutes to full marks")
    ax.set_title("Time to green over attempts (hollow rings: interview mode)", fontsize=11)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def _ratio(value: float) -> str:
    if not np.isfinite(value):
        return "overflow"
    return f"{value:.0e}" if value and (value >= 1e3 or value < 1e-2) else f"{value:.3g}"


def open_file(path: Path) -> bool:
    """Show the picture where a viewer exists (xdg-open only with a display). True when launched."""
    try:
        if sys.platform == "darwin" and shutil.which("open"):
            command = ["open", str(path)]
        elif sys.platform == "win32":
            os.startfile(str(path))  # type: ignore[attr-defined]  # noqa: S606
            return True
        elif (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which("xdg-open"):
            command = ["xdg-open", str(path)]
        else:
            return False
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        return True
    except OSError:
        return False
