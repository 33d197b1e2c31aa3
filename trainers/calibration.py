"""Held-out evaluation of preference scores: accuracy, calibration and length bias.

Input is ``diff = score(chosen) - score(rejected)`` per pair (reward-model rewards, or DPO's
implicit rewards ``beta * (pi - ref)``); ``p = sigma(diff)`` is the modelled probability that the
chosen answer wins.

* ``accuracy``: share of pairs with diff > 0 (ties count as wrong, like TRL's training-time ``accuracy``)
* ``ties``: pairs with diff == 0 exactly (an untrained reward head scores every pair as a tie)
* ``ece``: expected calibration error over ``bins`` equal-width bins of confidence
  ``max(p, 1-p)`` in [0.5, 1]: sum over bins of (bin share) * |accuracy - mean confidence|
* ``brier``: mean of (p - 1)^2, the chosen answer being the observed winner
* ``accuracy/chosen_longer``, ``accuracy/chosen_shorter``, ``accuracy/same_length`` and
  ``count/...``: the same accuracy split by whether the chosen completion has more tokens
"""

from __future__ import annotations

from typing import Dict

import torch

LENGTH_GROUPS = {1: "chosen_longer", -1: "chosen_shorter", 0: "same_length"}


def expected_calibration_error(diff: torch.Tensor, bins: int = 10) -> float:
    p = torch.sigmoid(diff.double())
    confidence = torch.maximum(p, 1 - p)
    correct = (diff > 0).double()
    edges = torch.linspace(0.5, 1.0, bins + 1, dtype=torch.float64)
    # bin i holds (edges[i], edges[i+1]]; confidence 0.5 exactly goes to the first bin
    index = (torch.bucketize(confidence, edges, right=False) - 1).clamp(0, bins - 1)
    ece = torch.zeros((), dtype=torch.float64)
    for b in range(bins):
        in_bin = index == b
        count = int(in_bin.sum())
        if count:
            ece += count / diff.numel() * (correct[in_bin].mean() - confidence[in_bin].mean()).abs()
    return float(ece)


def preference_eval_metrics(diff: torch.Tensor, chosen_longer: torch.Tensor, *, bins: int = 10) -> Dict[str, float]:
    """All held-out metrics for a vector of score differences; chosen_longer in {1, -1, 0}."""
    diff = diff.detach().double().cpu()
    chosen_longer = chosen_longer.cpu()
    n = diff.numel()
    if n == 0:
        return {"pairs": 0}
    correct = (diff > 0).double()
    p = torch.sigmoid(diff)
    metrics: Dict[str, float] = {
        "pairs": n,
        "accuracy": float(correct.mean()),
        "ece": expected_calibration_error(diff, bins),
        "brier": float(((p - 1) ** 2).mean()),
        "mean_margin": float(diff.mean()),
        "ties": int((diff == 0).sum()),
    }
    for value, name in LENGTH_GROUPS.items():
        group = chosen_longer == value
        count = int(group.sum())
        metrics[f"count/{name}"] = count
        metrics[f"accuracy/{name}"] = float(correct[group].mean()) if count else None  # type: ignore[assignment]
    return metrics
