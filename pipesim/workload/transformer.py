"""Transformer cost model: per-stage FLOPs, times and bytes for a GPT-style decoder.

Notation: b = microbatch size (sequences), s = sequence length, h = hidden size, a = heads,
V = vocabulary, d = bytes per element of the training dtype, t = tensor-parallel degree.

Per layer and microbatch (Megatron-LM; Zero Bubble Table 1 for the split backward):

* forward ``F = 24·b·s·h² + 4·b·s²·h`` (QKV/projection/MLP matmuls + the two attention
  matmuls); input-gradient ``I = s·b·h·(24h + 8s)``; weight-gradient ``W = 24·s·b·h²``; so
  ``B = I + W = 2F`` exactly.
* activations stashed between F and backward (Korthikanti et al.), generalised to any d:
  ``(16·d + 2)·s·b·h + (2·d + 1)·a·s²·b`` bytes — 16 stored tensors of size sbh plus two
  1-byte dropout masks, and per head two s×s tensors plus one 1-byte mask. For d = 2 this is
  the paper's ``s·b·h·(34 + 5·a·s/h)``. After I, W still needs the linear layers' inputs:
  ``16·d·s·b·h`` (Zero Bubble's 32·sbh for bf16).
* boundary message: ``b·s·h·d`` bytes each way (activation forward, gradient backward).

Around the layers: the first stage holds the token embedding (V·h parameters, plus s·h
learned positions for GPT); its FLOPs are a lookup, so none are counted. The last stage holds
the final norm and the LM head + loss: forward ``2·b·s·h·V``, I ``2·b·s·h·V``, W ``2·b·s·h·V``,
and stashes the logits in d bytes plus an fp32 softmax copy, ``b·s·V·(d + 4)``, plus the final
norm's and the head's inputs, ``2·b·s·h·d``. With pipeline parallelism the last stage keeps
its own copy of a tied embedding (Megatron does), so both ends count V·h parameters.

Tensor parallelism t divides FLOPs, parameters and activations by t (Megatron with sequence
parallelism, where the Korthikanti memory formula is divided by t as a whole) and the
boundary message by t (scatter/gather). Intra-stage tensor-parallel communication is not
modelled: it runs over NVLink inside a node and is folded into ``gpu.efficiency``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pipesim.workload.compression import CompressionSpec
from pipesim.workload.hardware import WorkloadError, dtype_bytes
from pipesim.workload.roofline import ATTENTIONS, MLPS

COST_MODELS: tuple[str, ...] = ("closed-form", "roofline")

Recompute = Literal["none", "full", "selective"]
RECOMPUTE_MODES: tuple[str, ...] = ("none", "full", "selective")

# Optimizer state in bytes per parameter. Mixed-precision Adam keeps an fp32 master copy, m
# and v (4 + 4 + 4); SGD keeps one fp32 buffer (master copy, or momentum for fp32 weights).
OPTIMIZER_STATE_BYTES: MappingProxyType[str, float] = MappingProxyType(
    {"adam": 12.0, "adamw": 12.0, "sgd": 4.0, "none": 0.0}
)


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer. ``tied_embeddings``: the LM head reuses the input
    embedding (GPT); ``learned_positions``: a learned s×h position table (GPT) rather than
    rotary embeddings (LLaMA)."""

    layers: int
    hidden: int
    heads: int
    seq_len: int
    vocab: int
    name: str = "custom"
    tied_embeddings: bool = True
    learned_positions: bool = True
    # Used by the roofline cost model only (the closed form assumes a GELU MLP of width 4h and
    # one KV head per query head): key/value heads (None = heads), MLP kind and width
    # (None = 4h for GELU, LLaMA's 8h/3 rounded up to a multiple of 256 for SwiGLU), attention
    # implementation, dropout probability (only whether it is > 0 matters: the kernels and
    # masks exist or not), and which model turns the layer into times and bytes.
    kv_heads: int | None = None
    mlp: str = "gelu"
    ffn_hidden: int | None = None
    attention: str = "flash"
    dropout: float = 0.0
    cost_model: str = "closed-form"

    def __post_init__(self) -> None:
        for key in ("layers", "hidden", "heads", "seq_len", "vocab"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise WorkloadError(f"model.{key}: {v!r}; must be a whole number >= 1")
        if self.hidden % self.heads:
            raise WorkloadError(f"model.heads: {self.heads} does not divide hidden size {self.hidden}")
        for key in ("kv_heads", "ffn_hidden"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise WorkloadError(f"model.{key}: {v!r}; must be a whole number >= 1")
        if self.heads % self.kv_groups:
            raise WorkloadError(f"model.kv_heads: {self.kv_heads} does not divide the {self.heads} attention heads")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise WorkloadError(f"model.dropout: {self.dropout!r}; must be a probability in [0, 1)")
        for key, valid in (("mlp", MLPS), ("attention", ATTENTIONS), ("cost_model", COST_MODELS)):
            if getattr(self, key) not in valid:
                raise WorkloadError(f"model.{key}: {getattr(self, key)!r}; valid: {', '.join(valid)}")

    @property
    def kv_groups(self) -> int:
        """Key/value heads (grouped-query attention shares each among heads / kv_heads)."""
        return self.heads if self.kv_heads is None else self.kv_heads

    @property
    def ffn(self) -> int:
        if self.ffn_hidden is not None:
            return self.ffn_hidden
        if self.mlp == "swiglu":
            return -(-8 * self.hidden // 3 // 256) * 256
        return 4 * self.hidden

    @property
    def exact_layer_params(self) -> int:
        """Parameters of one layer from its real widths (GQA, SwiGLU), as the roofline model
        counts them: QKV, projection, the MLP matrices, and biases plus norms for GPT style."""
        h, kv = self.hidden, self.kv_groups * (self.hidden // self.heads)
        mats = h * (h + 2 * kv) + h * h + (3 if self.mlp == "swiglu" else 2) * h * self.ffn
        if self.mlp == "swiglu":  # LLaMA style: no biases, two RMSNorm scales
            return mats + 2 * h
        return mats + (h + 2 * kv) + h + self.ffn + h + 4 * h

    @property
    def layer_params(self) -> int:
        """Parameters of one layer: 12h² in the four attention and two MLP matrices, plus 13h
        of biases and LayerNorm (Megatron's count). LLaMA-style layers (SwiGLU with 8h/3
        width, no biases, RMSNorm) have 12h² + 2h; the difference is < 0.01% and ignored."""
        h = self.hidden
        return 12 * h * h + 13 * h

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden + (self.seq_len * self.hidden if self.learned_positions else 0)

    @property
    def head_params(self) -> int:
        """Final norm (2h) plus the LM head matrix, counted even when tied (see module doc)."""
        return 2 * self.hidden + self.vocab * self.hidden


def total_params(model: ModelSpec) -> int:
    """Distinct parameters: layers + embedding + final norm (+ LM head when untied).

    The GPT-3 1.3B preset gives 1,315,723,264; the 7B preset 6,706,307,072.
    """
    head = model.head_params - (model.vocab * model.hidden if model.tied_embeddings else 0)
    return model.layers * model.layer_params + model.embedding_params + head


# Presets. GPT-3 shapes are Table 2.1 of Brown et al. (2020) with the GPT-2 BPE vocabulary.
# The "7b"/"13b"/"70b" presets are LLaMA-2 class: 32000-token vocabulary, untied head, rotary
# positions, and a 4096-token context (LLaMA-2's; LLaMA-1 used 2048), with LLaMA-2's SwiGLU
# widths and 70B's 8 KV heads. The closed-form 12h² layer ignores those (for 70B it gives ~65B
# parameters rather than 69B); the roofline model uses them.
_MODELS: MappingProxyType[str, ModelSpec] = MappingProxyType(
    {
        "gpt3-1.3b": ModelSpec(24, 2048, 16, 2048, 50257, "gpt3-1.3b"),
        "gpt3-2.7b": ModelSpec(32, 2560, 32, 2048, 50257, "gpt3-2.7b"),
        "7b": ModelSpec(32, 4096, 32, 4096, 32000, "7b", tied_embeddings=False, learned_positions=False,
                        mlp="swiglu", ffn_hidden=11008),
        "13b": ModelSpec(40, 5120, 40, 4096, 32000, "13b", tied_embeddings=False, learned_positions=False,
                         mlp="swiglu", ffn_hidden=13824),
        "70b": ModelSpec(80, 8192, 64, 4096, 32000, "70b", tied_embeddings=False, learned_positions=False,
                         kv_heads=8, mlp="swiglu", ffn_hidden=28672),
    }
)
_MODEL_ALIASES = MappingProxyType({"llama-7b": "7b", "llama-13b": "13b", "llama-70b": "70b"})


def known_models() -> list[str]:
    return list(_MODELS)


def model_preset(name: str) -> ModelSpec:
    """A preset model by (case-insensitive) name; unknown names list the known ones."""
    key = name.strip().lower()
    key = _MODEL_ALIASES.get(key, key)
    if key not in _MODELS:
        raise WorkloadError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    return _MODELS[key]


@dataclass(frozen=True)
class Flops:
    """FLOPs of one piece of work; ``B`` is the full backward ``I + W``."""

    F: float
    I: float  # noqa: E741 - the literature's name
    W: float

    @property
    def B(self) -> float:
        return self.I + self.W

    def __add__(self, other: Flops) -> Flops:
        return Flops(self.F + other.F, self.I + other.I, self.W + other.W)

    def scaled(self, k: float) -> Flops:
        return Flops(self.F * k, self.I * k, self.W * k)


def layer_flops(model: ModelSpec, microbatch_size: int = 1) -> Flops:
    """One transformer layer, one microbatch, no recomputation."""
    b, s, h = microbatch_size, model.seq_len, model.hidden
    return Flops(F=24 * b * s * h * h + 4 * b * s * s * h, I=s * b * h * (24 * h + 8 * s), W=24 * s * b * h * h)


def head_flops(model: ModelSpec, microbatch_size: int = 1) -> Flops:
    """LM head (h×V matmul) + loss on the last stage: 2bshV forward, the same for each of I
    and W. The softmax/cross-entropy's O(bsV) element-wise work is ignored."""
    x = 2 * microbatch_size * model.seq_len * model.hidden * model.vocab
    return Flops(F=x, I=x, W=x)


def recompute_flops(model: ModelSpec, microbatch_size: int, recompute: str) -> float:
    """Extra FLOPs one layer spends in its backward (before I) to rebuild what it did not stash.

    full: the whole forward again. selective (Korthikanti et al.): only the attention core,
    QKᵀ and softmax·V, i.e. the 4·b·s²·h part of the forward.
    """
    mode = check_recompute(recompute)
    if mode == "full":
        return layer_flops(model, microbatch_size).F
    if mode == "selective":
        return 4 * microbatch_size * model.seq_len**2 * model.hidden
    return 0.0


def layer_activation_bytes(model: ModelSpec, microbatch_size: int = 1, dtype: str = "bf16",
                           recompute: str = "none") -> float:
    """Bytes one layer stashes for one microbatch between its forward and backward.

    none: ``(16d + 2)·sbh + (2d + 1)·a·s²·b``; selective: drops the s² attention tensors,
    ``(16d + 2)·sbh`` (34·sbh in bf16); full: only the layer input, ``d·sbh``.
    """
    mode = check_recompute(recompute)
    d = dtype_bytes(dtype)
    b, s, h, a = microbatch_size, model.seq_len, model.hidden, model.heads
    if mode == "full":
        return d * s * b * h
    linear = (16 * d + 2) * s * b * h
    if mode == "selective":
        return linear
    return linear + (2 * d + 1) * a * s * s * b


def weight_keep_fraction(model: ModelSpec, dtype: str = "bf16", recompute: str = "none") -> float:
    """Share of a layer's stash that W still holds after I: the linear inputs, 16·d·sbh.

    With full recomputation the stash is only the layer input and the tensors W needs are
    rebuilt during the backward, a transient not tracked by ``Costs``; the stash itself is
    held until W, so the share is 1.
    """
    mode = check_recompute(recompute)
    if mode == "full":
        return 1.0
    d = dtype_bytes(dtype)
    keep = 16 * d * model.seq_len * model.hidden
    return keep / layer_activation_bytes(model, 1, dtype, mode)


def head_activation_bytes(model: ModelSpec, microbatch_size: int = 1, dtype: str = "bf16") -> float:
    """Last stage extras: logits (d bytes) + fp32 softmax (4 bytes) per vocabulary entry, and
    the final norm's and LM head's inputs (d·sbh each). Not recomputed in any mode."""
    d = dtype_bytes(dtype)
    b, s = microbatch_size, model.seq_len
    return b * s * model.vocab * (d + 4) + 2 * d * s * b * model.hidden


def boundary_bytes(model: ModelSpec, microbatch_size: int = 1, dtype: str = "bf16", tensor_parallel: int = 1,
                   compression: CompressionSpec | None = None) -> float:
    """Bytes of one boundary message (activation forward or gradient backward).

    Uncompressed: ``b·s·h·d / t``. Compressed: ``b·s·(k·bits/8) / t + b·s·side`` — the
    coordinates are scattered over the t tensor-parallel ranks like the full tensor, while
    side data such as token ids is needed whole.
    """
    tokens = microbatch_size * model.seq_len
    if compression is None:
        return tokens * model.hidden * dtype_bytes(dtype) / tensor_parallel
    payload = tokens * compression.payload_bytes_per_token(model.hidden, dtype) / tensor_parallel
    return payload + tokens * compression.side_bytes_per_token


def split_layers(layers: int, num_stages: int) -> tuple[int, ...]:
    """Uniform split; the remainder goes to the stages nearest the middle of the pipeline.

    The ends already carry extra work (embedding on the first stage, the LM head and loss on
    the last), so extra layers go where there is none; ties prefer the earlier stage because
    the last stage's head is the heavier end.
    """
    if num_stages > layers:
        raise WorkloadError(
            f"num_stages: {num_stages} stages but the model has only {layers} layers; "
            "every stage needs at least one layer"
        )
    base, rest = divmod(layers, num_stages)
    centre = (num_stages - 1) / 2
    favoured = sorted(range(num_stages), key=lambda i: (abs(i - centre), i))[:rest]
    return tuple(base + (1 if i in favoured else 0) for i in range(num_stages))


def check_recompute(recompute: str) -> str:
    mode = recompute.lower() if isinstance(recompute, str) else recompute
    if mode not in RECOMPUTE_MODES:
        raise WorkloadError(f"recompute: unknown mode {recompute!r}; valid: {', '.join(RECOMPUTE_MODES)}")
    return mode
