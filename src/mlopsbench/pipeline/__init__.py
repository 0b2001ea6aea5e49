"""The pipeline-overhead experiment (thesis Sections 4.1, 5.3.3 and 6.1).

A Kale-style tagged notebook is compiled into one job per cell (``compiler``), jobs
pass data through a marshal directory (``marshal``), a backend runs them (``backends``:
one module each, behind the run lifecycle of ``run``) and ``tidy`` turns the raw exports
into one row per run and step.
"""
