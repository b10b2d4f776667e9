"""Per-stage work of a transformer split into pipeline stages: layers per stage, the first
stage's embedding and the last stage's head, their times on a GPU and their bytes, and the
``Costs`` the levels consume. The per-layer formulas are in ``pipesim.workload.transformer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipesim.costs import Costs
from pipesim.workload.compression import CompressionSpec, effective_ratio
from pipesim.workload.hardware import GPUSpec, WorkloadError, dtype_bytes
from pipesim.workload.layer_cost import head_cost, layer_cost
from pipesim.workload.roofline import PieceCost
from pipesim.workload.transformer import (
    OPTIMIZER_STATE_BYTES,
    Flops,
    ModelSpec,
    boundary_bytes,
    check_recompute,
    head_activation_bytes,
    head_flops,
    layer_activation_bytes,
    layer_flops,
    recompute_flops,
    split_layers,
    total_params,
    weight_keep_fraction,
)

if TYPE_CHECKING:
    from pipesim.workload.profile import Profile


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
    profile: Profile | None = None,
) -> WorkloadSummary:
    """Per-stage work of ``model`` split over ``num_stages`` stages (see :func:`stage_costs`).

    With ``model.cost_model == "roofline"`` or a measured ``profile``, times and stashed bytes
    come from :func:`layer_cost`/:func:`head_cost` (FLOPs are still the closed-form counts);
    otherwise the closed form below."""
    d = dtype_bytes(dtype)
    dtype = dtype.lower()
    mode = check_recompute(recompute)
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

    per_piece = None
    if model.cost_model != "closed-form" or profile is not None:
        per_piece = (layer_cost(model, gpu, b, dtype, mode, profile), head_cost(model, gpu, b, dtype, profile))
    stages = []
    for i, n in enumerate(split):
        first, final = i == 0, i == last
        flops = Flops(n * per_layer.F, n * (per_layer.I + extra_i), n * per_layer.W)
        # The roofline model counts the real widths (GQA, SwiGLU); the closed form its 12h².
        params = n * (model.exact_layer_params if model.cost_model == "roofline" else model.layer_params)
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
        time = flops.scaled(1.0 / (t * rate))
        if per_piece is not None:
            time, act = _piece_time(per_piece, n, final, crossings * proj / rate, t)
        stages.append(
            StageWork(
                stage=i,
                layers=n,
                embedding=first,
                head=final,
                flops=flops,
                time=time,
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
        weight_keep=per_piece[0].weight_keep if per_piece else weight_keep_fraction(model, dtype, mode),
        stages=tuple(stages),
    )


def _piece_time(pieces: tuple[PieceCost, PieceCost], layers: int, final: bool, projection_s: float,
                t: int) -> tuple[Flops, float]:
    """A stage's seconds (F, I, W on one of its t GPUs) and stash (all t together) from the
    per-layer and head costs. Tensor parallelism divides the time by t (its communication
    is not modelled, as in the closed form)."""
    layer, head = pieces
    f, i, w = layers * layer.forward_s, layers * layer.input_grad_s, layers * layer.weight_grad_s
    act = layers * layer.activation_bytes
    if final:
        f, i, w = f + head.forward_s, i + head.input_grad_s, w + head.weight_grad_s
        act += head.activation_bytes
    return Flops(f / t + projection_s / t, i / t + projection_s / t, w / t), act


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
    profile: Profile | None = None,
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
        profile=profile,
    ).to_costs()


def describe(model: ModelSpec, gpu: GPUSpec, num_stages: int, **options: Any) -> dict[str, Any]:
    """``summarize(...).as_dict()``: per-stage FLOPs, times and bytes as plain data."""
    return summarize(model, gpu, num_stages, **options).as_dict()


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
