"""Stage 1, the model: how journeys are declared, loaded from a file, validated and drawn as a graph.

``declare`` holds ``Model`` and its actions; ``step`` is what an action's code
is handed (the model author's API); ``loader`` imports a model file with errors
that name it; ``validate`` finds what would make a model walk wrongly;
``graph`` turns it into a networkx graph.
"""
