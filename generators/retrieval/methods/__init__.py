"""The retrieval-augmented generators, one file each, over :class:`RetrievalAugmentedPipeline`:
``retrieval_reference`` (training-free reference attention), ``retrieval_conditioned`` (the trained
conditioner's tokens) and ``retrieval_blend`` (the top neighbour's subject blended into its box)."""
