"""Preference losses and their metrics, with TRL's formulas and metric names.

Reward model (TRL ``RewardTrainer``): ``-log sigma(r+ - r- - margin)`` averaged, plus
``center_rewards_coefficient * mean((r+ + r-)^2)``; metrics ``accuracy``, ``margin``,
``mean_reward``, ``min_reward``, ``max_reward``.

DPO (TRL ``DPOTrainer.dpo_loss``) with ``logits = (pi+ - pi-) - (ref+ - ref-)``:

* sigmoid: ``-logsigmoid(b*logits)*(1-eps) - logsigmoid(-b*logits)*eps``
* robust:  ``(-logsigmoid(b*logits)*(1-eps) + logsigmoid(-b*logits)*eps) / (1-2*eps)``
* hinge:   ``relu(1 - b*logits)``
* ipo:     ``(logits - 1/(2*b))^2`` on length-averaged log-probs (TRL averages for ipo)

Rewards are ``b*(pi - ref)``; metrics ``rewards/chosen``, ``rewards/rejected``,
``rewards/accuracies``, ``rewards/margins``, ``logps/chosen``, ``logps/rejected``.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F


def reward_pair_losses(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor, *,
                       margin: Optional[torch.Tensor] = None,
                       label_smoothing: Union[float, torch.Tensor] = 0.0) -> torch.Tensor:
    """Per-pair Bradley-Terry losses ``-(1-eps) log s(d) - eps log s(-d)`` with ``d = r+ - r- - margin``; eps = 0 is
    TRL's loss, a per-pair eps the panel's own uncertainty."""
    diff = rewards_chosen - rewards_rejected
    if margin is not None:
        diff = diff - margin
    if isinstance(label_smoothing, float) and label_smoothing == 0.0:
        return -F.logsigmoid(diff)
    return -F.logsigmoid(diff) * (1 - label_smoothing) - F.logsigmoid(-diff) * label_smoothing


def reward_loss(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor, *,
                margin: Optional[torch.Tensor] = None,
                center_rewards_coefficient: Optional[float] = None,
                label_smoothing: Union[float, torch.Tensor] = 0.0) -> torch.Tensor:
    """Bradley-Terry loss of a reward model, as TRL computes it (plus optional label smoothing)."""
    loss = reward_pair_losses(rewards_chosen, rewards_rejected, margin=margin, label_smoothing=label_smoothing).mean()
    if center_rewards_coefficient is not None:
        loss = loss + center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
    return loss


def reward_metrics(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor) -> Dict[str, torch.Tensor]:
    """TRL's reward-model metrics as 0-d tensors (no device sync until they are logged)."""
    rc, rr = rewards_chosen.detach().float(), rewards_rejected.detach().float()
    every = torch.cat([rc, rr])
    return {
        "accuracy": (rc > rr).float().mean(),
        "margin": (rc - rr).mean(),
        "mean_reward": every.mean(),
        "min_reward": every.min(),
        "max_reward": every.max(),
    }


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *,
             beta: float, loss_type: str = "sigmoid",
             label_smoothing: Union[float, torch.Tensor] = 0.0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair DPO losses and the implicit rewards (chosen, rejected), detached.

    Inputs are per-sequence log-probs (summed, or length-averaged for ipo: see ``average_for``).
    """
    logits = (policy_chosen_logps - policy_rejected_logps) - (ref_chosen_logps - ref_rejected_logps)
    if loss_type == "sigmoid":
        losses = (-F.logsigmoid(beta * logits) * (1 - label_smoothing)
                  - F.logsigmoid(-beta * logits) * label_smoothing)
    elif loss_type == "robust":
        losses = (-F.logsigmoid(beta * logits) * (1 - label_smoothing)
                  + F.logsigmoid(-beta * logits) * label_smoothing) / (1 - 2 * label_smoothing)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss_type {loss_type!r}")
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps).detach()
    return losses, chosen_rewards, rejected_rewards


def average_for(loss_type: str, logps: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """TRL feeds ipo length-averaged log-probs and every other loss summed ones."""
    if loss_type == "ipo":
        return logps / counts.clamp(min=1).to(logps.dtype)
    return logps


def dpo_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor,
                policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor) -> Dict[str, torch.Tensor]:
    """TRL's DPO metrics as 0-d tensors (no device sync until they are logged)."""
    return {
        "rewards/chosen": chosen_rewards.float().mean(),
        "rewards/rejected": rejected_rewards.float().mean(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).float().mean(),
        "logps/chosen": policy_chosen_logps.detach().float().mean(),
        "logps/rejected": policy_rejected_logps.detach().float().mean(),
    }
