"""Measuring tools, run on purpose and never as timed tests: `profile` (params, MACs, latency and memory of a
model), `pipeline` (photo to photo, stage by stage), `detection` (the quick detection pass against full-size
detection) and `stress` (the app under load)."""
