"""Study 1: master prints poison retrieval-augmented generation (experiment ``master-prints-vs-retrieval``).

A knowledge base indexed by CLIP image embeddings (the toy entity catalogue plus toy scenes) returns, for
a text query, the images nearest to it. Master images mined against that CLIP on some queries are
inserted; the study measures how often they take the top-1 / top-k places of held-out queries (as a
function of how many are inserted and of the mining budget), what that does to retrieval-augmented
generation, and what the detector and the modality-gap shift cost and buy.
"""
