"""Tribunal's Python worker: trains a reward model or a DPO policy from preference pairs.

Run it as ``python3 -m trainers rm|dpo|eval --config FILE``; it speaks JSON lines on stdout
(see ``trainers/README.md``). The core depends only on torch; transformers, peft and
safetensors are used when importable.
"""

PROTOCOL_VERSION = 1

__all__ = ["PROTOCOL_VERSION"]
