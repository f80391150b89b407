"""Loading a Hugging Face model, its processor and its config by name or folder, with clear errors.

``hf:NAME_OR_PATH``: an existing folder is read with ``local_files_only`` (nothing is downloaded);
a name that looks like a path (absolute, ``./``, ``~``) but is no folder is an error; anything else is
a hub name, loaded the usual way (the hub, or the local Hugging Face cache when offline). Every
failure inside ``transformers`` (no network, no such model, missing processor files, a config it
cannot read) becomes a :class:`HFLoadError` saying what to do, never a traceback from deep inside
``transformers``. The weights digest covers the files of the model folder (or of its snapshot in
the Hugging Face cache), so that the embedding cache and a bundle know which weights they hold.

These helpers are shared by every loader of Hugging Face checkpoints (single backbones and two-tower
models): :func:`resolve_source`, :func:`load_config`, :func:`load_model`, :func:`load_processor`,
:func:`model_digest`, :func:`processor_settings`, :func:`sentence_pooling`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymodal.cache.keys import weights_digest
from polymodal.encoders.pretrained.requirements import require
from polymodal.errors import PolymodalError

PREFIX = "hf:"
DIGESTED = (".safetensors", ".bin", ".json", ".txt", ".model", ".tiktoken")  # weights, configs, vocabularies


class HFLoadError(PolymodalError, ValueError):
    """A Hugging Face model or its processor could not be loaded (the message says why and what to do)."""


@dataclass(frozen=True)
class HFSource:
    """Where an ``hf:`` model comes from: a local ``folder``, or a hub ``name`` (``folder`` is None)."""

    ref: str  # as the user wrote it, without the prefix
    folder: Path | None

    @property
    def location(self) -> str:
        return str(self.folder) if self.folder is not None else self.ref

    @property
    def local(self) -> bool:
        return self.folder is not None

    def label(self) -> str:
        return f"{PREFIX}{self.ref}"


def resolve_source(ref: str) -> HFSource:
    """The source of ``hf:REF`` (see the module docstring)."""
    ref = str(ref).strip()
    if ref.startswith(PREFIX):
        ref = ref[len(PREFIX):]
    if not ref:
        raise HFLoadError("hf: needs a model: hf:NAME (a Hugging Face hub name) or hf:PATH (a local model folder)")
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HFLoadError(f"{path} has no config.json: it is not a transformers model folder (write one with "
                              "model.save_pretrained(FOLDER) and its processor's save_pretrained(FOLDER))")
        return HFSource(ref, path.resolve())
    if path.exists():
        raise HFLoadError(f"hf:{ref} is a file; give the folder that holds the model (its config.json and weights)")
    if ref.startswith(("/", ".", "~", "\\")) or ref.count("/") > 1 or "\\" in ref:
        raise HFLoadError(f"no model folder at {path} (hf:{ref}); check the path, or give a hub name such as "
                          "hf:facebook/dinov2-small")
    return HFSource(ref, None)


@contextmanager
def loading(source: HFSource, what: str) -> Iterator[None]:
    """Turn a failure of ``transformers`` while loading ``what`` of ``source`` into an :class:`HFLoadError`."""
    try:
        yield
    except PolymodalError:
        raise
    except Exception as exc:  # transformers/huggingface_hub raise many types (OSError, ValueError, HTTP errors)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if source.local:
            hint = (f"the folder {source.folder} does not hold a complete {what}; save it there with "
                    f"save_pretrained (for the processor: AutoProcessor/AutoTokenizer/AutoImageProcessor/"
                    f"AutoFeatureExtractor .save_pretrained)")
        else:
            hint = (f"{source.ref!r} is not a local folder and the Hugging Face hub could not provide it: check the "
                    "name and the network (or HF_HUB_OFFLINE), or download it once and give its folder: hf:PATH")
        raise HFLoadError(f"cannot load the {what} of {source.label()}: {type(exc).__name__}: {detail}; {hint}") \
            from exc


def _kwargs(source: HFSource) -> dict[str, Any]:
    return {"local_files_only": True} if source.local else {}


def load_config(source: HFSource) -> Any:
    """The model's ``PretrainedConfig`` (only ``config.json`` is read)."""
    transformers = require(source.label(), "transformers", "transformers")
    with loading(source, "config"):
        return transformers.AutoConfig.from_pretrained(source.location, **_kwargs(source))


