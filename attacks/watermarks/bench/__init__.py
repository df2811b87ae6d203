"""The watermark robustness benchmark (watermark x attack x strength), run by the
``watermark_bench`` experiment (:mod:`attacks.watermarks.experiment`)."""
