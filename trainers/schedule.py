"""Learning-rate schedules with linear warmup, as transformers defines them."""

from __future__ import annotations

import math

import torch


class WarmupSchedule:
    """lr multiplier at optimizer step ``step`` (0-based): warmup ramps 0 -> 1, then
    cosine (half cycle to 0), linear (to 0) or constant. A plain object so LambdaLR can save it."""

    def __init__(self, kind: str, warmup_steps: int, total_steps: int):
        self.kind = kind
        self.warmup_steps = warmup_steps
        self.total_steps = max(1, total_steps)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / max(1, self.warmup_steps)
        if self.kind == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        if self.kind == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def warmup_steps_for(training_config, total_steps: int) -> int:
    if training_config.warmup_steps:
        return training_config.warmup_steps
    return int(math.ceil(training_config.warmup_ratio * total_steps))


def build_scheduler(optimizer: torch.optim.Optimizer, kind: str, warmup_steps: int, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupSchedule(kind, warmup_steps, total_steps))


def describe(schedule: WarmupSchedule) -> dict:
    return {"kind": schedule.kind, "warmup_steps": schedule.warmup_steps, "total_steps": schedule.total_steps}


def rebuild_after_resume(scheduler, kind: str, warmup_steps: int, total_steps: int) -> dict:
    """Point a restored LambdaLR at the schedule of *this* run's config and recompute the current learning rates.

    ``LambdaLR.load_state_dict`` restores the step count and also the saved ``WarmupSchedule`` (its ``__dict__``), so a
    run resumed with another ``max_steps`` (or warmup, or schedule type) would otherwise keep the old total and run its
    cosine past the end (the learning rate rising again). Returns the schedule the checkpoint had, so that the caller can
    say what changed."""
    saved = describe(scheduler.lr_lambdas[0])
    fresh = WarmupSchedule(kind, warmup_steps, total_steps)
    scheduler.lr_lambdas = [WarmupSchedule(kind, warmup_steps, total_steps) for _ in scheduler.lr_lambdas]
    step = scheduler.last_epoch
    lrs = [base * fresh(step) for base in scheduler.base_lrs]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs
    return saved