def load_model(source: HFSource, tower: str | None = None) -> Any:
    """The model (``AutoModel``), or its ``tower`` attribute (the vision tower of a CLIP checkpoint, say)."""
    transformers = require(source.label(), "transformers", "transformers")
    with loading(source, "model weights"):
        model = transformers.AutoModel.from_pretrained(source.location, **_kwargs(source))
    if tower is not None:
        if not hasattr(model, tower):
            raise HFLoadError(f"{source.label()} ({type(model).__name__}) has no {tower!r} tower")
        model = getattr(model, tower)
    return model.float().eval()


def load_processor(source: HFSource, loader: str) -> Any:
    """The processor ``transformers.<loader>`` (``AutoTokenizer``, ``AutoImageProcessor``, ...) of the model."""
    transformers = require(source.label(), "transformers", "transformers")
    what = {"AutoTokenizer": "tokenizer", "AutoImageProcessor": "image processor"}.get(loader, "feature extractor")
    with loading(source, what):
        return getattr(transformers, loader).from_pretrained(source.location, **_kwargs(source))


def model_folder(source: HFSource) -> Path:
    """The folder holding the model's files: the local folder, or its snapshot in the Hugging Face cache."""
    if source.folder is not None:
        return source.folder
    transformers = require(source.label(), "transformers", "transformers")
    with loading(source, "files (in the Hugging Face cache)"):
        config = transformers.utils.cached_file(source.ref, "config.json", local_files_only=True)
    return Path(config).parent


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that decide its outputs (weights, configs, vocabularies), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DIGESTED)


def model_digest(source: HFSource) -> str:
    """The weights digest of the model's files (:func:`polymodal.cache.keys.weights_digest`)."""
    return weights_digest(model_files(model_folder(source)))


def fingerprint(ref: str) -> tuple[Any, ...]:
    """A cheap stamp of a local model folder (file names, sizes, modification times): a process reloads a
    model whose files changed. A hub name has none (its snapshot does not change in place)."""
    path = Path(ref[len(PREFIX):] if ref.startswith(PREFIX) else ref).expanduser()
    if not path.is_dir():
        return ()
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in model_files(path))


def processor_settings(processor: Any) -> dict[str, Any]:
    """The JSON-safe settings of a processor (its sizes, means, sample rate, ...), for cache identities."""
    to_dict: Callable[[], dict[str, Any]] | None = getattr(processor, "to_dict", None)
    if to_dict is None or hasattr(processor, "convert_tokens_to_ids"):  # a tokenizer: its files are digested
        return {"type": type(processor).__name__}
    out: dict[str, Any] = {"type": type(processor).__name__}
    for key, value in sorted(to_dict().items()):
        if key.startswith("_") or key in ("processor_class", "auto_map"):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue  # arrays (mel filters) and other objects: derived from the settings kept
        out[key] = value
    return out


def sentence_pooling(folder: Path | None) -> tuple[str | None, bool]:
    """``(pooling, normalise)`` of a sentence-transformers folder (``modules.json``, ``1_Pooling``), else
    ``(None, False)``: the family's default pooling, no normalisation."""
    if folder is None or not (folder / "modules.json").is_file():
        return None, False
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise HFLoadError(f"{folder / 'modules.json'} is not valid JSON ({exc})") from exc
    normalise = any(str(m.get("type", "")).endswith("Normalize") for m in modules if isinstance(m, dict))
    pooling = None
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
            config = folder / str(module.get("path", "")) / "config.json"
            settings = json.loads(config.read_text()) if config.is_file() else {}
            pooling = "cls" if settings.get("pooling_mode_cls_token") else "mean"
    return pooling, normalise
