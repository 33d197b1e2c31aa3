"""Losses, metrics, calibration and schedules against values computed by hand."""

import math
import unittest

import torch

from trainers.calibration import expected_calibration_error, preference_eval_metrics, tie_mask
from trainers.losses import average_for, dpo_loss, dpo_metrics, reward_loss, reward_metrics, reward_pair_losses
from trainers.schedule import WarmupSchedule


def softplus(x: float) -> float:
    """-log(sigmoid(-x)) = log(1 + e^x)."""
    return math.log1p(math.exp(x))


class RewardLossTest(unittest.TestCase):
    rc = torch.tensor([2.0, 0.5], dtype=torch.float64)
    rr = torch.tensor([1.0, 1.0], dtype=torch.float64)

    def test_bradley_terry(self):
        # -log sigma(1) and -log sigma(-0.5)
        expected = (softplus(-1.0) + softplus(0.5)) / 2
        self.assertAlmostEqual(reward_loss(self.rc, self.rr).item(), expected, places=12)
        self.assertAlmostEqual(expected, (0.31326168751822286 + 0.9740769841801067) / 2, places=12)

    def test_margin_and_center(self):
        margin = torch.tensor([0.5, 0.0], dtype=torch.float64)
        # diffs minus margin: [0.5, -0.5]; centre term 0.1 * mean([9, 2.25]) = 0.5625
        expected = (softplus(-0.5) + softplus(0.5)) / 2 + 0.5625
        got = reward_loss(self.rc, self.rr, margin=margin, center_rewards_coefficient=0.1).item()
        self.assertAlmostEqual(got, expected, places=12)
        self.assertAlmostEqual(got, 1.28657698418, places=9)

    def test_metrics(self):
        m = {k: v.item() for k, v in reward_metrics(self.rc, self.rr).items()}
        self.assertEqual(m, {"accuracy": 0.5, "margin": 0.25, "mean_reward": 1.125, "min_reward": 0.5, "max_reward": 2.0})


class DPOLossTest(unittest.TestCase):
    pc = torch.tensor([-10.0, -12.0], dtype=torch.float64)
    pr = torch.tensor([-11.0, -11.0], dtype=torch.float64)
    rc = torch.tensor([-10.5, -12.0], dtype=torch.float64)
    rr = torch.tensor([-10.5, -11.5], dtype=torch.float64)
    beta = 0.5
    # logits = (pc - pr) - (rc - rr) = [1, -0.5]; beta * logits = [0.5, -0.25]

    def losses(self, loss_type, eps=0.0):
        return dpo_loss(self.pc, self.pr, self.rc, self.rr, beta=self.beta, loss_type=loss_type, label_smoothing=eps)[0].tolist()

    def test_sigmoid(self):
        self.assertEqual(len(self.losses("sigmoid")), 2)
        for got, want in zip(self.losses("sigmoid"), [softplus(-0.5), softplus(0.25)]):
            self.assertAlmostEqual(got, want, places=12)

    def test_sigmoid_label_smoothing(self):
        want = [0.9 * softplus(-0.5) + 0.1 * softplus(0.5), 0.9 * softplus(0.25) + 0.1 * softplus(-0.25)]
        for got, w in zip(self.losses("sigmoid", 0.1), want):
            self.assertAlmostEqual(got, w, places=12)

    def test_robust(self):
        want = [(0.9 * softplus(-0.5) - 0.1 * softplus(0.5)) / 0.8, (0.9 * softplus(0.25) - 0.1 * softplus(-0.25)) / 0.8]
        for got, w in zip(self.losses("robust", 0.1), want):
            self.assertAlmostEqual(got, w, places=12)

    def test_hinge(self):
        self.assertEqual(self.losses("hinge"), [0.5, 1.25])

    def test_ipo(self):
        # (logits - 1/(2*beta))^2 = ([1, -0.5] - 1)^2
        self.assertEqual(self.losses("ipo"), [0.0, 2.25])

    def test_ipo_averages_log_probs_by_length(self):
        logps, counts = torch.tensor([-6.0, -6.0]), torch.tensor([3, 2])
        self.assertEqual(average_for("ipo", logps, counts).tolist(), [-2.0, -3.0])
        self.assertEqual(average_for("sigmoid", logps, counts).tolist(), [-6.0, -6.0])

    def test_rewards_and_metrics(self):
        _, chosen, rejected = dpo_loss(self.pc, self.pr, self.rc, self.rr, beta=self.beta)
        self.assertEqual(chosen.tolist(), [0.25, 0.0])
        self.assertEqual(rejected.tolist(), [-0.25, 0.25])
        m = {k: v.item() for k, v in dpo_metrics(chosen, rejected, self.pc, self.pr).items()}
        self.assertEqual(m, {"rewards/chosen": 0.125, "rewards/rejected": 0.0, "rewards/accuracies": 0.5,
                             "rewards/margins": 0.125, "logps/chosen": -11.0, "logps/rejected": -11.0})

    def test_reference_equal_to_policy_gives_ln2(self):
        losses, chosen, rejected = dpo_loss(self.pc, self.pr, self.pc, self.pr, beta=0.1)
        self.assertAlmostEqual(losses.mean().item(), math.log(2), places=12)
        self.assertEqual(chosen.abs().sum().item() + rejected.abs().sum().item(), 0.0)

    def test_gradient_flows_to_policy_only(self):
        pc = self.pc.clone().requires_grad_(True)
        losses, chosen, _ = dpo_loss(pc, self.pr, self.rc, self.rr, beta=self.beta)
        losses.sum().backward()
        # d/dpc of -logsigmoid(beta*x) = -beta * sigmoid(-beta*x)
        want = [-0.5 / (1 + math.exp(0.5)), -0.5 / (1 + math.exp(-0.25))]
        for got, w in zip(pc.grad.tolist(), want):
            self.assertAlmostEqual(got, w, places=12)
        self.assertFalse(chosen.requires_grad)


