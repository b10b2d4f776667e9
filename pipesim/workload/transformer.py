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

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Literal

from pipesim.costs import Costs
from pipesim.workload.compression import CompressionSpec, effective_ratio
from pipesim.workload.hardware import GPUSpec, WorkloadError, dtype_bytes

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

    def __post_init__(self) -> None:
        for key in ("layers", "hidden", "heads", "seq_len", "vocab"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise WorkloadError(f"model.{key}: {v!r}; must be a whole number >= 1")
        if self.hidden % self.heads:
            raise WorkloadError(f"model.heads: {self.heads} does not divide hidden size {self.hidden}")

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
# positions, and a 4096-token context (LLaMA-2's; LLaMA-1 used 2048). The 12h² layer model
# matches LLaMA's SwiGLU width closely; for 70B it gives ~65B parameters rather than 69B
# because LLaMA-2-70B's MLP is wider (28672 = 3.5h) and its attention uses grouped queries.
_MODELS: MappingProxyType[str, ModelSpec] = MappingProxyType(
    {
        "gpt3-1.3b": ModelSpec(24, 2048, 16, 2048, 50257, "gpt3-1.3b"),
        "gpt3-2.7b": ModelSpec(32, 2560, 32, 2048, 50257, "gpt3-2.7b"),
        "7b": ModelSpec(32, 4096, 32, 4096, 32000, "7b", tied_embeddings=False, learned_positions=False),
        "13b": ModelSpec(40, 5120, 40, 4096, 32000, "13b", tied_embeddings=False, learned_positions=False),
        "70b": ModelSpec(80, 8192, 64, 4096, 32000, "70b", tied_embeddings=False, learned_positions=False),
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
    mode = _check_recompute(recompute)
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
    mode = _check_recompute(recompute)
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
    mode = _check_recompute(recompute)
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


@dataclass(frozen=True)
class StageWork:
    """One stage: FLOPs of the whole stage (all t tensor-parallel GPUs together), seconds on
    one GPU of it, and bytes per GPU."""

    stage: int
    layers: int
    embedding: bool
    head: bool
    flops: Flops
    time: Flops  # seconds, same F/I/W structure
    message_bytes: float
    activation_bytes: float  # one microbatch's stash
    params: float  # parameters held by the stage (all t GPUs together)
    weight_bytes: float  # per GPU, in the training dtype
    grad_bytes: float  # per GPU, in the training dtype
    optimizer_bytes: float  # per GPU

    @property
    def param_bytes(self) -> float:
        """Weights and their gradients: the model state that every replica carries."""
        return self.weight_bytes + self.grad_bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "layers": self.layers,
            "embedding": self.embedding,
            "head": self.head,
            "flops": {"F": self.flops.F, "B": self.flops.B, "I": self.flops.I, "W": self.flops.W},
            "time": {"F": self.time.F, "B": self.time.B, "I": self.time.I, "W": self.time.W},
            "message_bytes": self.message_bytes,
            "activation_bytes": self.activation_bytes,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "grad_bytes": self.grad_bytes,
            "param_bytes": self.param_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "static_bytes": self.param_bytes + self.optimizer_bytes,
        }


@dataclass(frozen=True)
class WorkloadSummary:
    """Everything ``stage_costs`` derives, kept for reporting; ``to_costs()`` is the handoff to
    the schedule levels."""

    model: ModelSpec
    gpu: GPUSpec
    microbatch_size: int
    dtype: str
    recompute: str
    tensor_parallel: int
    optimizer_state_bytes: float  # per parameter
    compression: CompressionSpec | None
    achieved_flops: float  # FLOP/s of one GPU
    weight_keep: float
    stages: tuple[StageWork, ...]

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def to_costs(self) -> Costs:
        st = self.stages
        return Costs.make(
            len(st),
            F=[x.time.F for x in st],
            B=[x.time.B for x in st],
            I=[x.time.I for x in st],
            W=[x.time.W for x in st],
            message_bytes=[x.message_bytes for x in st],
            activation_bytes=[x.activation_bytes for x in st],
            param_bytes=[x.weight_bytes for x in st],  # Costs.param_bytes: one weight copy
            optimizer_bytes=[x.optimizer_bytes for x in st],
            weight_keep=self.weight_keep,
            sized=True,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) for the CLI and tests."""
        return {
            "model": asdict(self.model),
            "gpu": asdict(self.gpu),
            "num_stages": self.num_stages,
            "microbatch_size": self.microbatch_size,
            "dtype": self.dtype,
            "recompute": self.recompute,
            "tensor_parallel": self.tensor_parallel,
            "optimizer_state_bytes_per_param": self.optimizer_state_bytes,
            "compression": asdict(self.compression) if self.compression else None,
            "compression_ratio": effective_ratio(self.compression, self.model.hidden, self.dtype),
            "achieved_flops": self.achieved_flops,
            "weight_keep": self.weight_keep,
            "total_params": total_params(self.model),
            "layers_per_stage": [x.layers for x in self.stages],
            "stages": [x.as_dict() for x in self.stages],
        }


def summarize(
    model: ModelSpec,
    gpu: GPUSpec,
    num_stages: int,
    *,
    microbatch_size: int = 1,
    dtype: str = "bf16",
    layers_per_stage: Sequence[int] | None = None,
    recompute: str = "none",
    tensor_parallel: int = 1,
    optimizer: str | float = "adam",
    compression: CompressionSpec | None = None,
) -> WorkloadSummary:
    """Per-stage work of ``model`` split over ``num_stages`` stages (see :func:`stage_costs`)."""
    d = dtype_bytes(dtype)
    dtype = dtype.lower()
    mode = _check_recompute(recompute)
    state = _optimizer_state(optimizer)
    if isinstance(num_stages, bool) or not isinstance(num_stages, int) or num_stages < 1:
        raise WorkloadError(f"num_stages: {num_stages!r}; need at least 1 stage")
    if isinstance(microbatch_size, bool) or not isinstance(microbatch_size, int) or microbatch_size < 1:
        raise WorkloadError(f"microbatch_size: {microbatch_size!r}; must be a whole number >= 1")
    t = _check_tensor_parallel(model, tensor_parallel)
    split = _check_split(model, num_stages, layers_per_stage)
    if compression is not None:
        compression.rank_for(model.hidden)  # validate against h before any arithmetic

    b = microbatch_size
    rate = gpu.achieved_flops(dtype)
    per_layer = layer_flops(model, b)
    extra_i = recompute_flops(model, b, mode)
    act_layer = layer_activation_bytes(model, b, dtype, mode)
    message = boundary_bytes(model, b, dtype, t, compression)
    tokens = b * model.seq_len
    proj = compression.projection_flops(tokens, model.hidden) if compression is not None else 0.0
    last = num_stages - 1

    stages = []
    for i, n in enumerate(split):
        first, final = i == 0, i == last
        flops = Flops(n * per_layer.F, n * (per_layer.I + extra_i), n * per_layer.W)
        params = n * model.layer_params
        act = n * act_layer
        if first:
            params += model.embedding_params
        if final:
            flops = flops + head_flops(model, b)
            act += head_activation_bytes(model, b, dtype)
            # A tied head on a single stage is the embedding matrix itself.
            params += model.head_params - (model.vocab * model.hidden if first and model.tied_embeddings else 0)
        # Encode what leaves, decode what arrives: once forward (activations), once in I
        # (gradients, which travel the other way). A fixed basis has no weight gradient.
        crossings = (0 if final else 1) + (0 if first else 1)
        flops = flops + Flops(crossings * proj, crossings * proj, 0.0)
        stages.append(
            StageWork(
                stage=i,
                layers=n,
                embedding=first,
                head=final,
                flops=flops,
                time=flops.scaled(1.0 / (t * rate)),
                message_bytes=message,
                activation_bytes=act / t,
                params=params,
                weight_bytes=params * d / t,
                grad_bytes=params * d / t,
                optimizer_bytes=params * state / t,
            )
        )
    return WorkloadSummary(
        model=model,
        gpu=gpu,
        microbatch_size=b,
        dtype=dtype,
        recompute=mode,
        tensor_parallel=t,
        optimizer_state_bytes=state,
        compression=compression,
        achieved_flops=rate,
        weight_keep=weight_keep_fraction(model, dtype, mode),
        stages=tuple(stages),
    )


def stage_costs(
    model: ModelSpec,
    gpu: GPUSpec,
    num_stages: int,
    *,
    microbatch_size: int = 1,
    dtype: str = "bf16",
    layers_per_stage: Sequence[int] | None = None,
    recompute: str = "none",
    tensor_parallel: int = 1,
    optimizer: str | float = "adam",
    compression: CompressionSpec | None = None,
) -> Costs:
    """Per-stage ``Costs`` for ``model`` on ``gpu`` split into ``num_stages`` stages.

    ``num_stages`` counts *virtual* stages (p·v for interleaved schedules, 2p for V-shapes);
    layers are split uniformly with the remainder in the middle unless ``layers_per_stage``
    says otherwise (a list of one count per stage summing to the model's layers). Durations
    are ``FLOPs / (t · peak(dtype) · efficiency)`` seconds. ``message_bytes`` is the same for
    every stage (the last stage's entry is unused by a plain pipeline). ``param_bytes`` is one
    copy of the weights in ``dtype`` (gradients have the same size; the simulator adds them and
    all-reduces that many bytes); ``optimizer_bytes`` the optimizer state (``"adam"``:
    12 B/param, ``"sgd"``: 4, ``"none"``: 0, or a number of bytes per parameter). All byte
    counts are per GPU.
    """
    return summarize(
        model,
        gpu,
        num_stages,
        microbatch_size=microbatch_size,
        dtype=dtype,
        layers_per_stage=layers_per_stage,
        recompute=recompute,
        tensor_parallel=tensor_parallel,
        optimizer=optimizer,
        compression=compression,
    ).to_costs()


def describe(model: ModelSpec, gpu: GPUSpec, num_stages: int, **options: Any) -> dict[str, Any]:
    """``summarize(...).as_dict()``: per-stage FLOPs, times and bytes as plain data."""
    return summarize(model, gpu, num_stages, **options).as_dict()


def _check_recompute(recompute: str) -> str:
    mode = recompute.lower() if isinstance(recompute, str) else recompute
    if mode not in RECOMPUTE_MODES:
        raise WorkloadError(f"recompute: unknown mode {recompute!r}; valid: {', '.join(RECOMPUTE_MODES)}")
    return mode


def _optimizer_state(optimizer: str | float) -> float:
    if isinstance(optimizer, int | float) and not isinstance(optimizer, bool):
        if not optimizer >= 0:
            raise WorkloadError(f"optimizer: {optimizer}; bytes of state per parameter must be >= 0")
        return float(optimizer)
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZER_STATE_BYTES:
        return OPTIMIZER_STATE_BYTES[optimizer.lower()]
    raise WorkloadError(
        f"optimizer: unknown {optimizer!r}; valid: {', '.join(OPTIMIZER_STATE_BYTES)}, or bytes per parameter"
    )


def _check_tensor_parallel(model: ModelSpec, t: int) -> int:
    if isinstance(t, bool) or not isinstance(t, int) or t < 1:
        raise WorkloadError(f"tensor_parallel: {t!r}; must be a whole number >= 1")
    if model.heads % t:
        raise WorkloadError(f"tensor_parallel: {t} does not divide the model's {model.heads} attention heads")
    return t


def _check_split(model: ModelSpec, num_stages: int, layers_per_stage: Sequence[int] | None) -> tuple[int, ...]:
    if num_stages > model.layers:
        raise WorkloadError(
            f"num_stages: {num_stages} stages but model '{model.name}' has only {model.layers} layers; "
            "every stage needs at least one layer"
        )
    if layers_per_stage is None:
        return split_layers(model.layers, num_stages)
    split = tuple(layers_per_stage)
    if len(split) != num_stages:
        raise WorkloadError(f"layers_per_stage: {len(split)} values given for {num_stages} stages")
    for i, n in enumerate(split):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise WorkloadError(f"layers_per_stage[{i}]: {n!r}; must be a whole number >= 0")
    if sum(split) != model.layers:
        raise WorkloadError(
            f"layers_per_stage: sums to {sum(split)} but model '{model.name}' has {model.layers} layers"
        )
    return split
