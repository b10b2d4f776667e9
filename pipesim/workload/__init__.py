"""Workload model: turn a transformer config and a GPU into per-stage ``Costs``.

``stage_costs(model_preset("gpt3-1.3b"), gpu_preset("A100"), 4)`` gives the durations (s) and
sizes (bytes) every level of pipesim consumes; ``describe(...)`` gives the same numbers with
their FLOPs and breakdowns as plain data for tables and reports.
"""

from pipesim.workload.compression import CompressionSpec, effective_ratio
from pipesim.workload.hardware import (
    DTYPES,
    GPUSpec,
    WorkloadError,
    dtype_bytes,
    gpu_preset,
    known_gpus,
    parse_flops,
)
from pipesim.workload.layer_cost import head_cost, layer_cost
from pipesim.workload.profile import Profile, bundled_profiles, load_profile, parse_profile
from pipesim.workload.roofline import ATTENTIONS, MLPS, PieceCost
from pipesim.workload.stages import StageWork, WorkloadSummary, describe, stage_costs, summarize
from pipesim.workload.transformer import (
    COST_MODELS,
    OPTIMIZER_STATE_BYTES,
    RECOMPUTE_MODES,
    Flops,
    ModelSpec,
    boundary_bytes,
    head_activation_bytes,
    head_flops,
    known_models,
    layer_activation_bytes,
    layer_flops,
    model_preset,
    recompute_flops,
    split_layers,
    total_params,
    weight_keep_fraction,
)

__all__ = [
    "ATTENTIONS",
    "COST_MODELS",
    "DTYPES",
    "MLPS",
    "OPTIMIZER_STATE_BYTES",
    "RECOMPUTE_MODES",
    "CompressionSpec",
    "Flops",
    "GPUSpec",
    "ModelSpec",
    "PieceCost",
    "Profile",
    "StageWork",
    "WorkloadError",
    "WorkloadSummary",
    "boundary_bytes",
    "bundled_profiles",
    "describe",
    "dtype_bytes",
    "effective_ratio",
    "gpu_preset",
    "head_activation_bytes",
    "head_cost",
    "head_flops",
    "known_gpus",
    "known_models",
    "layer_activation_bytes",
    "layer_cost",
    "layer_flops",
    "load_profile",
    "model_preset",
    "parse_flops",
    "parse_profile",
    "recompute_flops",
    "split_layers",
    "stage_costs",
    "summarize",
    "total_params",
    "weight_keep_fraction",
]
