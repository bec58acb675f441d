"""Lajur lane core: the renewal workflow, its rules, persistence and the lane controller.

This package is the centre of the dependency graph: `devices/` implement the ports declared in
`lane.ports`, `vision/` reads plates, `api/` and `simulators/` sit outside. Nothing here imports
`api` or `simulators`.
"""
