"""The worker config: a JSON file parsed once, at the edge, into frozen dataclasses.

Every field, its default and its constraint lives here; ``README.md`` documents the same table.
Unknown keys are errors (they are usually typos). Relative paths resolve against the config
file's folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from .errors import ConfigError

TASKS = ("rm", "dpo")
DPO_LOSS_TYPES = ("sigmoid", "ipo", "hinge", "robust")


def _spec(default: Any = dataclasses.MISSING, *, choices: Tuple = (), min: Optional[float] = None,
          max: Optional[float] = None, min_exclusive: bool = False, path: bool = False,
          default_factory: Any = dataclasses.MISSING, doc: str = "") -> Any:
    metadata = {"choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive,
                "path": path, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DataConfig:
    train: str = _spec(path=True, doc="pairs.jsonl (or .jsonl.gz) to train on")
    eval: Optional[str] = _spec(None, path=True, doc="held-out pairs; else eval_fraction of train")
    eval_fraction: float = _spec(0.0, min=0.0, max=0.9, doc="fraction of train held out when eval is unset")
    max_rows: Optional[int] = _spec(None, min=1, doc="read at most this many rows per file")
    max_length: int = _spec(512, min=2, doc="max tokens of prompt + completion")
    max_prompt_length: int = _spec(256, min=1, doc="prompt kept to its last N tokens (and BOS) when too long")
    truncation: str = _spec("keep_answers", choices=("keep_answers", "drop", "keep_end", "keep_start"),
                            doc="a pair longer than max_length: keep_answers (cut the prompt, drop the pair if the "
                                "answers still do not fit), drop (TRL RewardTrainer), keep_end (cut answers' "
                                "beginnings, keep their end and EOS), keep_start (cut answers' ends: TRL DPO)")
    pair_label_smoothing: str = _spec("off", choices=("off", "label_smoothing", "consensus_probability"),
                                      doc="per-pair label smoothing from a column of the pairs file: eps_i = the "
                                          "row's label_smoothing, or min(0.5, 1 - consensus_probability); rows "
                                          "without it use dpo/rm.label_smoothing")


@dataclass(frozen=True)
class TinyModelConfig:
    vocab_size: Optional[int] = _spec(None, min=2, doc="defaults to the tokenizer's")
    dim: int = _spec(64, min=8)
    n_layers: int = _spec(2, min=1)
    n_heads: int = _spec(4, min=1)
    hidden_dim: Optional[int] = _spec(None, min=8, doc="SwiGLU width; default ~8/3 dim")
    max_seq_len: int = _spec(2048, min=2)
    rope_theta: float = _spec(10000.0, min=1.0)
    norm_eps: float = _spec(1e-6, min=0.0, min_exclusive=True)


@dataclass(frozen=True)
class ModelConfig:
    kind: str = _spec("tiny", choices=("tiny", "hf"), doc="pure-torch tiny decoder or a Hugging Face model")
    path: Optional[str] = _spec(None, path=True, doc="hf: local directory for from_pretrained")
    hf_config: Optional[Dict[str, Any]] = _spec(None, doc="hf: build from this config (needs model_type)")
    tiny: TinyModelConfig = _spec(default_factory=TinyModelConfig)
    dtype: str = _spec("float32", choices=("float32", "bfloat16", "float16"), doc="weight dtype")
    trust_remote_code: bool = _spec(False)


@dataclass(frozen=True)
class TokenizerConfig:
    kind: str = _spec("auto", choices=("auto", "byte", "hf"), doc="auto: hf when a path is known and transformers imports, else byte")
    path: Optional[str] = _spec(None, path=True, doc="defaults to model.path")


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = _spec(8, min=1, doc="pairs per device per micro-batch")
    gradient_accumulation_steps: int = _spec(1, min=1)
    learning_rate: float = _spec(1e-5, min=0.0, min_exclusive=True)
    weight_decay: float = _spec(0.0, min=0.0)
    adam_beta1: float = _spec(0.9, min=0.0, max=1.0)
    adam_beta2: float = _spec(0.999, min=0.0, max=1.0)
    adam_epsilon: float = _spec(1e-8, min=0.0, min_exclusive=True)
    lr_scheduler_type: str = _spec("cosine", choices=("cosine", "linear", "constant"))
    warmup_steps: int = _spec(0, min=0)
    warmup_ratio: float = _spec(0.0, min=0.0, max=1.0, doc="used when warmup_steps is 0")
    num_train_epochs: float = _spec(1.0, min=0.0, min_exclusive=True)
    max_steps: Optional[int] = _spec(None, min=1, doc="overrides num_train_epochs")
    max_grad_norm: Optional[float] = _spec(1.0, min=0.0, min_exclusive=True, doc="null: no clipping")
    logging_steps: int = _spec(10, min=1)
    eval_steps: Optional[int] = _spec(None, min=1, doc="evaluate the held-out split every N steps (the final one: eval.at_end)")
    save_steps: Optional[int] = _spec(500, min=1, doc="checkpoint every N steps (and always at the end)")
    save_total_limit: Optional[int] = _spec(2, min=1, doc="keep the newest N checkpoints")


@dataclass(frozen=True)
class RewardConfig:
    center_rewards_coefficient: Optional[float] = _spec(None, min=0.0, doc="TRL: adds c * mean((r+ + r-)^2)")
    use_margin: bool = _spec(True, doc="subtract the rows' margin column (times margin_scale) inside the loss")
    margin_scale: float = _spec(1.0, min=0.0, min_exclusive=True,
                                doc="margins are in the exporter's units (panel score points): multiply by this")
    label_smoothing: float = _spec(0.0, min=0.0, max=0.5,
                                   doc="eps: -(1-eps) log s(d) - eps log s(-d), as cDPO; < 0.5")


@dataclass(frozen=True)
class DPOConfig:
    beta: float = _spec(0.1, min=0.0, min_exclusive=True)
    loss_type: str = _spec("sigmoid", choices=DPO_LOSS_TYPES)
    label_smoothing: float = _spec(0.0, min=0.0, max=0.5, doc="sigmoid (cDPO) and robust only; < 0.5")


@dataclass(frozen=True)
class EfficiencyConfig:
    concatenated_forward: bool = _spec(True, doc="one forward over chosen+rejected")
    precompute_ref_log_probs: bool = _spec(True, doc="reference log-probs once, before training")
    chunked_log_probs: bool = _spec(True, doc="never materialise [batch, length, vocab] logits")
    log_probs_chunk_size: int = _spec(1024, min=1, doc="completion tokens per logits chunk")
    length_bucketing: bool = _spec(True, doc="batch pairs of similar length")
    bucket_multiplier: int = _spec(16, min=1, doc="sort windows of batch_size * this many pairs")
    bf16: Union[bool, str] = _spec("auto", choices=(True, False, "auto"), doc="bf16 autocast; auto: on CUDA with bf16 support")
    gradient_checkpointing: bool = _spec(False)
    compile: bool = _spec(False, doc="torch.compile when available")


@dataclass(frozen=True)
class LoraConfig:
    r: int = _spec(8, min=1)
    alpha: float = _spec(16.0, min=0.0, min_exclusive=True)
    dropout: float = _spec(0.0, min=0.0, max=0.99)
    target_modules: List[str] = _spec(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    merge_on_export: bool = _spec(False, doc="hf models with peft: fold the adapters into the weights of final/ (a "
                                             "plain Hugging Face model, e.g. for vLLM); else final/ holds peft "
                                             "adapters. The built-in LoRA is always merged")


@dataclass(frozen=True)
class DistributedConfig:
    strategy: str = _spec("ddp", choices=("ddp", "fsdp"), doc="under torchrun (WORLD_SIZE > 1)")
    backend: str = _spec("auto", choices=("auto", "nccl", "gloo"))


@dataclass(frozen=True)
class EvalConfig:
    batch_size: int = _spec(16, min=1)
    ece_bins: int = _spec(10, min=1)
    at_end: bool = _spec(True, doc="evaluate the held-out split when training ends")
    checkpoint: Optional[str] = _spec(None, path=True, doc="eval command: checkpoint dir; default the latest in run_dir")


@dataclass(frozen=True)
class Config:
    run_dir: str = _spec(path=True, doc="checkpoints, events.jsonl and reference log-probs go here")
    data: DataConfig = _spec()
    task: Optional[str] = _spec(None, choices=TASKS, doc="rm or dpo; implied by the rm/dpo commands, required for eval")
    seed: int = _spec(0, min=0)
    device: str = _spec("auto", choices=("auto", "cpu", "cuda"))
    resume: str = _spec("auto", doc="auto (latest checkpoint in run_dir if any), never, or a checkpoint dir")
    init_checkpoint: Optional[str] = _spec(None, path=True,
                                           doc="start the policy from this checkpoint's weights (a checkpoint folder of "
                                               "an earlier rm/dpo run of the same model and lora: trainer_state.json + "
                                               "weights). Only a fresh run loads it; a resumed run continues from its "
                                               "own checkpoint")
    ref_checkpoint: Optional[str] = _spec(None, path=True,
                                          doc="dpo: the reference's weights come from this checkpoint (same model and "
                                              "lora) instead of the model built fresh from model and seed")
    model: ModelConfig = _spec(default_factory=ModelConfig)
    ref_model: Optional[ModelConfig] = _spec(None, doc="dpo: reference model; default the initial policy")
    tokenizer: TokenizerConfig = _spec(default_factory=TokenizerConfig)
    training: TrainingConfig = _spec(default_factory=TrainingConfig)
    rm: RewardConfig = _spec(default_factory=RewardConfig)
    dpo: DPOConfig = _spec(default_factory=DPOConfig)
    efficiency: EfficiencyConfig = _spec(default_factory=EfficiencyConfig)
    lora: Optional[LoraConfig] = _spec(None, doc="LoRA adapters (peft when importable, else built in)")
    distributed: DistributedConfig = _spec(default_factory=DistributedConfig)
    eval: EvalConfig = _spec(default_factory=EvalConfig)


# ----------------------------------------------------------------------------------------------
# parsing


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _strip_optional(tp: Any) -> Tuple[Any, bool]:
    args = getattr(tp, "__args__", None)
    if getattr(tp, "__origin__", None) is Union and args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else Union[tuple(rest)]), True
    return tp, False


def _parse_value(tp: Any, value: Any, meta: Dict[str, Any], where: str, base_dir: str) -> Any:
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(where, "must not be null")
    if dataclasses.is_dataclass(tp):
        return _parse_section(tp, value, where, base_dir)
    origin = getattr(tp, "__origin__", None)
    choices = meta.get("choices") or ()
    if choices:
        # compare with type so that True != 1 and "true" != True
        if not any(value == c and type(value) is type(c) for c in choices):
            raise ConfigError(where, f"must be one of {', '.join(json.dumps(c) for c in choices)}; got {json.dumps(value)}")
        return value
    if origin in (list, List):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(where, "must be a list of strings")
        return list(value)
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(where, "must be an object")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(where, f"must be true or false; got {json.dumps(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(where, f"must be an integer; got {json.dumps(value)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(where, f"must be a finite number; got {json.dumps(value)}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(where, f"must be a non-empty string; got {json.dumps(value)}")
        if meta.get("path"):
            value = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
        return value
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        raise ConfigError(where, f"must be {'>' if meta.get('min_exclusive') else '>='} {lo}; got {value}")
    if hi is not None and value > hi:
        raise ConfigError(where, f"must be <= {hi}; got {value}")
    return value


def _parse_section(cls: Any, raw: Any, where: str, base_dir: str) -> Any:
    if cls is ModelConfig and raw == "tiny":
        raw = {"kind": "tiny"}
    if not isinstance(raw, dict):
        raise ConfigError(where or "<root>", "must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}.{key}" if where else key, f"unknown field (known: {known})")
    hints = _hints(cls)
    values = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name in raw:
            values[name] = _parse_value(hints[name], raw[name], dict(f.metadata), path, base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(path, "is required")
    return cls(**values)


_HINTS_CACHE: Dict[Any, Dict[str, Any]] = {}


def _hints(cls: Any) -> Dict[str, Any]:
    if cls not in _HINTS_CACHE:
        import typing

        _HINTS_CACHE[cls] = typing.get_type_hints(cls)
    return _HINTS_CACHE[cls]


def _cross_checks(config: Config) -> None:
    d, m = config.dpo, config.model
    if d.loss_type in ("sigmoid", "robust") and d.label_smoothing >= 0.5:
        raise ConfigError("dpo.label_smoothing", "must be < 0.5")
    if d.loss_type in ("ipo", "hinge") and d.label_smoothing != 0.0:
        raise ConfigError("dpo.label_smoothing", f"does not apply to loss_type '{d.loss_type}'; set it to 0")
    if config.rm.label_smoothing >= 0.5:
        raise ConfigError("rm.label_smoothing", "must be < 0.5")
    if config.data.pair_label_smoothing != "off" and config.task == "dpo" and d.loss_type != "sigmoid":
        raise ConfigError("data.pair_label_smoothing", f"applies to loss_type 'sigmoid' (cDPO) and the reward model, "
                                                       f"not '{d.loss_type}'")
    for where, mc in (("model", m), ("ref_model", config.ref_model)):
        if mc is None:
            continue
        if mc.kind == "hf" and not mc.path and not mc.hf_config:
            raise ConfigError(f"{where}.path", "an hf model needs 'path' (local directory) or 'hf_config'")
        if mc.kind == "hf" and mc.path and mc.hf_config:
            raise ConfigError(f"{where}.hf_config", "give either 'path' or 'hf_config', not both")
        if mc.kind == "tiny" and (mc.path or mc.hf_config):
            raise ConfigError(f"{where}.kind", "a tiny model takes no 'path' or 'hf_config'; set kind to 'hf'")
    if config.data.max_prompt_length >= config.data.max_length:
        raise ConfigError("data.max_prompt_length", "must be smaller than data.max_length")
    if config.tokenizer.kind == "hf" and not (config.tokenizer.path or m.path):
        raise ConfigError("tokenizer.path", "an hf tokenizer needs tokenizer.path or model.path")
    if config.resume not in ("auto", "never") and not os.path.isdir(config.resume):
        raise ConfigError("resume", f"checkpoint directory not found: {config.resume}")
    for where in ("init_checkpoint", "ref_checkpoint"):
        folder = getattr(config, where)
        if folder is not None and not os.path.isfile(os.path.join(folder, "trainer_state.json")):
            what = "not found" if not os.path.isdir(folder) else "not a complete checkpoint (no trainer_state.json)"
            raise ConfigError(where, f"{folder} is {what}: give a checkpoint folder (RUN_DIR/checkpoints/step-N) of an "
                                     "earlier run of the same model")
    if config.ref_checkpoint is not None:
        if config.task == "rm":
            raise ConfigError("ref_checkpoint", "applies to dpo only: a reward model has no reference")
        if config.ref_model is not None:
            raise ConfigError("ref_checkpoint", "give ref_model (another model) or ref_checkpoint (this model's weights "
                                                "from a checkpoint), not both")


def parse_config(raw: Any, *, base_dir: str = ".", task: Optional[str] = None) -> Config:
    """Validate a decoded JSON object into a Config; ``task`` is the command's (rm/dpo) if any."""
    config = _parse_section(Config, raw, "", os.path.abspath(base_dir))
    if config.resume not in ("auto", "never"):
        config = dataclasses.replace(config, resume=os.path.normpath(os.path.join(os.path.abspath(base_dir), config.resume)))
    if task is not None:
        if config.task is not None and config.task != task:
            raise ConfigError("task", f"is '{config.task}' but the command is '{task}'")
        config = dataclasses.replace(config, task=task)
    _cross_checks(config)
    return config


def load_config(path: str, *, task: Optional[str] = None) -> Config:
    """Read and validate a JSON config file."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise ConfigError("--config", f"cannot read {path}: {error.strerror or error}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError("--config", f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})")
    return parse_config(raw, base_dir=os.path.dirname(os.path.abspath(path)), task=task)


def config_to_dict(config: Any) -> Any:
    """A JSON-ready dict of a (validated) config, for events and checkpoints."""
    return dataclasses.asdict(config)


def field_docs() -> List[Tuple[str, str, Any, str]]:
    """(dotted name, type, default, doc) for every field; used to check README.md stays complete."""
    rows: List[Tuple[str, str, Any, str]] = []

    def walk(cls: Any, prefix: str) -> None:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            name = f"{prefix}{f.name}"
            tp, _ = _strip_optional(hints[f.name])
            if dataclasses.is_dataclass(tp):
                walk(tp, name + ".")
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            rows.append((name, str(tp), default, f.metadata.get("doc", "")))

    walk(Config, "")
    return rows
