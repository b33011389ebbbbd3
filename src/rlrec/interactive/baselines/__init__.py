"""Baseline policies for the interactive environment (heuristics; RL and LLM baselines later)."""
