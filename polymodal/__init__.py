"""polymodal: multimodal learning from tables of images, audio, text and tabular values."""

__version__ = "0.1.0"