class RewardSmoothingTest(unittest.TestCase):
    def test_per_pair_label_smoothing_formula(self):
        chosen = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
        rejected = torch.tensor([0.0, 0.5, -1.0], dtype=torch.float64)
        eps = torch.tensor([0.0, 0.25, 0.5], dtype=torch.float64)
        margin = torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64)
        got = reward_pair_losses(chosen, rejected, margin=margin, label_smoothing=eps).tolist()
        sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
        want = [-math.log(sig(0.5)), -0.75 * math.log(sig(-0.5)) - 0.25 * math.log(sig(0.5)), math.log(2)]
        for g, w in zip(got, want):
            self.assertAlmostEqual(g, w, places=12)
        self.assertAlmostEqual(float(reward_loss(chosen, rejected, margin=margin, label_smoothing=eps)), sum(want) / 3,
                               places=12)


class CalibrationTest(unittest.TestCase):
    # p = sigma(diff) = [0.75, 0.25, 0.85, 0.5]; confidence [0.75, 0.75, 0.85, 0.5]; correct [1, 0, 1, 0]
    diff = torch.tensor([math.log(3), -math.log(3), math.log(0.85 / 0.15), 0.0], dtype=torch.float64)
    chosen_longer = torch.tensor([1, 1, -1, 0])

    def test_ece(self):
        # 5 bins over [0.5, 1]: {0.5 tie: half right} -> 0; {0.75 right, 0.75 wrong} -> 2/4*0.25; {0.85 right} -> 1/4*0.15
        self.assertAlmostEqual(expected_calibration_error(self.diff, bins=5), 0.125 + 0.0375, places=9)

    def test_ties_are_p_one_half_and_equal_within_a_tolerance(self):
        # an untrained head: every pair a tie up to rounding. Brier 0.25 and ECE 0 agree: p = 0.5 is calibrated
        chosen = torch.tensor([1.0, 2.0, -3.0, 100.0], dtype=torch.float64)
        rejected = chosen + torch.tensor([2e-6, -1e-6, 0.0, 5e-4], dtype=torch.float64)
        ties = tie_mask(chosen, rejected)
        self.assertEqual(ties.tolist(), [True, True, True, True])
        m = preference_eval_metrics(chosen - rejected, torch.tensor([0, 0, 0, 0]), bins=10, ties=ties)
        self.assertEqual((m["ties"], m["accuracy"], m["ece"], m["brier"]), (4, 0.0, 0.0, 0.25))
        self.assertFalse(bool(tie_mask(torch.tensor([1.0]), torch.tensor([1.001]))[0]))

    def test_all_metrics(self):
        m = preference_eval_metrics(self.diff, self.chosen_longer, bins=5)
        self.assertEqual(m["pairs"], 4)
        self.assertAlmostEqual(m["accuracy"], 0.5)
        self.assertEqual(m["ties"], 1)
        self.assertAlmostEqual(m["brier"], (0.0625 + 0.5625 + 0.0225 + 0.25) / 4, places=9)
        self.assertEqual((m["count/chosen_longer"], m["count/chosen_shorter"], m["count/same_length"]), (2, 1, 1))
        self.assertEqual((m["accuracy/chosen_longer"], m["accuracy/chosen_shorter"], m["accuracy/same_length"]), (0.5, 1.0, 0.0))

    def test_perfectly_calibrated_is_zero(self):
        # 3 of 4 right at confidence 0.75
        diff = torch.tensor([math.log(3)] * 3 + [-math.log(3)], dtype=torch.float64)
        self.assertAlmostEqual(expected_calibration_error(diff, bins=10), 0.0, places=9)


class ScheduleTest(unittest.TestCase):
    def test_cosine_with_warmup(self):
        s = WarmupSchedule("cosine", warmup_steps=2, total_steps=10)
        self.assertEqual([s(0), s(1), s(2)], [0.0, 0.5, 1.0])
        self.assertAlmostEqual(s(6), 0.5)
        self.assertAlmostEqual(s(10), 0.0)

    def test_linear_and_constant(self):
        self.assertAlmostEqual(WarmupSchedule("linear", 2, 10)(6), 0.5)
        self.assertEqual(WarmupSchedule("constant", 0, 10)(9), 1.0)


if __name__ == "__main__":
    unittest.main()
