"""Consistency probes: drive the real simulator and a learned world from the same start with the same
actions, and measure where the learned world departs from the truth (see ``docs/probes.md``)."""
