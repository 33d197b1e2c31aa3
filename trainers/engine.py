"""The training and evaluation loops behind ``python3 -m trainers rm|dpo|eval``.

One optimizer step = ``gradient_accumulation_steps`` micro-batches. The data order is a pure
function of (seed, epoch), so the trainer state (epoch, batch position) plus model, optimizer,
scheduler and RNG states make a resumed run take exactly the steps the uninterrupted run would.
SIGTERM/SIGINT finish the current step, write a checkpoint and end with a ``done`` event whose
status is ``stopped`` (exit code 0).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from . import checkpoint as ckpt
from .batching import BatchSchedule, Example, collate_pairs, count_tokens, tokenize_pairs
from .calibration import preference_eval_metrics, tie_mask
from .compat import HAS_COMPILE
from .config import Config, ModelConfig, config_to_dict
from .data import PreferencePair, read_pairs, split_holdout, split_summary
from .distributed import (DistributedState, all_reduce_sum, any_rank, init_distributed, shutdown, unwrap,
                          wrap_model)
from .errors import ConfigError, DataError, TrainerError, is_out_of_memory
from .losses import average_for, dpo_loss, dpo_metrics, reward_loss, reward_metrics, reward_pair_losses
from .lora import merge_builtin_lora
from .models import (PreferenceModel, apply_lora, build_core, count_parameters, enable_gradient_checkpointing,
                     frozen_copy)
from .protocol import EventStream
from .schedule import build_scheduler, describe, rebuild_after_resume, warmup_steps_for
from .tokenizer import build_tokenizer

log = logging.getLogger("trainers")


# ------------------------------------------------------------------------------------------------
# stopping on signals


PARENT_PID_ENV = "TRAINERS_PARENT_PID"


class Stopper:
    """Turns SIGTERM/SIGINT into a flag the loop checks between steps; with ``TRAINERS_PARENT_PID`` set (the
    TypeScript side sets it to its own pid), the parent's death counts as a stop too. The worker runs in a process
    group of its own, so a ``kill -9`` of ``tribunal train`` would otherwise leave it training, unwatched, to the end;
    this way it checkpoints and exits like on Ctrl-C (also under torchrun, whose ranks all watch the same pid)."""

    def __init__(self) -> None:
        self._requested = False
        self.signal_name: Optional[str] = None
        self._previous: Dict[int, Any] = {}
        try:
            self._parent: Optional[int] = int(os.environ.get(PARENT_PID_ENV, "")) or None
        except ValueError:
            self._parent = None

    @property
    def requested(self) -> bool:
        if not self._requested and self._parent is not None and not _alive(self._parent):
            self._requested = True
            self.signal_name = "parent exited"
            log.warning("the process that started this worker (pid %d) is gone: finishing the current step, "
                        "then checkpointing", self._parent)
        return self._requested

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        self._requested = True
        self.signal_name = signal.Signals(signum).name
        log.warning("received %s: finishing the current step, then checkpointing", self.signal_name)

    def install(self) -> "Stopper":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (in-process callers)
                pass
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


# ------------------------------------------------------------------------------------------------
# setup shared by training and evaluation


@dataclass
class Dataset:
    examples: List[Example]
    stats: Dict[str, int]
    has_margin: bool
    # the rows themselves, by example index: kept for the held-out split only (per-pair predictions)
    pairs: Optional[List[PreferencePair]] = None
    # how the held-out split was made (data.split_summary), for the start events
    split: Optional[Dict[str, Any]] = None


@dataclass
class Setup:
    config: Config
    task: str
    dist: DistributedState
    tokenizer: Any
    train: Optional[Dataset]
    eval: Optional[Dataset]
    model: PreferenceModel
    lora_kind: Optional[str]
    bf16: bool


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _load_datasets(config: Config, tokenizer, *, need_train: bool) -> Tuple[Optional[Dataset], Optional[Dataset]]:
    d = config.data

    def build(pairs, split: str, keep_pairs: bool = False) -> Dataset:
        default_smoothing = config.dpo.label_smoothing if config.task == "dpo" else config.rm.label_smoothing
        examples, stats = tokenize_pairs(pairs, tokenizer, max_length=d.max_length, max_prompt_length=d.max_prompt_length,
                                         truncation=d.truncation, smoothing_column=d.pair_label_smoothing,
                                         default_smoothing=default_smoothing)
        if d.pair_label_smoothing != "off" and stats["smoothing_missing"]:
            log.warning("%d of %d %s pairs have no '%s' column: they use label smoothing %g",
                        stats["smoothing_missing"], stats["pairs"], split, d.pair_label_smoothing, default_smoothing)
        if not examples:
            raise DataError(pairs[0].file, None,
                            f"none of its {len(pairs)} {split} pairs fits data.max_length {d.max_length} under "
                            f"truncation '{d.truncation}'", reason="length")
        kept = [pairs[e.source] for e in examples]
        _warn_about_data(split, stats, d.truncation)
        return Dataset(examples, stats, has_margin=any(p.margin is not None for p in kept),
                       pairs=kept if keep_pairs else None)

    train_pairs = read_pairs(d.train, max_rows=d.max_rows) if (need_train or not d.eval) else None
    eval_pairs = read_pairs(d.eval, max_rows=d.max_rows) if d.eval else None
    source = "file" if d.eval else "none"
    if eval_pairs is None and train_pairs is not None and d.eval_fraction > 0:
        train_pairs, eval_pairs = split_holdout(train_pairs, d.eval_fraction, config.seed)
        source = "fraction"
    split = split_summary(train_pairs or [], eval_pairs or [], source=source)
    train = build(train_pairs, "training") if (need_train and train_pairs) else None
    held = build(eval_pairs, "held-out", keep_pairs=True) if eval_pairs else None
    for dataset in (train, held):
        if dataset is not None:
            dataset.split = split
    return train, held


def _warn_about_data(split: str, stats: Dict[str, int], policy: str) -> None:
    total = stats["pairs"] + stats["dropped"]
    if stats["dropped"]:
        log.warning("%d of %d %s pairs do not fit data.max_length and were dropped (truncation '%s')",
                    stats["dropped"], total, split, policy)
    if stats["answer_cut"]:
        log.warning("%d of %d %s pairs had an answer cut to fit data.max_length (truncation '%s')",
                    stats["answer_cut"], total, split, policy)
    if stats["empty_answers"]:
        log.warning("%d of %d %s pairs have an empty answer", stats["empty_answers"], total, split)
    if stats["identical_answers"]:
        log.warning("%d of %d %s pairs have identical chosen and rejected answers (nothing to learn; a tie in "
                    "evaluation)", stats["identical_answers"], total, split)
    if stats["cut_off_answers"]:
        log.info("%d of %d %s pairs have a cut-off answer (chosen_ended/rejected_ended false): it gets no EOS",
                 stats["cut_off_answers"], total, split)


def data_report(data: Optional[Dataset], policy: str) -> Optional[Dict[str, Any]]:
    """What the start events say about a split's tokenisation: the truncation policy and its counts, and the
    empty and identical answers, and the pairs with a cut-off answer (no EOS)."""
    if data is None:
        return None
    s = data.stats
    return {"policy": policy, "pairs": s["pairs"], "dropped": s["dropped"], "prompt_cut": s["prompt_cut"],
            "answer_cut": s["answer_cut"], "empty_answers": s["empty_answers"],
            "identical_answers": s["identical_answers"], "cut_off_answers": s["cut_off_answers"]}


def _bf16_enabled(setting, device: torch.device) -> bool:
    if device.type != "cuda":
        if setting is True:
            log.warning("efficiency.bf16 is true but the device is %s: running in float32", device)
        return False
    if setting == "auto":
        return torch.cuda.is_bf16_supported()
    return bool(setting)


def _autocast(setup: Setup):
    if setup.bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _build_policy(config: Config, task: str, tokenizer, device: torch.device) -> Tuple[PreferenceModel, Optional[str]]:
    head = "lm" if task == "dpo" else "score"
    if config.model.kind == "tiny" and config.data.max_length > config.model.tiny.max_seq_len:
        raise ConfigError("data.max_length", f"exceeds model.tiny.max_seq_len ({config.model.tiny.max_seq_len})")
    torch.manual_seed(config.seed)
    core, family = build_core(config.model, head=head, tokenizer=tokenizer)
    core = core.to(device)
    lora_kind = None
    if config.lora is not None:
        core, lora_kind = apply_lora(core, config.lora, head=head, family=family)
    eff = config.efficiency
    model = PreferenceModel(core, head=head, family=family, chunked=eff.chunked_log_probs,
                            chunk_size=eff.log_probs_chunk_size)
    if eff.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    return model, lora_kind


def prepare(config: Config, task: str, *, need_train: bool) -> Setup:
    check_start_checkpoints(config, task)
    dist = init_distributed(config)
    _seed_everything(config.seed)
    tokenizer = build_tokenizer(config.tokenizer, config.model, distinct_pad=(task == "rm"))
    train, held = _load_datasets(config, tokenizer, need_train=need_train)
    log.info("data: %d train pairs (%d truncated), %d eval pairs; tokenizer %s",
             len(train.examples) if train else 0, train.stats["truncated"] if train else 0,
             len(held.examples) if held else 0, tokenizer.kind)
    model, lora_kind = _build_policy(config, task, tokenizer, dist.device)
    total, trainable = count_parameters(model)
    log.info("model: %s %s head, %d parameters (%d trainable), lora %s, device %s, rank %d/%d",
             model.family, model.head, total, trainable, lora_kind, dist.device, dist.rank, dist.world_size)
    return Setup(config=config, task=task, dist=dist, tokenizer=tokenizer, train=train, eval=held, model=model,
                 lora_kind=lora_kind, bf16=_bf16_enabled(config.efficiency.bf16, dist.device))


# ------------------------------------------------------------------------------------------------
# starting from a checkpoint: iterative DPO trains policy_i+1 from policy_i (init_checkpoint), the reference fixed to
# policy_0 (the fresh model) or taken from a checkpoint (ref_checkpoint)

# LoRA settings that do not change what saved adapters mean
_LORA_TRAINING_ONLY = ("dropout", "merge_on_export")
# model settings that do not change which weights fit (a checkpoint's tensors are cast on loading)
_MODEL_LOADING_ONLY = ("dtype", "trust_remote_code")


def _saved_config(folder: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as handle:
        return json.load(handle)


def _weights_from_seed(model: ModelConfig) -> bool:
    """Whether the initial weights come from the seed (the tiny decoder, an hf model built from hf_config) rather than
    from a folder."""
    return model.kind == "tiny" or model.hf_config is not None


def check_start_checkpoints(config: Config, task: str) -> None:
    """``init_checkpoint`` and ``ref_checkpoint`` must come from a run of this task (the reference: dpo) with the same
    model and LoRA, and, where weights the checkpoint does not hold come from the seed (LoRA adapters sit on a base
    built from it; DPO's default reference is the model built fresh from it), the same seed."""
    current = config_to_dict(config)
    for where in ("init_checkpoint", "ref_checkpoint"):
        folder = getattr(config, where)
        if folder is None:
            continue
        previous_task = ckpt.read_trainer_state(folder).get("task")
        if previous_task != task:
            raise ConfigError(where, f"{folder} is a checkpoint of a '{previous_task}' run, not '{task}': give a "
                                     f"checkpoint of a '{task}' run")
        saved = _saved_config(folder)
        if saved is None:
            log.warning("%s %s has no config.json: cannot check it was trained with this model", where, folder)
            continue
        model = {k: v for k, v in (saved.get("model") or {}).items() if k not in _MODEL_LOADING_ONLY}
        if model != {k: v for k, v in current["model"].items() if k not in _MODEL_LOADING_ONLY}:
            raise ConfigError(where, f"{folder} was trained with another model ({json.dumps(saved.get('model'))}): its "
                                     "weights only fit that model; use the same model settings, or another checkpoint")
        lora = {k: v for k, v in (saved.get("lora") or {}).items() if k not in _LORA_TRAINING_ONLY}
        if lora != {k: v for k, v in (current["lora"] or {}).items() if k not in _LORA_TRAINING_ONLY}:
            raise ConfigError(where, f"{folder} was trained with other LoRA settings ({json.dumps(saved.get('lora'))}, "
                                     f"this run: {json.dumps(current['lora'])}); use the same lora settings (rank, "
                                     "alpha, target modules, or none)")
        default_reference = (where == "init_checkpoint" and task == "dpo" and config.ref_checkpoint is None
                             and config.ref_model is None)
        if (_weights_from_seed(config.model) and saved.get("seed") != config.seed
                and (config.lora is not None or default_reference)):
            why = ("its LoRA adapters sit on the base model built from that seed" if config.lora is not None else
                   "the reference (the model built fresh from the seed: the first policy) would be another random "
                   "model; or set ref_checkpoint")
            raise ConfigError(where, f"{folder} comes from a run with seed {saved.get('seed')}, this run has seed "
                                     f"{config.seed}: {why}. Use seed {saved.get('seed')}")


def checkpoint_ref(folder: Optional[str]) -> Optional[Dict[str, Any]]:
    """``{"path", "step"}`` of a checkpoint folder (for the start event and the reference fingerprint), or None."""
    if folder is None:
        return None
    return {"path": folder, "step": ckpt.read_trainer_state(folder).get("step")}


def load_start_weights(model: torch.nn.Module, where: str, folder: str, dist: DistributedState) -> None:
    """Load ``init_checkpoint``'s or ``ref_checkpoint``'s parameters; a checkpoint that does not fit the model (other
    parameter names or shapes) is a config error naming the field."""
    try:
        ckpt.load_model_weights(model, folder, dist)
    except ConfigError:
        raise
    except (TrainerError, RuntimeError, KeyError) as error:
        if is_out_of_memory(error):
            raise
        message = error.message if isinstance(error, TrainerError) else str(error).strip().splitlines()[0]
        raise ConfigError(where, f"{folder} does not fit this run's model ({message}): give a checkpoint of a run with "
                                 "the same model and lora settings", cause=error)


# ------------------------------------------------------------------------------------------------
# forward passes


def _to_device(block: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in block.items()}


def pair_outputs(model: torch.nn.Module, batch: Dict[str, Any], device: torch.device) -> Tuple[Any, Any]:
    """Model outputs for chosen and rejected: one concatenated forward or two separate ones."""
    if "concatenated" in batch:
        out = model(**_to_device(batch["concatenated"], device))
        n = batch["index"].shape[0]
        if isinstance(out, tuple):
            return tuple(o[:n] for o in out), tuple(o[n:] for o in out)
        return out[:n], out[n:]
    return (model(**_to_device(batch["chosen"], device)), model(**_to_device(batch["rejected"], device)))


# per-pair scores of one batch: (chosen, rejected) rewards, or DPO's implicit rewards
Rewards = Tuple[torch.Tensor, torch.Tensor]

RefFn = Callable[[Dict[str, Any]], Tuple[torch.Tensor, torch.Tensor]]


class Reference:
    """Reference log-probs for DPO: precomputed tables (by split and example index) or a model run on the fly."""

    def __init__(self, tables: Optional[Dict[str, Dict[str, torch.Tensor]]] = None, compute: Optional[RefFn] = None):
        self.tables = tables
        self.compute = compute

    def logps(self, split: str, batch: Dict[str, Any], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.tables is not None:
            table, index = self.tables[split], batch["index"]
            return table["chosen"][index].to(device), table["rejected"][index].to(device)
        assert self.compute is not None
        return self.compute(batch)


def dpo_batch_loss(setup: Setup, model: torch.nn.Module, batch: Dict[str, Any], reference: Reference,
                   split: str) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, Rewards]:
    """Mean DPO loss, TRL metrics, per-pair losses and implicit rewards (chosen, rejected) for one batch."""
    d, device = setup.config.dpo, setup.dist.device
    chosen_out, rejected_out = pair_outputs(model, batch, device)
    (pc, nc), (pr, nr) = chosen_out[:2], rejected_out[:2]
    ref_c, ref_r = reference.logps(split, batch, device)
    pc, pr = average_for(d.loss_type, pc, nc), average_for(d.loss_type, pr, nr)
    ref_c, ref_r = average_for(d.loss_type, ref_c, nc), average_for(d.loss_type, ref_r, nr)
    smoothing = (batch["label_smoothing"].to(device, pc.dtype) if setup.config.data.pair_label_smoothing != "off"
                 else d.label_smoothing)
    losses, chosen_rewards, rejected_rewards = dpo_loss(pc, pr, ref_c.to(pc.dtype), ref_r.to(pr.dtype), beta=d.beta,
                                                        loss_type=d.loss_type, label_smoothing=smoothing)
    metrics = dpo_metrics(chosen_rewards, rejected_rewards, pc, pr)
    if len(chosen_out) > 2:  # TRL's mean logit over completion tokens (and the vocabulary)
        metrics["logits/chosen"] = chosen_out[2].sum().float() / nc.sum().clamp(min=1)
        metrics["logits/rejected"] = rejected_out[2].sum().float() / nr.sum().clamp(min=1)
    return losses.mean(), metrics, losses.detach(), (chosen_rewards, rejected_rewards)


def rm_batch_loss(setup: Setup, model: torch.nn.Module, batch: Dict[str, Any],
                  has_margin: bool) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, Rewards]:
    """Mean reward-model loss, TRL metrics, per-pair losses and rewards (chosen, rejected) for one batch."""
    device, rm = setup.dist.device, setup.config.rm
    rewards_chosen, rewards_rejected = pair_outputs(model, batch, device)
    margin = batch["margin"].to(device) * rm.margin_scale if (has_margin and rm.use_margin) else None
    smoothing = (batch["label_smoothing"].to(device, rewards_chosen.dtype)
                 if setup.config.data.pair_label_smoothing != "off" else rm.label_smoothing)
    loss = reward_loss(rewards_chosen, rewards_rejected, margin=margin,
                       center_rewards_coefficient=rm.center_rewards_coefficient, label_smoothing=smoothing)
    per_pair = reward_pair_losses(rewards_chosen.detach(), rewards_rejected.detach(), margin=margin,
                                  label_smoothing=smoothing)
    return loss, reward_metrics(rewards_chosen, rewards_rejected), per_pair, \
        (rewards_chosen.detach(), rewards_rejected.detach())


