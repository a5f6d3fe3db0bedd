"""Hardware targets: cost models and lookup tables (filled in by the hardware issue)."""
