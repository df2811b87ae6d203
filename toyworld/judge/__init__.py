"""The judge: a detector of shapes-world objects and attributes, trained on ground truth.

It says what is in an image (shapes, colours, sizes, textures, entities, boxes, counts),
independently of the models under test: the toy world's GenEval.
"""

from .model import Detection, ShapesJudge

__all__ = ["Detection", "ShapesJudge"]
