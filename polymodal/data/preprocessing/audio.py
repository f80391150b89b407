"""Audio: resample, pad/crop to a fixed duration, log-mel spectrogram, normalise with training stats."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from polymodal.data.audio_features import log_mel_spectrogram, log_mel_to_waveform, resample
from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.base import SingleColumnPreprocessor, require_arrays, row_label

MIN_DURATION = 0.25
MAX_DURATION = 10.0
REFERENCE_RATE = 16000  # n_fft 512 and hop 160 at 16 kHz, scaled with the sample rate
REFERENCE_N_FFT = 512
REFERENCE_HOP = 160
_CHUNK = 32  # clips per spectrogram call: bounds the STFT memory (about 2 MB per second of audio)


class AudioPreprocessor(SingleColumnPreprocessor):
    """Audio clips (``(samples float32 [T] in [-1, 1], sample_rate)``) to float ``[N, 1, n_mels, n_frames]``.

    Each clip is resampled to ``sample_rate``, zero-padded at the end or centre-cropped to
    ``duration`` seconds and turned into ``log(mel power + 1e-6)`` (``n_fft = 512`` and
    ``hop = 160`` at 16 kHz, scaled with the sample rate), then normalised by the mean and standard
    deviation (two scalars) of the training spectrograms.

    Parameters
    ----------
    column:
        The audio column.
    sample_rate:
        Rate every clip is resampled to.
    duration:
        Clip length in seconds; ``None`` fits it: the 95th percentile of the training durations,
        clipped to [0.25, 10].
    n_mels:
        Number of mel bands.
    """

    kind = ModalityKind.AUDIO

    def __init__(self, column: str, sample_rate: int = 16000, duration: float | None = None, n_mels: int = 40) -> None:
        super().__init__(column)
        if int(sample_rate) < 1000:
            raise ValueError(f"sample_rate must be at least 1000 Hz, got {sample_rate}")
        if duration is not None and not float(duration) > 0:
            raise ValueError(f"duration must be a positive number of seconds or None, got {duration}")
        if int(n_mels) < 1:
            raise ValueError(f"n_mels must be a positive integer, got {n_mels}")
        self.sample_rate = int(sample_rate)
        self.duration = None if duration is None else float(duration)
        self.n_mels = int(n_mels)
        self.n_fft = max(2, round(REFERENCE_N_FFT * self.sample_rate / REFERENCE_RATE))
        self.hop_length = max(1, round(REFERENCE_HOP * self.sample_rate / REFERENCE_RATE))

    def options(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "sample_rate": self.sample_rate,
            "duration": self.duration,
            "n_mels": self.n_mels,
        }

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples_ // self.hop_length

    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None:
        positions, cells = self._present_values(frame)
        if not cells:
            raise self._no_training_values()
        clips = [self._waveform(frame, p, c) for p, c in zip(positions, cells)]
        duration = self.duration
        if duration is None:
            seconds = [len(c) / self.sample_rate for c in clips]
            duration = float(np.clip(np.percentile(seconds, 95), MIN_DURATION, MAX_DURATION))
        self.n_samples_ = max(1, round(duration * self.sample_rate))
        total, total_sq, count = 0.0, 0.0, 0
        for start in range(0, len(clips), _CHUNK):
            mels = self._spectrograms(clips[start : start + _CHUNK]).to(torch.float64)
            total += float(mels.sum())
            total_sq += float(mels.square().sum())
            count += mels.numel()
        self.mean_ = total / count
        std = float(np.sqrt(max(total_sq / count - self.mean_**2, 0.0)))
        self.std_ = std if std > 1e-6 else 1.0

    def _transform(self, frame: pd.DataFrame) -> torch.Tensor:
        out = torch.zeros(len(frame), 1, self.n_mels, self.n_frames)
        positions, cells = self._present_values(frame)
        for start in range(0, len(cells), _CHUNK):
            chunk = positions[start : start + _CHUNK]
            clips = [self._waveform(frame, p, c) for p, c in zip(chunk, cells[start : start + _CHUNK])]
            mels = (self._spectrograms(clips) - self.mean_) / self.std_
            out[torch.from_numpy(chunk), 0] = mels.to(torch.float32)
        return out

    def _input_info(self) -> dict[str, Any]:
        return {"n_mels": self.n_mels, "n_frames": self.n_frames}

    def inverse_transform(self, values: torch.Tensor, n_iter: int = 32, seed: int = 0) -> np.ndarray:
        """Preprocessed spectrograms ``[N, 1, n_mels, n_frames]`` back to float32 waveforms
        ``[N, n_samples]`` at ``sample_rate``, clipped to [-1, 1]: the normalisation undone, then
        :func:`~polymodal.data.audio_features.log_mel_to_waveform` (Griffin-Lim with ``n_iter``
        iterations, phases seeded by ``seed``). An approximation: the phase and the detail within each
        mel band are estimated, not recovered."""
        self._check_fitted("inverse_transform")
        expected = (1, self.n_mels, self.n_frames)
        if values.dim() != 4 or tuple(values.shape[1:]) != expected:
            raise ValueError(f"expected spectrograms [N, {', '.join(map(str, expected))}], got {list(values.shape)}")
        log_mel = values.detach().cpu().float()[:, 0] * self.std_ + self.mean_
        waves = log_mel_to_waveform(log_mel, self.sample_rate, self.n_samples_, n_fft=self.n_fft,
                                    hop_length=self.hop_length, n_iter=n_iter,
                                    generator=torch.Generator().manual_seed(seed))
        return np.clip(waves.numpy(), -1.0, 1.0).astype(np.float32)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        fitted = {"n_samples": self.n_samples_}
        return fitted, {"mean": np.array([self.mean_]), "std": np.array([self.std_])}

    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        require_arrays(arrays, ["mean", "std"], "audio preprocessing")
        self.n_samples_ = int(fitted["n_samples"])
        self.mean_ = float(np.asarray(arrays["mean"]).reshape(-1)[0])
        self.std_ = float(np.asarray(arrays["std"]).reshape(-1)[0])

    def _waveform(self, frame: pd.DataFrame, position: int, cell: Any) -> np.ndarray:
        """Validate one cell and resample it to ``sample_rate`` (1-D float32)."""
        where = f"column {self.column!r}, row {row_label(frame, position)}"
        if not (isinstance(cell, tuple) and len(cell) == 2):
            raise TypeError(f"{where}: expected a (samples, sample_rate) tuple, got {type(cell).__name__}")
        samples, rate = np.asarray(cell[0], dtype=np.float32), int(cell[1])
        if samples.ndim == 2:  # (frames, channels) as soundfile reads it: mix down to mono
            samples = samples.mean(axis=1)
        if samples.ndim != 1 or samples.size == 0:
            raise ValueError(f"{where}: expected a non-empty 1-D (mono) signal, got shape {samples.shape}")
        if not np.all(np.isfinite(samples)):
            raise ValueError(f"{where}: the signal contains NaN or infinite samples")
        if rate <= 0:
            raise ValueError(f"{where}: sample rate must be positive, got {rate}")
        return resample(samples, rate, self.sample_rate)

    def _fix_length(self, samples: np.ndarray) -> np.ndarray:
        """Zero-pad at the end or crop the centre to ``n_samples_``."""
        n = self.n_samples_
        if len(samples) >= n:
            start = (len(samples) - n) // 2
            return samples[start : start + n]
        return np.pad(samples, (0, n - len(samples)))

    def _spectrograms(self, clips: list[np.ndarray]) -> torch.Tensor:
        """Un-normalised log-mel spectrograms ``[n, n_mels, n_frames]`` of resampled clips."""
        if not clips:
            return torch.zeros(0, self.n_mels, self.n_frames)
        waves = torch.from_numpy(np.stack([self._fix_length(c) for c in clips]))
        return log_mel_spectrogram(
            waves, self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels
        )
