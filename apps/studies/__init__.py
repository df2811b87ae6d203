"""Cross-module studies: experiments that use a generator and an attack together.

``generators`` and ``attacks`` never import each other, so an experiment that needs both lives here, one
layer above them (imported only by ``apps``). Each study is an experiment of its own (``workbench run
examples/study_*.yaml``), run through :func:`workbench.runs.items.map_items` like the others:

- ``master-prints-vs-retrieval`` (:mod:`apps.studies.poisoning`): master images mined against a knowledge
  base's CLIP, inserted into it; hijack rate, downstream entity fidelity and defences.
- ``watermarks-through-generators`` (:mod:`apps.studies.watermarks`): every generator's images under every
  watermark (post-hoc, and generation-time through the initial latents) and attack; each generator against
  stock.
- ``purification-vs-master-prints`` (:mod:`apps.studies.purification`): master images through JPEG, blur, VAE
  regeneration and visual paraphrase; fooling accuracy against the zero-shot cost of the same transform.
"""
