"""Presets: a recipe that resolves, from the data, to a recorded config (``fit --preset fast|medium``).

A preset fills only what the user left unset (a flag, an option of :func:`polymodal.fit` or a key of a
config file always wins) and is resolved once the preprocessing is fitted, so that it can look at the data:
the training rows and each modality's input size. The resolved values are written into the run's config
(``config.json`` in the bundle), so ``fit --config bundle/config.json`` repeats the run exactly: every value
is then set, and the preset has nothing left to choose.

- ``fast``: a short schedule (20 epochs, patience 5, lr 3e-3), for a first look.
- ``medium`` (the default): early stopping with a patience that lets training converge (up to 100 epochs,
  patience 15), AdamW with weight decay 0.05, one epoch of warm-up then a cosine decay, label smoothing 0.1
  (multiclass targets), an exponential moving average of the weights over about the last 5 epochs' steps
  (``ema_decay`` ``1 - 1 / (5 * steps per epoch)``, within 0.99 to 0.9999: the averaged model is validated
  and kept; on the demo it gains 1 to 2.5 points of accuracy in every run), and encoders that
  suit the inputs: an MLP over the pixels for images of at most 16 pixels a side (a CNN has little to use on
  them and over-fits), with dropout 0.5 and training noise; for images of 17 to 32 pixels a side, the CNN at
  half its default width (``base_channels`` 16: as accurate on such images, and about 3x cheaper).
- ``best``: ``medium``, and an ensemble (see :mod:`polymodal.engine.ensemble`) combined by stacking: with
  two or more modalities and no fusion chosen, a concat fusion, a late fusion and a second concat
  fusion of another seed; otherwise three seeds of the chosen (or default) fusion. With ``--time-limit``
  the members share the budget. Not with ``init_from`` (transferred weights initialise one model).
- ``none``: the plain defaults of :class:`~polymodal.config.TrainConfig` and
  :class:`~polymodal.config.ModelConfig`.

Example
-------
>>> from polymodal.config import EnsembleMember, FitConfig
>>> config, chosen = resolve_preset(FitConfig(), {"img": {"kind": "image", "height": 8, "width": 8}}, 1000)
>>> config.model.encoders["img"], config.train.patience, chosen["name"]
('image-mlp', 15, 'medium')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from polymodal.config import EnsembleMember, FitConfig

PRESETS = ("none", "fast", "medium", "best")
TINY_IMAGE_SIDE = 16

_TRAIN: dict[str, dict[str, Any]] = {
    "fast": {"epochs": 20, "patience": 5, "lr": 3e-3, "lr_schedule": "constant", "warmup_epochs": 0.0},
    "medium": {"epochs": 100, "patience": 15, "lr": 1e-3, "weight_decay": 0.05, "lr_schedule": "cosine",
               "warmup_epochs": 1.0, "label_smoothing": 0.1},
}
EMA_EPOCHS = 5  # the weight average's horizon (medium, best), in epochs of optimiser steps
EMA_DECAY_RANGE = (0.99, 0.9999)
_TRAIN["best"] = dict(_TRAIN["medium"])
_TINY_IMAGE_ARGS = {"fast": {"hidden_dim": 256, "dropout": 0.2}, "medium": {"hidden_dim": 512, "dropout": 0.5},
                    "best": {"hidden_dim": 512, "dropout": 0.5}}
SMALL_IMAGE_SIDE = 32
_SMALL_IMAGE_ARGS = {"base_channels": 16}  # the CNN's default width (32) is sized for larger images
MULTIMODAL_MEMBERS = ({"fusion": "concat"}, {"fusion": "late"}, {"fusion": "concat", "seed": 1})
SEED_MEMBERS = ({"seed": 0}, {"seed": 1}, {"seed": 2})


def _unset(section: BaseModel, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in section.model_fields_set}


def _batch_size(n_train: int) -> int:
    """About 20 or more optimiser steps an epoch on small tables, larger batches on large ones."""
    return 64 if n_train < 5000 else 128 if n_train < 50000 else 256


def ema_decay(n_train: int, batch_size: int) -> float:
    """The decay per step of a weight average over about :data:`EMA_EPOCHS` epochs of ``n_train`` rows in batches
    of ``batch_size``, within :data:`EMA_DECAY_RANGE`.

    >>> ema_decay(1150, 64), ema_decay(50000, 256)
    (0.99, 0.99898)
    """
    steps = max(1, -(-int(n_train) // max(1, int(batch_size))))
    low, high = EMA_DECAY_RANGE
    return round(min(max(1.0 - 1.0 / (EMA_EPOCHS * steps), low), high), 6)


def _images_up_to(input_info: Mapping[str, Mapping[str, Any]], low: int, high: int) -> list[str]:
    """The image modalities (not pretrained) whose longer side is in ``(low, high]`` pixels."""
    return sorted(name for name, info in input_info.items()
                  if info.get("kind") == "image" and "pretrained" not in info
                  and low < max(int(info.get("height", 0)), int(info.get("width", 0))) <= high)


def _tiny_images(input_info: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return _images_up_to(input_info, 0, TINY_IMAGE_SIDE)


def resolve_preset(config: FitConfig, input_info: Mapping[str, Mapping[str, Any]],
                   n_train: int) -> tuple[FitConfig, dict[str, Any]]:
    """``config`` with its preset's choices in the fields left unset, and a record of what was chosen.

    ``input_info`` is the fitted pipeline's :meth:`~polymodal.data.pipeline.DataPipeline.input_info`;
    ``n_train`` the number of training rows.
    """
    name = config.train.preset
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    if name == "none":
        return config, {"name": name, "chosen": {}}
    train = _unset(config.train, {**_TRAIN[name], "batch_size": _batch_size(n_train)})
    if name in ("medium", "best") and "ema_decay" not in config.train.model_fields_set:
        train["ema_decay"] = ema_decay(n_train, train.get("batch_size", config.train.batch_size))
    model: dict[str, Any] = {}
    # a modality whose encoder, or its arguments, the user named keeps the encoder they meant
    given = {*config.model.encoders, *config.model.encoder_args}
    tiny = [m for m in _tiny_images(input_info) if m not in given and "image" not in given]
    if tiny:
        model["encoders"] = {**config.model.encoders, **{m: "image-mlp" for m in tiny}}
        model["encoder_args"] = {**config.model.encoder_args, **{m: dict(_TINY_IMAGE_ARGS[name]) for m in tiny}}
        if name in ("medium", "best") and "augment" not in config.model.model_fields_set:
            model["augment"] = {**{m: ["noise"] for m in tiny}, **config.model.augment}
    small = [m for m in _images_up_to(input_info, TINY_IMAGE_SIDE, SMALL_IMAGE_SIDE)
             if m not in given and "image" not in given]
    if small:
        model["encoder_args"] = {**model.get("encoder_args", config.model.encoder_args),
                                 **{m: dict(_SMALL_IMAGE_ARGS) for m in small}}
    if name == "best" and "ensemble" not in config.model.model_fields_set and config.model.init_from is None:
        fusion_given = "fusion" in config.model.model_fields_set
        model["ensemble"] = [dict(m) for m in (MULTIMODAL_MEMBERS if len(input_info) >= 2 and not fusion_given
                                               else SEED_MEMBERS)]
    members = [EnsembleMember(**m) for m in model.get("ensemble", [])]
    resolved = config.model_copy(update={
        "train": config.train.model_copy(update=train),
        "model": config.model.model_copy(update={**model, **({"ensemble": members} if members else {})}),
    })
    chosen = {"train": train, "model": model} if model else {"train": train}
    return resolved, {"name": name, "chosen": chosen, "rows": n_train, "tiny_images": tiny, "small_images": small}


__all__ = ["PRESETS", "TINY_IMAGE_SIDE", "ema_decay", "resolve_preset"]
