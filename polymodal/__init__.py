"""polymodal: multimodal learning from tables of images, audio, text and tabular values.

>>> import polymodal
>>> predictor = polymodal.fit("table.csv", target="label")  # doctest: +SKIP
>>> polymodal.load("model/").predict("new.csv")              # doctest: +SKIP
"""

__version__ = "0.1.0"

from polymodal.api import fit, load, load_pretrained
from polymodal.engine.pretrain import pretrain
from polymodal.generation import generate

__all__ = ["__version__", "fit", "generate", "load", "load_pretrained", "pretrain"]
