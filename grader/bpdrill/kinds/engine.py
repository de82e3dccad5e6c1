"""The engine kind: a reverse-mode autodiff engine the learner writes (autograd's Tensor; the
third shelf's scalar Value). Its exercises run graph programs through the learner's engine
and the same programs through PyTorch (bpdrill.checks.autograd.programs): each drives and
references its own programs; the engine's lifecycle mistakes (gradients assigned instead of
accumulated, a recursive traversal, aliased gradient arrays) are its modules' own."""

MISTAKES: list = []
