"""One training step: `train_step` is one update in pix2pix order for any generator of the registry
(`forward(frame0, frame1, times, targets, intermediates=True)` and its arch's loss) on the frames
training/pairs.py picked from a batch of windows; bench/bench_train.py times the same function in a bare
loop. `discriminator_step` is the GAN half, when it is on. With `objective = "cycle"` a step is `cycle_step`
instead: the cycle objective (training/cycle.py) on the midpoint triplets pairs.py picked."""

from __future__ import annotations

import contextlib

import torch

from framegen.core.errors import UsageError
from framegen.core.training.cycle import cycle_terms
from framegen.core.training.models import TrainingModels
from framegen.core.training.pairs import TrainingPairs


def autocast_context(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("--precision fp16 needs CUDA; use bf16 or fp32 on the CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def train_step(models: TrainingModels, pairs: TrainingPairs, amp) -> dict[str, torch.Tensor]:
    """One step in pix2pix order: the discriminator on detached fakes, then the generator.

    pairs: inputs, times and targets on the models' device (training_pairs.sample_pairs); `amp`: an
    autocast context or a null one. Returns the detached loss terms: "g" (the generator's total), its
    arch's terms, "l2_sp" with a regulariser, "d" with the GAN part.
    """
    if models.objective == "cycle":
        return cycle_step(models, pairs, amp)
    frame0, frame1, times, window = pairs.frame0, pairs.frame1, pairs.times, pairs.targets
    with amp:
        outputs = models.step_network(frame0, frame1, times, window if models.criterion.needs_targets else None,
                                        intermediates=True)
    fake = outputs["frames"]  # (B, K, 3, H, W) in [0, 1]
    terms: dict[str, torch.Tensor] = {}
    if models.discriminator is not None:
        terms["d"] = discriminator_step(models, frame0, frame1, times, window, fake.detach(), amp)
    with amp:
        g_terms = models.criterion(outputs, window)
        if models.regulariser is not None:
            g_terms["l2_sp"] = models.regulariser(models.generator)
        if models.discriminator is not None:  # the raw module: no gradient sync for a discriminator it does not train
            g_terms["adversarial"] = models.gan_weight * models.adversarial.generator(
                models.discriminator(frame0, frame1, times, fake))
    return {**update_generator(models, g_terms), **terms}


def cycle_step(models: TrainingModels, pairs: TrainingPairs, amp) -> dict[str, torch.Tensor]:
    """One step of the cycle objective on midpoint triplets (A, M, B) = (frame0, targets, frame1): the arch's
    loss on f(f(A, M), f(M, B)) against M, the pull towards the starting weights' outputs, L2-SP."""
    triplet = (pairs.frame0, pairs.targets[:, 0], pairs.frame1)  # (B, 3, H, W) each
    with amp:
        g_terms = cycle_terms(models.step_network(*triplet), triplet, models.criterion, models.cycle_reference,
                              models.cycle_pull)
        if models.regulariser is not None:
            g_terms["l2_sp"] = models.regulariser(models.generator)
    return update_generator(models, g_terms)


def update_generator(models: TrainingModels, g_terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The generator's update on the sum of its loss terms; the detached terms with that sum as "g"."""
    g_loss = sum(g_terms.values())
    models.optimizer_g.zero_grad(set_to_none=True)
    models.scaler_g.scale(g_loss).backward()
    models.scaler_g.step(models.optimizer_g)
    models.scaler_g.update()
    return {"g": g_loss.detach(), **{k: v.detach() for k, v in g_terms.items()}}


def discriminator_step(models: TrainingModels, frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor,
                       real: torch.Tensor, fake: torch.Tensor, amp) -> torch.Tensor:
    """One discriminator update on real and (detached) fake windows, (B, T, 3, H, W) each; its loss."""
    models.discriminator.requires_grad_(True)
    with amp:  # one forward over real and fake windows together
        scores = models.step_discriminator(frame0.repeat(2, 1, 1, 1), frame1.repeat(2, 1, 1, 1), times.repeat(2, 1),
                                           torch.cat([real, fake]))
        real_scores, fake_scores = scores.chunk(2)
        d_loss = models.adversarial.discriminator(real_scores, fake_scores)
    models.optimizer_d.zero_grad(set_to_none=True)
    models.scaler_d.scale(d_loss).backward()
    models.scaler_d.step(models.optimizer_d)
    models.scaler_d.update()
    models.discriminator.requires_grad_(False)
    return d_loss.detach()
