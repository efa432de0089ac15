"""Stage 2, the walk: Hypothesis draws journeys through the model and each step is run and checked.

``machine`` compiles a model into a Hypothesis test (one example, one journey); ``journey`` runs
one journey's steps; ``explorer`` runs rounds of search and hands each new
failure to ``shrink``, ``polish`` and ``replay``; ``hypothesis_control`` is
everything the walk asks of Hypothesis beyond its defaults.
"""
