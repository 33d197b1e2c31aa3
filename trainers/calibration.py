"""Held-out evaluation of preference scores: accuracy, calibration and length bias.

Input is ``diff = score(chosen) - score(rejected)`` per pair (reward-model rewards, or DPO's
implicit rewards ``beta * (pi - ref)``); ``p = sigma(diff)`` is the modelled probability that the
chosen answer wins.

* ``ties``: pairs whose two scores are equal within ``TIE_RTOL`` relative to their size (``tie_mask``): float
  rounding makes identical answers differ by 1e-6 at some batch shapes. The evaluation also scores identical answers
  once (the same number on both sides), so they are always ties. An untrained reward head scores every pair as a tie.
* ``accuracy``: share of pairs with diff > 0 that are not ties (ties count as wrong, like TRL's ``accuracy``)
* ``ece``: expected calibration error over ``bins`` equal-width bins of confidence
  ``max(p, 1-p)`` in [0.5, 1]: sum over bins of (bin share) * |accuracy - mean confidence|; a tie is p = 0.5, right
  half the time (so a model that scores everything as a tie has ECE 0, as its Brier score 0.25 says)
* ``brier``: mean of (p - 1)^2, the chosen answer being the observed winner; p = 0.5 for a tie
* ``accuracy/chosen_longer``, ``accuracy/chosen_shorter``, ``accuracy/same_length`` and
  ``count/...``: the same accuracy split by whether the chosen completion has more tokens
"""

from __future__ import annotations

from typing import Dict, Optional

import torch

LENGTH_GROUPS = {1: "chosen_longer", -1: "chosen_shorter", 0: "same_length"}

# two scores closer than this, relative to max(1, |score|), are a tie
TIE_RTOL = 1e-5


def tie_mask(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """True where two scores are equal up to float rounding: ``|c - r| <= TIE_RTOL * max(1, |c|, |r|)``."""
    c, r = chosen.detach().double().cpu(), rejected.detach().double().cpu()
    scale = torch.maximum(torch.ones_like(c), torch.maximum(c.abs(), r.abs()))
    return (c - r).abs() <= TIE_RTOL * scale


def _outcomes(diff: torch.Tensor, ties: torch.Tensor):
    """(p, confidence, correct) per pair; a tie is p = 0.5 and half right."""
    p = torch.where(ties, torch.full_like(diff, 0.5), torch.sigmoid(diff))
    confidence = torch.maximum(p, 1 - p)
    correct = torch.where(ties, torch.full_like(diff, 0.5), (diff > 0).double())
    return p, confidence, correct


def expected_calibration_error(diff: torch.Tensor, bins: int = 10, ties: Optional[torch.Tensor] = None) -> float:
    diff = diff.double()
    ties = (diff == 0) if ties is None else ties
    _, confidence, correct = _outcomes(diff, ties)
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


def preference_eval_metrics(diff: torch.Tensor, chosen_longer: torch.Tensor, *, bins: int = 10,
                            ties: Optional[torch.Tensor] = None) -> Dict[str, float]:
    """All held-out metrics for a vector of score differences; chosen_longer in {1, -1, 0}; ``ties`` from
    ``tie_mask`` (default: diff == 0 exactly)."""
    diff = diff.detach().double().cpu()
    chosen_longer = chosen_longer.cpu()
    n = diff.numel()
    if n == 0:
        return {"pairs": 0}
    ties = (diff == 0) if ties is None else ties.cpu()
    correct = ((diff > 0) & ~ties).double()
    p, _, _ = _outcomes(diff, ties)
    metrics: Dict[str, float] = {
        "pairs": n,
        "accuracy": float(correct.mean()),
        "ece": expected_calibration_error(diff, bins, ties),
        "brier": float(((p - 1) ** 2).mean()),
        "mean_margin": float(diff.mean()),
        "ties": int(ties.sum()),
    }
    for value, name in LENGTH_GROUPS.items():
        group = chosen_longer == value
        count = int(group.sum())
        metrics[f"count/{name}"] = count
        metrics[f"accuracy/{name}"] = float(correct[group].mean()) if count else None  # type: ignore[assignment]
    return metrics
