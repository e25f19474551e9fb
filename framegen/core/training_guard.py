"""What stops a training run without losing or corrupting anything.

- Ctrl-C and SIGTERM (`StopSignals`): while the loop runs they only ask it to stop; the step in progress
  finishes, the trainer writes a checkpoint of it, says how to resume, and exits 130. A second Ctrl-C stops
  at once (a KeyboardInterrupt, as without this guard), for a step that takes minutes.
- Divergence (`check_losses`, `check_weights`): a loss that is no longer finite stops the run (exit 3)
  naming the step and the term; weights that are no longer finite are never checkpointed, marked best or
  exported, so the last checkpoint on disk stays the last good one.
"""

from __future__ import annotations

import signal
import threading
import torch

from framegen.core.errors import InputError


class StopSignals:
    """A context in which SIGINT and SIGTERM set `requested` (the first one) instead of stopping the process."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: str | None = None  # "Ctrl-C" or "SIGTERM" once asked
        self.previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            for number in self.SIGNALS:
                self.previous[number] = signal.signal(number, self.handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def handle(self, number: int, frame) -> None:
        if self.requested is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, without the checkpoint of this step
        self.requested = self.requested or ("Ctrl-C" if number == signal.SIGINT else "SIGTERM")


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

