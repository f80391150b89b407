"""Resemblyzer's GE2E utterance encoder as a 256-d audio (voice) encoder.

The weights and the architecture (3-layer LSTM over 40 mel bands, linear, ReLU, L2 norm) are those
of the PyPI package ``Resemblyzer``; the package itself is not imported (it imports ``webrtcvad``,
which needs ``pkg_resources``, gone from setuptools >= 81), only its ``pretrained.pt`` is read, or a
local checkpoint given as ``weights``. Preparation: resample to 16 kHz, Resemblyzer's volume
normalisation (-30 dBFS, raise only), then zero-pad at the end or crop the centre to ``duration``
seconds (1.6 s by default: one Resemblyzer partial). Resemblyzer's voice-activity trimming is not
applied. Output: as ``VoiceEncoder.embed_utterance``: partial windows of 160 mel frames at 1.3 per
second, each embedded, averaged and L2-normalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.cache.keys import weights_digest
from polymodal.data.audio_features import mel_filterbank, resample
from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.requirements import package_folder
from polymodal.encoders.pretrained.weights import load_state_dict

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40  # 25 ms windows, 10 ms steps
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_RATE, MIN_COVERAGE = 1.3, 0.75
HIDDEN, LAYERS = 256, 3
TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1


def normalize_volume(wav: np.ndarray) -> np.ndarray:
    """Raise the volume to -30 dBFS (never lower it), as Resemblyzer's ``preprocess_wav``."""
    rms = float(np.sqrt(np.mean(np.square(wav.astype(np.float64) * INT16_MAX)))) if wav.size else 0.0
    if rms == 0.0:
        return wav
    change = TARGET_DBFS - 20.0 * np.log10(rms / INT16_MAX)
    return wav if change < 0 else (wav * 10.0 ** (change / 20.0)).astype(np.float32)


def partial_slices(n_samples: int) -> list[slice]:
    """Mel-frame windows of the partial utterances (Resemblyzer's ``compute_partial_slices``)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((SAMPLE_RATE / PARTIAL_RATE) / HOP))
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    coverage = (n_samples - slices[-1].start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


class Resemblyzer(Backbone):
    """Utterance embeddings ``[B, 256]`` of 16 kHz waveforms ``[B, n_samples]``."""

    name = "resemblyzer"
    kind = ModalityKind.AUDIO
    defaults: ClassVar[Mapping[str, Any]] = {"duration": 1.6}

    def __init__(self, weights: str | Path | None = None, **options: Any) -> None:
        super().__init__(weights, **options)
        if not float(self.options["duration"]) > 0:
            raise ValueError(f"duration must be a positive number of seconds, got {self.options['duration']}")
        if weights is None:
            weights = package_folder(self.name, "resemblyzer", "Resemblyzer") / "pretrained.pt"
        path = Path(weights).expanduser()
        state = load_state_dict(path, key="model_state")
        # One single-layer LSTM per layer (the same computation as nn.LSTM(num_layers=3)), so that
        # fine-tuning can unfreeze the last layers one by one.
        self.lstms = nn.ModuleList([nn.LSTM(N_MELS if i == 0 else HIDDEN, HIDDEN, batch_first=True)
                                    for i in range(LAYERS)])
        self.linear = nn.Linear(HIDDEN, HIDDEN)
        mapped = {f"lstms.{i}.{kind}_l0": state[f"lstm.{kind}_l{i}"]
                  for i in range(LAYERS) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                  if f"lstm.{kind}_l{i}" in state}
        mapped.update({k: v for k, v in state.items() if k.startswith("linear.")})
        missing, _ = self.load_state_dict(mapped, strict=False)
        wrong = [k for k in missing if not k.startswith("mel_filters")]
        if wrong:
            raise ValueError(f"{path} is not a Resemblyzer checkpoint (missing {wrong[:5]})")
        self.mel_filters: Tensor
        self.window: Tensor
        filters = mel_filterbank(N_FFT, N_MELS, SAMPLE_RATE, scale="slaney", norm="slaney")
        self.register_buffer("mel_filters", filters, persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.n_samples = max(1, round(float(self.options["duration"]) * SAMPLE_RATE))
        self.slices = partial_slices(self.n_samples)
        self.output_dim = HIDDEN
        self.weights_id = weights_digest([path])

    def prepare(self, cells: Sequence[Any]) -> Tensor:
        out = np.zeros((len(cells), self.n_samples), dtype=np.float32)
        for i, (samples, rate) in enumerate(cells):
            wav = np.asarray(samples, dtype=np.float32)
            wav = normalize_volume(resample(wav.mean(axis=1) if wav.ndim == 2 else wav, int(rate), SAMPLE_RATE))
            if len(wav) >= self.n_samples:
                start = (len(wav) - self.n_samples) // 2
                out[i] = wav[start : start + self.n_samples]
            else:
                out[i, : len(wav)] = wav
        return torch.from_numpy(out)

    def input_shape(self) -> tuple[int, ...]:
        return (self.n_samples,)

    def blocks(self) -> list[nn.Module]:
        return [*self.lstms, self.linear]

    def mels(self, wav: Tensor) -> Tensor:
        """Mel power spectrogram ``[B, frames, 40]`` (librosa's defaults, as Resemblyzer computes it)."""
        pad = self.slices[-1].stop * HOP - wav.shape[1]
        if pad > 0:
            wav = nn.functional.pad(wav, (0, pad))
        spec = torch.stft(wav, N_FFT, HOP, window=self.window, center=True, pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()
        return torch.matmul(self.mel_filters, power).transpose(1, 2)

    def forward(self, wav: Tensor) -> Tensor:
        mels = self.mels(wav.float())
        parts = torch.stack([mels[:, s] for s in self.slices], dim=1)  # [B, P, 160, 40]
        x = parts.flatten(0, 1)
        for lstm in self.lstms:
            x, _ = lstm(x)
        embeds = torch.relu(self.linear(x[:, -1]))
        embeds = embeds / embeds.norm(dim=1, keepdim=True).clamp(min=1e-12)
        mean = embeds.view(len(wav), len(self.slices), -1).mean(dim=1)
        return mean / mean.norm(dim=1, keepdim=True).clamp(min=1e-12)
