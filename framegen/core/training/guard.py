"""What stops a training run without losing or corrupting anything.

- Ctrl-C and SIGTERM (`signals.StopSignals`): while the loop runs they only ask it to stop; the step in
  progress finishes, the trainer writes a checkpoint of it, says how to resume, and exits 130.
- Divergence (`check_losses`, `check_weights`): a loss that is no longer finite stops the run (exit 3)
  naming the step and the term; weights that are no longer finite are never checkpointed, marked best or
  exported, so the last checkpoint on disk stays the last good one.
"""

from __future__ import annotations

import torch

from framegen.core.errors import InputError


class Stopped(KeyboardInterrupt):
    """A Ctrl-C or SIGTERM that the run answered with a checkpoint; str() is the line that says how to resume."""


class Diverged(InputError):
    """Training produced non-finite numbers (exit 3, the code of bad input and values)."""


def check_losses(terms: dict[str, torch.Tensor], step: int, kept: str) -> None:
    """Stop when any loss term of `step` is NaN or infinite: one `isfinite` (one device sync) per step;
    the terms are read one by one only to name the culprit. `kept`: what is left on disk, for the message."""
    if bool(torch.stack([value.detach().float() for value in terms.values()]).isfinite().all()):
        return
    bad = ", ".join(f"{name} = {float(value)}" for name, value in terms.items() if not torch.isfinite(value))
    raise Diverged(f"step {step}: the training loss is no longer finite ({bad}); {kept}")


def check_weights(modules: dict[str, torch.nn.Module], step: int, kept: str) -> None:
    """Stop before writing a checkpoint of weights that are no longer finite (a learning rate far too high)."""
    for name, module in modules.items():
        tensors = [t for t in module.state_dict().values() if t.is_floating_point()]
        if tensors and not bool(torch.stack([t.isfinite().all() for t in tensors]).all()):
            raise Diverged(f"step {step}: the {name} weights are no longer finite (diverged: lower --lr); "
                           f"{kept}")