def _rank_batches(all_batches: List[List[int]], dist: DistributedState) -> List[Tuple[List[int], bool]]:
    """This rank's share of a batch list; every rank gets the same count (FSDP needs matching
    collectives), padded with repeats whose results are dropped."""
    per_rank = -(-len(all_batches) // dist.world_size) if all_batches else 0
    out = []
    for i in range(per_rank):
        j = i * dist.world_size + dist.rank
        out.append((all_batches[j], True) if j < len(all_batches) else (all_batches[-1], False))
    return out


def _length_sorted_batches(examples: Sequence[Example], batch_size: int) -> List[List[int]]:
    order = sorted(range(len(examples)), key=lambda i: (-examples[i].length, i))
    return [order[j: j + batch_size] for j in range(0, len(order), batch_size)]


# progress events per phase: about this many, so that a long precompute shows a moving bar without flooding the stream
PROGRESS_EVENTS = 50


def compute_reference_tables(setup: Setup, datasets: Dict[str, Dataset], ref_model: PreferenceModel,
                             stopper: Optional[Stopper] = None, events: Optional[EventStream] = None, *,
                             adapters_off: bool = True) -> Optional[Dict[str, Dict[str, torch.Tensor]]]:
    """Summed completion log-probs of the reference for every example, split across ranks; ``progress`` events
    (phase ``reference``, batches of this rank done out of its total) on the way. ``adapters_off``: the model's LoRA
    adapters are not part of the reference (the fresh policy); a ``ref_checkpoint`` model keeps them. Returns None when
    a stop was requested meanwhile."""
    tables = {}
    pad, concat = setup.tokenizer.pad_token_id, setup.config.efficiency.concatenated_forward
    was_training = ref_model.training
    ref_model.eval()
    plans = {split: _rank_batches(_length_sorted_batches(data.examples, setup.config.eval.batch_size), setup.dist)
             for split, data in datasets.items()}
    total = sum(len(plan) for plan in plans.values())
    every = max(1, -(-total // PROGRESS_EVENTS))
    done = 0

    def report(split: str) -> None:
        if events is not None:
            events.emit("progress", phase="reference", split=split, done=done, total=total, unit="batches",
                        pairs=sum(len(data.examples) for data in datasets.values()))

    adapters = ref_model.adapters_disabled() if adapters_off else contextlib.nullcontext()
    with torch.no_grad(), adapters:
        for split, data in datasets.items():
            chosen = torch.zeros(len(data.examples), dtype=torch.float64, device=setup.dist.device)
            rejected = torch.zeros_like(chosen)
            if done == 0:
                report(split)
            for indices, keep in plans[split]:
                if stopper is not None and any_rank(stopper.requested, setup.dist):
                    return None
                batch = collate_pairs([data.examples[i] for i in indices], pad, concatenated=concat)
                with _autocast(setup):
                    c_out, r_out = pair_outputs(ref_model, batch, setup.dist.device)
                    c, r = c_out[0], r_out[0]
                if keep:
                    chosen[batch["index"].to(chosen.device)] = c.double()
                    rejected[batch["index"].to(chosen.device)] = r.double()
                done += 1
                if done % every == 0 or done == total:
                    report(split)
            all_reduce_sum(chosen, setup.dist)
            all_reduce_sum(rejected, setup.dist)
            tables[split] = {"chosen": chosen.float().cpu(), "rejected": rejected.float().cpu()}
    ref_model.train(was_training)
    return tables


def _reference_fingerprint(config: Config, datasets: Dict[str, Dataset]) -> str:
    key = {"model": config_to_dict(config.model), "ref_model": config_to_dict(config.ref_model) if config.ref_model else None,
           "tokenizer": config_to_dict(config.tokenizer), "data": config_to_dict(config.data), "seed": config.seed,
           "lora": config_to_dict(config.lora) if config.lora else None,
           "sizes": {k: len(v.examples) for k, v in datasets.items()}}
    # only when set, so that the caches of runs without them stay valid
    for where in ("init_checkpoint", "ref_checkpoint"):
        if getattr(config, where) is not None:
            key[where] = checkpoint_ref(getattr(config, where))
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def build_reference(setup: Setup, datasets: Dict[str, Dataset], stopper: Optional[Stopper],
                    *, cache_dir: Optional[str], events: Optional[EventStream] = None) -> Optional[Reference]:
    """DPO's reference: precomputed tables (cached in ``cache_dir/ref_logps.pt``) or an on-the-fly model.

    Must run before any checkpoint (a resumed one, or ``init_checkpoint``) is loaded: the fresh policy *is* the
    reference (adapters off, or a frozen copy) unless ``ref_model`` names another model or ``ref_checkpoint`` a
    checkpoint of this one (its LoRA adapters included).
    """
    config = setup.config
    ref_model: Optional[PreferenceModel] = None
    if config.ref_model is not None:
        torch.manual_seed(config.seed)
        ref_core, family = build_core(config.ref_model, head="lm", tokenizer=setup.tokenizer, where="ref_model")
        ref_model = PreferenceModel(ref_core.to(setup.dist.device), head="lm", family=family,
                                    chunked=config.efficiency.chunked_log_probs,
                                    chunk_size=config.efficiency.log_probs_chunk_size)
        for p in ref_model.parameters():
            p.requires_grad_(False)
    if config.efficiency.precompute_ref_log_probs:
        fingerprint = _reference_fingerprint(config, datasets)
        cache = os.path.join(cache_dir, "ref_logps.pt") if cache_dir else None
        if cache and os.path.isfile(cache):
            stored = ckpt.torch_load(cache)
            if stored.get("fingerprint") == fingerprint:
                log.info("reference log-probs loaded from %s", cache)
                return Reference(tables=stored["tables"])
        if config.ref_checkpoint is not None:
            ref_model = checkpoint_reference(setup)
        tables = compute_reference_tables(setup, datasets, ref_model or setup.model, stopper, events,
                                          adapters_off=config.ref_checkpoint is None)
        if tables is None:
            return None
        if cache and setup.dist.is_main:
            torch.save({"fingerprint": fingerprint, "tables": tables}, cache + ".tmp")
            os.replace(cache + ".tmp", cache)
        return Reference(tables=tables)
    # on the fly: a separate reference model (ref_model, ref_checkpoint), the policy with adapters off, or a frozen copy
    if config.ref_checkpoint is not None:
        ref_model = checkpoint_reference(setup)
        log.warning("precompute_ref_log_probs is false and the reference comes from ref_checkpoint: keeping a second "
                    "model in memory")
    if ref_model is None and not setup.model.has_adapters():
        ref_model = frozen_copy(setup.model)
        log.warning("precompute_ref_log_probs is false and there are no adapters: keeping a second model in memory")
    use_adapters_off = ref_model is None
    model_for_ref = ref_model if ref_model is not None else setup.model

    def compute(batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        ctx = model_for_ref.adapters_disabled() if use_adapters_off else contextlib.nullcontext()
        with torch.no_grad(), ctx, _autocast(setup):
            c_out, r_out = pair_outputs(model_for_ref, batch, setup.dist.device)
            c, r = c_out[0], r_out[0]
        return c.detach().float(), r.detach().float()

    return Reference(compute=compute)


def checkpoint_reference(setup: Setup) -> PreferenceModel:
    """DPO's reference from ``ref_checkpoint``: the model built as the policy was (same seed, same LoRA), with the
    checkpoint's weights, frozen; its LoRA adapters are part of it."""
    assert setup.config.ref_checkpoint is not None
    model, _ = _build_policy(setup.config, "dpo", setup.tokenizer, setup.dist.device)
    load_start_weights(model, "ref_checkpoint", setup.config.ref_checkpoint, setup.dist)
    for p in model.parameters():
        p.requires_grad_(False)
    log.info("reference: %s", setup.config.ref_checkpoint)
    return model.eval()


# ------------------------------------------------------------------------------------------------
# evaluation


def evaluate(setup: Setup, model: torch.nn.Module, data: Dataset, reference: Optional[Reference],
             scores: Optional[Dict[str, torch.Tensor]] = None) -> Dict[str, Any]:
    """Held-out loss, accuracy, calibration (ECE, Brier) and accuracy by length for one split; with ``scores``,
    also fills it with every pair's ``chosen`` and ``rejected`` reward (CPU float64, by example index)."""
    inner = unwrap(model)
    was_training = inner.training
    inner.eval()
    n = len(data.examples)
    chosen_rewards = torch.zeros(n, dtype=torch.float64, device=setup.dist.device)
    rejected_rewards = torch.zeros_like(chosen_rewards)
    losses = torch.zeros_like(chosen_rewards)
    concat, pad = setup.config.efficiency.concatenated_forward, setup.tokenizer.pad_token_id
    with torch.no_grad():
        for indices, keep in _rank_batches(_length_sorted_batches(data.examples, setup.config.eval.batch_size), setup.dist):
            batch = collate_pairs([data.examples[i] for i in indices], pad, concatenated=concat)
            with _autocast(setup):
                if setup.task == "dpo":
                    assert reference is not None
                    _, _, per_pair, (chosen, rejected) = dpo_batch_loss(setup, inner, batch, reference, "eval")
                else:
                    _, _, per_pair, (chosen, rejected) = rm_batch_loss(setup, inner, batch, data.has_margin)
            if keep:
                index = batch["index"].to(losses.device)
                chosen_rewards[index] = chosen.double()
                rejected_rewards[index] = rejected.double()
                losses[index] = per_pair.double()
    for totals in (chosen_rewards, rejected_rewards, losses):
        all_reduce_sum(totals, setup.dist)
    inner.train(was_training)
    # identical answers are scored once: whatever rounding a batch shape brings, they tie exactly
    identical = [e.index for e in data.examples if e.chosen_ids == e.rejected_ids]
    if identical:
        rejected_rewards[torch.tensor(identical, device=rejected_rewards.device)] = \
            chosen_rewards[torch.tensor(identical, device=chosen_rewards.device)]
    chosen_rewards, rejected_rewards = chosen_rewards.cpu(), rejected_rewards.cpu()
    diffs = chosen_rewards - rejected_rewards
    ties = tie_mask(chosen_rewards, rejected_rewards)
    if scores is not None:
        scores["chosen"], scores["rejected"], scores["tie"] = chosen_rewards, rejected_rewards, ties
    chosen_longer = torch.tensor([(e.chosen_tokens > e.rejected_tokens) - (e.chosen_tokens < e.rejected_tokens)
                                  for e in data.examples])
    metrics = preference_eval_metrics(diffs, chosen_longer, bins=setup.config.eval.ece_bins, ties=ties)
    metrics["identical_answers"] = len(identical)
    metrics["loss"] = float(losses.mean()) if n else None
    return metrics


# ------------------------------------------------------------------------------------------------
# training


def _optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    t = config.training
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=t.learning_rate,
                             betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_epsilon)


def _resume_path(config: Config) -> Optional[str]:
    if config.resume == "never":
        if ckpt.list_checkpoints(config.run_dir):
            raise ConfigError("resume", f"is 'never' but {config.run_dir} already holds checkpoints; "
                                        "use a new run_dir or resume 'auto'")
        return None
    if config.resume == "auto":
        return ckpt.latest_checkpoint(config.run_dir)
    if not os.path.isfile(os.path.join(config.resume, "trainer_state.json")):
        raise ConfigError("resume", f"{config.resume} is not a complete checkpoint (no trainer_state.json)")
    return config.resume


EXPORT_FILE = "tribunal_export.json"


# data settings that decide which examples a run trains on, and in which order: a resumed run must keep them
_RESUME_DATA_FIELDS = ("train", "eval", "eval_fraction", "max_rows", "max_length", "max_prompt_length", "truncation",
                       "pair_label_smoothing")


def _refuse_changed_data(config: Config, checkpoint: str) -> None:
    """A checkpoint's data position (epoch, batch) only means something for the same examples: refuse a resume whose
    data settings differ from the checkpoint's (a field the checkpoint's worker did not know yet is warned about)."""
    path = os.path.join(checkpoint, "config.json")
    if not os.path.isfile(path):
        return
    with open(path, "r", encoding="utf-8") as handle:
        saved = json.load(handle).get("data", {})
    current = config_to_dict(config)["data"]
    for name in _RESUME_DATA_FIELDS:
        if name not in saved:
            log.warning("checkpoint %s predates data.%s; resuming with %r", checkpoint, name, current[name])
        elif saved[name] != current[name]:
            raise ConfigError(f"data.{name}", f"is {json.dumps(current[name])} but the checkpoint {checkpoint} was "
                                              f"trained with {json.dumps(saved[name])}: the same examples are needed "
                                              "to continue; use the original value or a new run_dir")


def _export_final(setup: Setup, run_dir: str) -> Optional[str]:
    """Hugging Face models also get a save_pretrained folder, ``RUN_DIR/final``: a reward model loads with
    ``AutoModelForSequenceClassification`` and scores what the worker scored (the token before the right padding:
    EOS; ``config.pad_token_id`` is the worker's pad and never EOS), a DPO policy with ``AutoModelForCausalLM``. With
    LoRA the folder holds peft adapters, or, with ``lora.merge_on_export``, the merged model. ``tribunal_export.json``
    says how to feed it: BOS + prompt + answer + EOS, right-padded with ``pad_token_id``."""
    if setup.model.family != "hf" or not setup.dist.is_main or setup.dist.strategy == "fsdp":
        return None
    path = os.path.join(run_dir, "final")
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    target = setup.model.core
    merged = False
    # the built-in LoRA's weights are not a format transformers loads: always fold them in; peft adapters on request
    if setup.lora_kind == "builtin" or (setup.lora_kind == "peft" and setup.config.lora is not None
                                        and setup.config.lora.merge_on_export):
        if setup.lora_kind == "peft":
            target = target.merge_and_unload()
            setup.model.core = target
        else:
            merge_builtin_lora(target)
        merged = True
    target.save_pretrained(tmp)
    setup.tokenizer.save(tmp)
    t, d = setup.tokenizer, setup.config.data
    info = {"task": setup.task, "format": "adapters" if (setup.lora_kind == "peft" and not merged) else "model",
            "auto_class": "AutoModelForSequenceClassification" if setup.task == "rm" else "AutoModelForCausalLM",
            "input": "BOS + prompt + answer + EOS, right-padded with pad_token_id",
            "score_token": "the last token before the padding (EOS)" if setup.task == "rm" else None,
            "bos_token_id": t.bos_token_id, "eos_token_id": t.eos_token_id, "pad_token_id": t.pad_token_id,
            "added_pad_token": bool(getattr(t, "added_pad", False)), "lora": setup.lora_kind, "lora_merged": merged,
            "max_length": d.max_length, "max_prompt_length": d.max_prompt_length, "truncation": d.truncation}
    with open(os.path.join(tmp, EXPORT_FILE), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=1)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def train(config: Config, events: EventStream, *, task: str) -> int:
    """Run ``rm`` or ``dpo`` training to completion or until stopped; returns the exit code (0)."""
    stopper = Stopper().install()
    setup: Optional[Setup] = None
    events.attach_run_dir(config.run_dir)  # no-op on ranks other than 0; data errors get recorded too
    try:
        setup = prepare(config, task, need_train=True)
        if not setup.dist.is_main:
            events = EventStream(enabled=False)
        return _train(setup, events, stopper)
    finally:
        stopper.restore()
        if setup is not None:
            shutdown(setup.dist)


def _train(setup: Setup, events: EventStream, stopper: Stopper) -> int:
    config, dist, task = setup.config, setup.dist, setup.task
    t = config.training
    assert setup.train is not None
    run_dir = config.run_dir
    config_dict = config_to_dict(config)
    train_data, eval_data = setup.train, setup.eval

    reference: Optional[Reference] = None
    if task == "dpo":
        splits = {"train": train_data, **({"eval": eval_data} if eval_data else {})}
        reference = build_reference(setup, splits, stopper, cache_dir=run_dir, events=events)
        if reference is None:
            events.emit("done", status="stopped", step=0, epoch=0.0, checkpoint=None,
                        reason=f"{stopper.signal_name} during reference log-probs")
            return 0

    model = setup.model
    model.track_logits = task == "dpo"  # TRL's logits/chosen and logits/rejected in the metric events
    compiled = False
    if config.efficiency.compile:
        if HAS_COMPILE:
            model.forward = torch.compile(model.forward)  # type: ignore[method-assign]
            compiled = True
        else:
            log.warning("efficiency.compile: torch %s has no torch.compile; running eagerly", torch.__version__)
    wrapped = wrap_model(model, dist)
    optimizer = _optimizer(model, config)

    schedule = BatchSchedule([e.length for e in train_data.examples], t.batch_size, seed=config.seed,
                             bucketing=config.efficiency.length_bucketing,
                             bucket_multiplier=config.efficiency.bucket_multiplier,
                             world_size=dist.world_size, rank=dist.rank)
    per_epoch = schedule.batches_per_epoch
    total_steps = t.max_steps or max(1, int(math.floor(t.num_train_epochs * per_epoch / t.gradient_accumulation_steps)))
    warmup = warmup_steps_for(t, total_steps)
    scheduler = build_scheduler(optimizer, t.lr_scheduler_type, warmup, total_steps)

    step, epoch, position, tokens_seen = 0, 0, 0, 0
    state: Dict[str, Any] = {}
    schedule_change: Optional[Dict[str, Any]] = None
    started_from: Optional[Dict[str, Any]] = None  # init_checkpoint, when this run loaded it
    resumed_from = _resume_path(config)
    if resumed_from:
        previous_task = ckpt.read_trainer_state(resumed_from).get("task")
        if previous_task != task:
            raise ConfigError("resume", f"checkpoint {resumed_from} is from a '{previous_task}' run, not '{task}'")
        _refuse_changed_data(config, resumed_from)
        state = ckpt.load_checkpoint(resumed_from, model=wrapped, optimizer=optimizer, scheduler=scheduler, state=dist)
        step, epoch, position = state["step"], state["epoch_index"], state["batch_in_epoch"]
        tokens_seen = state.get("tokens_seen", 0)
        if step > total_steps:
            raise ConfigError("training.max_steps",
                              f"is {total_steps} but the checkpoint {resumed_from} is already at step {step}; "
                              "give a total of at least that many steps, or start a new run_dir")
        saved_schedule = rebuild_after_resume(scheduler, t.lr_scheduler_type, warmup, total_steps)
        if saved_schedule != describe(scheduler.lr_lambdas[0]):
            schedule_change = {"from": saved_schedule, "to": describe(scheduler.lr_lambdas[0])}
            log.warning("the learning-rate schedule changed on resume (%s -> %s): continuing step %d on the new "
                        "schedule", saved_schedule, schedule_change["to"], step)
    elif config.init_checkpoint is not None:
        # a fresh run starts from init_checkpoint's weights; the reference was built before, from the fresh model
        load_start_weights(wrapped, "init_checkpoint", config.init_checkpoint, dist)
        started_from = checkpoint_ref(config.init_checkpoint)
        log.info("policy starts from %s (step %s)", config.init_checkpoint, started_from and started_from["step"])

    total, trainable = count_parameters(model)
    log.info("training %s for %d steps from step %d%s", task, total_steps, step,
             f" (resumed from {resumed_from})" if resumed_from else "")
    events.emit("start", command=task, task=task, run_dir=run_dir, step=step, total_steps=total_steps,
                steps_per_epoch=per_epoch / t.gradient_accumulation_steps, resumed_from=resumed_from,
                init_checkpoint=started_from,
                ref_checkpoint=checkpoint_ref(config.ref_checkpoint) if task == "dpo" else None,
                world_size=dist.world_size, device=str(dist.device), torch=torch.__version__,
                model={"family": model.family, "parameters": total, "trainable": trainable, "lora": setup.lora_kind},
                data={"train_pairs": len(train_data.examples), "eval_pairs": len(eval_data.examples) if eval_data else 0,
                      "truncated": train_data.stats["truncated"], "tokenizer": setup.tokenizer.kind,
                      "split": train_data.split,
                      "truncation": {"train": data_report(train_data, config.data.truncation),
                                     "eval": data_report(eval_data, config.data.truncation)}},
                efficiency={"bf16": setup.bf16, "compile": compiled, "warmup_steps": warmup,
                            "strategy": dist.strategy if dist.active else "single"},
                schedule={"kind": t.lr_scheduler_type, "warmup_steps": warmup, "total_steps": total_steps,
                          "changed_on_resume": schedule_change},
                config=config_dict)

    batches = schedule.epoch_batches(epoch)
    pad, concat = setup.tokenizer.pad_token_id, config.efficiency.concatenated_forward
    params = [p for p in model.parameters() if p.requires_grad]
    accum = t.gradient_accumulation_steps
    is_ddp = dist.active and hasattr(wrapped, "no_sync")

    def save(reason_step: int) -> str:
        # the open logging window (steps since the last metric event) is part of the state: a run stopped off a
        # logging step resumes with the same token count and logs the same averaged loss as the uninterrupted run
        keys = sorted(window)
        pending = torch.stack([window[k].to(dist.device) for k in keys]
                              + [torch.tensor(float(window_tokens), dtype=torch.float64, device=dist.device)])
        all_reduce_sum(pending, dist)
        pending = pending.cpu()
        trainer_state = {"task": task, "epoch_index": epoch, "batch_in_epoch": position, "tokens_seen": tokens_seen,
                         "total_steps": total_steps, "epoch": epoch + position / len(batches),
                         "window": {"steps": window_steps, "tokens": int(pending[-1]),
                                    "sums": {k: float(pending[i]) / dist.world_size for i, k in enumerate(keys)}}}
        path = ckpt.save_checkpoint(run_dir, step=reason_step, model=wrapped, optimizer=optimizer, scheduler=scheduler,
                                    trainer_state=trainer_state, config_dict=config_dict, state=dist,
                                    keep=t.save_total_limit)
        events.emit("checkpoint", step=reason_step, epoch=trainer_state["epoch"], path=path)
        return path

    # per-step sums stay on the device; they are synchronised only when a metric event is due
    window: Dict[str, torch.Tensor] = {}
    window_steps, window_tokens, window_start = 0, 0, time.perf_counter()
    if resumed_from and state.get("window"):
        saved_window = state["window"]
        window = {k: torch.tensor(v, dtype=torch.float64, device=dist.device) for k, v in saved_window["sums"].items()}
        window_steps = int(saved_window["steps"])
        window_tokens = int(saved_window["tokens"]) if dist.is_main else 0  # summed over ranks when logged
    last_checkpoint: Optional[str] = resumed_from
    last_eval: Optional[Dict[str, Any]] = None
    wrapped.train()
    while step < total_steps:
        step_metrics: Dict[str, torch.Tensor] = {}
        for micro in range(accum):
            if position >= len(batches):
                epoch, position = epoch + 1, 0
                batches = schedule.epoch_batches(epoch)
            batch = collate_pairs([train_data.examples[i] for i in batches[position]], pad, concatenated=concat)
            position += 1
            window_tokens += count_tokens(batch)
            sync = wrapped.no_sync() if (is_ddp and micro < accum - 1) else contextlib.nullcontext()
            with sync:
                with _autocast(setup):
                    if task == "dpo":
                        assert reference is not None
                        loss, metrics, _, _ = dpo_batch_loss(setup, wrapped, batch, reference, "train")
                    else:
                        loss, metrics, _, _ = rm_batch_loss(setup, wrapped, batch, train_data.has_margin)
                (loss / accum).backward()
            metrics["loss"] = loss.detach()
            for k, v in metrics.items():
                step_metrics[k] = step_metrics.get(k, 0.0) + v.double() / accum
        max_norm = t.max_grad_norm if t.max_grad_norm is not None else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if hasattr(norm, "full_tensor"):  # DTensor under FSDP2
            norm = norm.full_tensor()
        step_metrics["grad_norm"] = norm.detach().double()
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        for k, v in step_metrics.items():
            window[k] = window.get(k, 0.0) + v
        window_steps += 1

        if step % t.logging_steps == 0 or step == total_steps:
            keys = sorted(window)
            values = torch.stack([window[k].to(dist.device) / window_steps for k in keys]
                                 + [torch.tensor(float(window_tokens), dtype=torch.float64, device=dist.device)])
            all_reduce_sum(values, dist)
            values = values.cpu()
            averaged = {k: float(values[i]) / dist.world_size for i, k in enumerate(keys)}
            elapsed = max(time.perf_counter() - window_start, 1e-9)
            tokens_seen += int(values[-1])
            loss_value, grad_value = averaged.pop("loss"), averaged.pop("grad_norm")
            averaged["num_tokens"] = float(tokens_seen)  # TRL's name: non-padding tokens trained on so far
            events.emit("metric", step=step, epoch=round(epoch + position / len(batches), 6), loss=loss_value, lr=lr,
                        grad_norm=grad_value, tokens_per_s=float(values[-1]) / elapsed, tokens=tokens_seen,
                        metrics=averaged)
            window, window_steps, window_tokens, window_start = {}, 0, 0, time.perf_counter()

        if eval_data and t.eval_steps and step % t.eval_steps == 0 and step != total_steps:
            last_eval = evaluate(setup, wrapped, eval_data, reference)
            events.emit("eval", step=step, epoch=epoch + position / len(batches), split="eval", metrics=last_eval)

        stop = any_rank(stopper.requested, dist)
        if stop or step == total_steps or (t.save_steps and step % t.save_steps == 0):
            last_checkpoint = save(step)
        if stop:
            events.emit("done", status="stopped", step=step, epoch=epoch + position / len(batches),
                        checkpoint=last_checkpoint, reason=stopper.signal_name)
            return 0

    if step == total_steps and (last_checkpoint is None or not last_checkpoint.endswith(f"step-{step:08d}")):
        last_checkpoint = save(step)
    if eval_data and config.eval.at_end:
        last_eval = evaluate(setup, wrapped, eval_data, reference)
        events.emit("eval", step=step, epoch=epoch + position / len(batches), split="eval", metrics=last_eval)
    final = _export_final(setup, run_dir)
    events.emit("done", status="completed", step=step, epoch=epoch + position / len(batches),
                checkpoint=last_checkpoint, final_model=final, eval=last_eval)
    return 0


# ------------------------------------------------------------------------------------------------
# the eval command


PREDICTIONS_FILE = "predictions.jsonl"


def _content(value: Any) -> Any:
    """A prompt or completion as the row gave it: text, or a list of {role, content} messages."""
    return value if isinstance(value, str) else [dict(m) for m in value]


def write_predictions(path: str, data: Dataset, scores: Dict[str, torch.Tensor]) -> str:
    """Every held-out pair with its scores, one JSON line each in input order, written atomically: source file and
    line, the prompt and both completions, ``reward_chosen``/``reward_rejected`` (DPO: implicit rewards),
    ``margin`` = their difference, ``tie`` (equal within ``calibration.TIE_RTOL``), ``correct`` (margin > 0 and not a
    tie), completion token counts and the
    row's own ``label_margin`` when it has one."""
    assert data.pairs is not None, "the held-out split keeps its rows"
    chosen, rejected = scores["chosen"].tolist(), scores["rejected"].tolist()
    ties = scores["tie"].tolist()
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for example in data.examples:
            pair = data.pairs[example.index]
            margin = chosen[example.index] - rejected[example.index]
            row = {"index": example.index, "file": pair.file, "line": pair.line,
                   "prompt": _content(pair.prompt), "chosen": _content(pair.chosen), "rejected": _content(pair.rejected),
                   "reward_chosen": _finite(chosen[example.index]), "reward_rejected": _finite(rejected[example.index]),
                   "margin": _finite(margin), "correct": margin > 0 and not ties[example.index],
                   "tie": bool(ties[example.index]),
                   "chosen_tokens": example.chosen_tokens, "rejected_tokens": example.rejected_tokens}
            if pair.margin is not None:
                row["label_margin"] = pair.margin
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


def _finite(value: float) -> Optional[float]:
    return value if math.isfinite(value) else None


def run_eval(config: Config, events: EventStream, *, checkpoint: Optional[str] = None) -> int:
    """Evaluate a checkpoint (default: the latest in run_dir; none: the initial model) on the held-out split."""
    if config.task is None:
        raise ConfigError("task", "the eval command needs task 'rm' or 'dpo' in the config")
    if not config.data.eval and config.data.eval_fraction <= 0:
        raise ConfigError("data.eval", "the eval command needs data.eval or data.eval_fraction > 0")
    events.attach_run_dir(config.run_dir)
    setup = prepare(config, config.task, need_train=False)
    try:
        if not setup.dist.is_main:
            events = EventStream(enabled=False)
        assert setup.eval is not None
        path = checkpoint or config.eval.checkpoint or ckpt.latest_checkpoint(config.run_dir)
        if path is not None and not os.path.isfile(os.path.join(path, "trainer_state.json")):
            raise ConfigError("--checkpoint", f"{path} is not a checkpoint folder (no trainer_state.json)")
        reference = None
        if setup.task == "dpo":
            reference = build_reference(setup, {"eval": setup.eval}, None, cache_dir=None, events=events)
        step = 0
        if path is not None:
            ckpt.load_model_weights(setup.model, path, setup.dist)
            step = ckpt.read_trainer_state(path).get("step", 0)
        elif config.init_checkpoint is not None:  # the model before this run's training: the one it started from
            load_start_weights(setup.model, "init_checkpoint", config.init_checkpoint, setup.dist)
        events.emit("start", command="eval", task=setup.task, run_dir=config.run_dir, step=step, checkpoint=path,
                    world_size=setup.dist.world_size, device=str(setup.dist.device), torch=torch.__version__,
                    data={"eval_pairs": len(setup.eval.examples), "tokenizer": setup.tokenizer.kind,
                          "split": setup.eval.split,
                          "truncation": {"eval": data_report(setup.eval, config.data.truncation)}},
                    config=config_to_dict(config))
        scores: Dict[str, torch.Tensor] = {}
        metrics = evaluate(setup, setup.model, setup.eval, reference, scores=scores)
        predictions = None
        if setup.dist.is_main:
            predictions = write_predictions(os.path.join(config.run_dir, PREDICTIONS_FILE), setup.eval, scores)
        events.emit("eval", step=step, split="eval", checkpoint=path, metrics=metrics, predictions=predictions)
        events.emit("done", status="completed", step=step, checkpoint=path, eval=metrics)
        return 0
    finally:
        shutdown(setup.dist)
