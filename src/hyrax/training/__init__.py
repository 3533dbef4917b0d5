"""Training machinery: engines, checkpoints, devices, tracking."""
