"""The network kind: a whole model with its loss (mlp: forward(X) -> probabilities,
backward(y) -> a dict of gradients, loss, train_step). Its one exercise drives, references and
checks it itself (bpdrill.checks.mlp): this kind contributes no shared life cycle yet."""

MISTAKES: list = []
