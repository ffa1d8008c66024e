"""Evaluation of migration detection on generated worlds (issue 15).

:mod:`evaluation.worlds` draws worlds from ``(seed, params)`` with their labels, :mod:`evaluation.servers`
serves them on loopback as the real services answer, :mod:`evaluation.run` crawls each world end to end
through the ``resurface`` CLI and scores the alerts against the labels.

Seed ranges (see :mod:`evaluation.run`): TUNING seeds 0–99 may be looked at while changing detection;
REPORT seeds 1000–1099 are only ever run to report numbers, never to tune.
"""
