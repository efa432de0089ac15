"""Stage 1, the model: how journeys are declared, loaded from a file, validated and drawn as a graph.

The model author's API: ``declare`` holds ``Model`` and its actions; ``step`` is
what an action's code is handed (``step``) and an invariant's (``check``);
``checks`` is what their ``expect_*`` calls record. Around it: ``loader``
imports a model file with errors that name it, ``validate`` finds what would
make a model walk wrongly, ``graph`` turns it into a networkx graph.
"""
