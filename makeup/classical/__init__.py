"""Makeup transfer without learning: what every network is measured against, and what the networks borrow.

`correspondence` moves one face onto another's geometry through their FaceMesh landmarks (the mesh warp);
`example` is the example-based transfer (Guo & Sim) with its fitted eye makeup (`eye_fit`); `example_lips` lays its
lips over a network's output; `lab` is the per-region colour transfer in CIE Lab. `lab` and `example` are
registered as the classical methods `classical` and `example` (`makeup.models.registry` imports them by name).
"""
