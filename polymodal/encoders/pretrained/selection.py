"""Choosing a pretrained encoder chooses its preprocessing: the options that tell the pipeline so."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.catalog import is_pretrained, pretrained_defaults, pretrained_kind

# What the pretrained preprocessor takes besides a backbone's own preparation options.
PREPROCESSOR_OPTIONS = ("batch_size", "cache", "cache_dir")
SHARED_ARGS = ("train", "weights")  # encoder arguments the preprocessing must see too


def with_pretrained_preprocessing(
    preprocess: Mapping[str, Mapping[str, Any]],
    encoders: Mapping[str, str],
    encoder_args: Mapping[str, Mapping[str, Any]],
    modalities: Mapping[str, ModalityKind],
) -> dict[str, dict[str, Any]]:
    """``preprocess`` plus, for each modality whose encoder is pretrained, ``{"pretrained": NAME, ...}``.

    A modality's own entry wins over its kind's (as in the model builder). The encoder's ``train``
    and ``weights`` arguments, and its backbone options (``pooling``, ``max_length``, ... of an ``hf:``
    model), are copied in (the preprocessing computes frozen embeddings with the same weights and
    options). Of the kind-level options, only those the pretrained preprocessing takes are kept
    (e.g. ``image.image_size`` belongs to the regular image preprocessing).
    """
    out = {key: dict(value) for key, value in preprocess.items()}
    for name, kind in modalities.items():
        kind = ModalityKind(kind)
        encoder = encoders.get(name, encoders.get(kind.value))
        if not is_pretrained(encoder):
            continue
        encodes = pretrained_kind(str(encoder))
        if encodes is not kind:
            raise ValueError(
                f"encoder {encoder!r} encodes {encodes.value} but modality {name!r} is {kind.value}; choose a "
                f"model that encodes {kind.value} (polymodal encoders lists the hf: families)"
            )
        defaults = pretrained_defaults(str(encoder))
        args = dict(encoder_args.get(name, encoder_args.get(kind.value, {})))
        takes = (*PREPROCESSOR_OPTIONS, *defaults)
        options = {k: v for k, v in preprocess.get(kind.value, {}).items() if k in takes}
        options.update(preprocess.get(name, {}))
        options.update({k: args[k] for k in (*SHARED_ARGS, *defaults) if k in args})
        out[name] = {**options, "pretrained": encoder}
    return out
