"""Measured profile files shipped with pipesim (JSON, see docs/workload.md#profile-files)."""
