"""The commands that show rather than grade: `bpdrill explore ...` and `bpdrill capstone`.

Added to the command group by bpdrill.cli.main.
"""
from __future__ import annotations

import sys

import click

from bpdrill.cli.common import common
from bpdrill.explore import explore, plots
from bpdrill.i18n import t


def _show_plot(draw, result, name: str, open_it: bool) -> None:
    """Write the PNG (and open it where a viewer exists), or say why there is none."""
    try:
        path = draw(result, plots.output_path(name))
    except plots.MissingExtra as exc:
        click.echo("\n" + str(exc))
        return
    click.echo("\n" + t("plot: {path}", path=path))
    if open_it:
        plots.open_file(path)


def _choices(session, ws, names, seed):
    choices = explore.choose(ws, names, seed=seed, history=session.history())
    for choice in choices.values():
        click.echo(("  " if choice.mine else "  ! ") + choice.sentence())
    click.echo("")
    return choices


@click.group("explore")
def explore_group():
    """See backpropagation at work through your own layers."""

@explore_group.command("vanishing")
@click.option("--depth", type=click.IntRange(2, 200), default=20, show_default=True, help="Layers in the network.")
@click.option("--width", type=click.IntRange(2, 1024), default=explore.WIDTH, show_default=True,
              help="Units per layer.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="Seed of the weights and inputs.")
@click.option("--open/--no-open", "open_it", default=True, help="Open the plot where a viewer exists.")
@common
def vanishing(session, depth, width, seed, open_it):
    """The gradient reaching each layer at initialisation: activations, inits, residuals, BatchNorm."""
    ws = session.workspace()
    choices = _choices(session, ws, ("linear", "sigmoid", "tanh", "relu", "batchnorm", "init"), seed)
    result = explore.run_vanishing(choices, depth=depth, width=width, seed=seed)
    click.echo(explore.render_vanishing(result))
    if result.norms:
        _show_plot(plots.vanishing_png, result, "vanishing.png", open_it)
    sys.exit(1 if result.errors else 0)

@explore_group.command("exploding")
@click.option("--depth", type=click.IntRange(2, 200), default=20, show_default=True, help="Layers in the network.")
@click.option("--steps", type=click.IntRange(2, 500), default=explore.EXPLODING["steps"], show_default=True,
              help="SGD steps.")
@click.option("--gain", type=click.FloatRange(0.1, 10), default=explore.EXPLODING["gain"], show_default=True,
              help="Initial weights: He init times this.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="Seed of the weights and data.")
@click.option("--open/--no-open", "open_it", default=True, help="Open the plot where a viewer exists.")
@common
def exploding(session, depth, steps, gain, seed, open_it):
    """Large initial weights: the loss diverges without clip_grad_norm, and trains with it."""
    ws = session.workspace()
    choices = _choices(session, ws, ("linear", "relu", "init", "clip_grad_norm"), seed)
    result = explore.run_exploding(choices, depth=depth, seed=seed, steps=steps, gain=gain)
    click.echo(explore.render_exploding(result))
    if result.losses:
        _show_plot(plots.exploding_png, result, "exploding.png", open_it)
    sys.exit(1 if result.errors else 0)

@click.command("capstone")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="Seed of the initial weights and the order of the batches.")
@click.option("--torch/--no-torch", "with_torch", default=True, help="Also train the same network in PyTorch.")
@click.option("--open/--no-open", "open_it", default=True, help="Open the plot where a viewer exists.")
@common
def capstone_command(session, seed, with_torch, open_it):
    """Train a digit classifier with your own Tensor and Adam; PyTorch side by side."""
    from bpdrill.explore import capstone
    ws = session.workspace()
    try:
        capstone.load_digits()
    except plots.MissingExtra as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(t("Training 64 -> {hidden} (ReLU) -> 10 on 8x8 digits with your autograd.py and adam.py "
                 "(seed {seed}, {epochs} epochs, batches of {batch}, Adam lr {lr})", hidden=capstone.HIDDEN,
                 seed=seed, epochs=capstone.EPOCHS, batch=capstone.BATCH, lr=capstone.LR))
    if sys.stderr.isatty():
        with click.progressbar(length=capstone.EPOCHS, label=t("epochs"), file=sys.stderr) as bar:
            shown = [0]

            def progress(done, total):
                if done > shown[0]:
                    bar.update(done - shown[0])
                    shown[0] = done
            result = capstone.run(ws, seed=seed, with_torch=False, on_progress=progress)
    else:  # no terminal to draw a bar on
        result = capstone.run(ws, seed=seed, with_torch=False)
    if with_torch and result.losses:  # beside a run of yours, not instead of it
        click.echo(t("Now the same network, same start, same batches, in PyTorch ..."))
        try:
            torch_run = capstone.run_torch(capstone.make_scenario(seed, *capstone.load_digits()))
            capstone.add_torch(result, torch_run, seed)
        except RuntimeError as exc:
            result.torch_note = str(exc)
    click.echo(capstone.render(result))
    if result.losses:
        _show_plot(plots.capstone_png, result, "capstone.png", open_it)
    sys.exit(0 if result.ok else 1)
