"""Audio features from scratch: resampling, mel filterbank and log-mel spectrogram.

No torchaudio: the filterbank follows the triangular-filter construction of Slaney's Auditory Toolbox
(as in librosa) with either the HTK or the Slaney mel scale, and the spectrogram is ``torch.stft``.

Example
-------
>>> import torch
>>> waves = torch.zeros(2, 16000)
>>> log_mel_spectrogram(waves, sample_rate=16000).shape
torch.Size([2, 40, 101])
"""

from __future__ import annotations

from math import gcd

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import Tensor

MEL_SCALES = ("htk", "slaney")
LOG_EPS = 1e-6

# Slaney's scale is linear below 1 kHz (200/3 Hz per mel) and logarithmic above it.
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOG_STEP = np.log(6.4) / 27.0


def _check_scale(scale: str) -> None:
    if scale not in MEL_SCALES:
        raise ValueError(f"unknown mel scale {scale!r}; valid scales: {', '.join(MEL_SCALES)}")


def hz_to_mel(frequencies: np.ndarray | float, scale: str = "htk") -> np.ndarray:
    """Frequencies in Hz to mels on the HTK (``2595 log10(1 + f/700)``) or Slaney scale."""
    _check_scale(scale)
    f = np.asarray(frequencies, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_F_SP
    log_part = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, _SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / (_SLANEY_LOG_STEP)
    return np.where(f >= _SLANEY_MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mels: np.ndarray | float, scale: str = "htk") -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    _check_scale(scale)
    m = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = m * _SLANEY_F_SP
    log_part = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOG_STEP * (m - _SLANEY_MIN_LOG_MEL))
    return np.where(m >= _SLANEY_MIN_LOG_MEL, log_part, linear)


def mel_frequencies(n_mels: int, f_min: float, f_max: float, scale: str = "htk") -> np.ndarray:
    """``n_mels + 2`` frequencies (Hz) equally spaced in mels: the filters' edges and centres."""
    low, high = hz_to_mel(f_min, scale), hz_to_mel(f_max, scale)
    return mel_to_hz(np.linspace(low, high, n_mels + 2), scale)


def mel_filterbank(
    n_fft: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: str = "htk",
    norm: str | None = None,
) -> Tensor:
    """Triangular mel filters as a float tensor ``[n_mels, n_fft // 2 + 1]``.

    Filter ``i`` rises linearly from ``f[i]`` to 1 at its centre ``f[i + 1]`` and falls to 0 at
    ``f[i + 2]``, where ``f`` are :func:`mel_frequencies`. With ``norm=None`` the filters sum to one
    between the first and last centre; ``norm="slaney"`` divides each filter by its width in Hz / 2
    (constant energy per channel).
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if n_fft < 2 or n_mels < 1:
        raise ValueError(f"n_fft must be >= 2 and n_mels >= 1, got n_fft={n_fft}, n_mels={n_mels}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}"
        )
    if norm not in (None, "slaney"):
        raise ValueError(f"unknown filterbank norm {norm!r}; valid: None, 'slaney'")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_frequencies(n_mels, f_min, f_max, scale)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def log_mel_spectrogram(
    waveforms: Tensor,
    sample_rate: int,
    n_fft: int = 512,
    hop_length: int = 160,
    n_mels: int = 40,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: str = "htk",
) -> Tensor:
    """``log(mel power + 1e-6)`` of waveforms ``[N, T]`` as ``[N, n_mels, 1 + T // hop_length]``.

    The power spectrum uses a Hann window of ``n_fft`` samples, frames centred on multiples of
    ``hop_length`` (the signal is zero-padded by ``n_fft // 2`` at both ends).
    """
    if waveforms.dim() != 2:
        raise ValueError(f"waveforms must be [N, T], got shape {list(waveforms.shape)}")
    waveforms = waveforms.to(torch.float32)
    window = torch.hann_window(n_fft, dtype=waveforms.dtype, device=waveforms.device)
    spec = torch.stft(
        waveforms,
        n_fft=n_fft,
        hop_length=hop_length,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()
    filters = mel_filterbank(n_fft, n_mels, sample_rate, f_min, f_max, scale).to(waveforms.device)
    return torch.log(torch.matmul(filters, power) + LOG_EPS)


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D signal from ``orig_sr`` to ``target_sr`` (polyphase filter), as float32."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} and {target_sr}")
    samples = np.asarray(samples, dtype=np.float32)
    if orig_sr == target_sr:
        return samples
    divisor = gcd(int(orig_sr), int(target_sr))
    up, down = int(target_sr) // divisor, int(orig_sr) // divisor
    return np.asarray(resample_poly(samples, up, down), dtype=np.float32)


def mel_to_power(mel_power: Tensor, sample_rate: int, n_fft: int = 512, f_min: float = 0.0,
                 f_max: float | None = None, scale: str = "htk") -> Tensor:
    """Approximate inverse of the mel projection: mel power ``[N, n_mels, T]`` to a linear power
    spectrum ``[N, n_fft // 2 + 1, T]`` (least squares through the filterbank's pseudo-inverse, clipped
    at zero). Detail finer than one mel band is lost."""
    filters = mel_filterbank(n_fft, mel_power.shape[-2], sample_rate, f_min, f_max, scale).to(mel_power.device)
    return torch.matmul(torch.linalg.pinv(filters), mel_power.to(torch.float32)).clamp_min(0.0)


def griffin_lim(magnitude: Tensor, n_fft: int, hop_length: int, length: int, n_iter: int = 32,
                momentum: float = 0.99, generator: torch.Generator | None = None) -> Tensor:
    """Waveforms ``[N, length]`` whose STFT magnitude approaches ``magnitude`` ``[N, n_fft // 2 + 1, T]``.

    Fast Griffin-Lim (Perraudin et al. 2013): phases start random (from ``generator``) and alternate
    between the STFT of the inverse STFT and the target magnitude, with ``momentum``. The STFT is the one
    of :func:`log_mel_spectrogram` (Hann window, centred frames).
    """
    if magnitude.dim() != 3 or magnitude.shape[1] != n_fft // 2 + 1:
        raise ValueError(f"magnitude must be [N, {n_fft // 2 + 1}, T] for n_fft={n_fft}, got {list(magnitude.shape)}")
    if n_iter < 1 or not 0.0 <= momentum < 1.0:
        raise ValueError(f"n_iter must be >= 1 and 0 <= momentum < 1, got {n_iter}, {momentum}")
    magnitude = magnitude.to(torch.float32)
    window = torch.hann_window(n_fft, device=magnitude.device)
    phase = torch.rand(magnitude.shape, generator=generator).to(magnitude.device) * 2 * torch.pi
    angles = torch.polar(torch.ones_like(magnitude), phase)
    previous = torch.zeros_like(angles)

    def inverse(spec: Tensor) -> Tensor:
        return torch.istft(spec, n_fft=n_fft, hop_length=hop_length, window=window, center=True, length=length)

    for _ in range(n_iter):
        rebuilt = torch.stft(inverse(magnitude * angles), n_fft=n_fft, hop_length=hop_length, window=window,
                             center=True, pad_mode="constant", return_complex=True)
        angles = rebuilt - previous * (momentum / (1.0 + momentum))
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    return inverse(magnitude * angles)


def log_mel_to_waveform(log_mel: Tensor, sample_rate: int, length: int, n_fft: int = 512, hop_length: int = 160,
                        n_iter: int = 32, generator: torch.Generator | None = None) -> Tensor:
    """Waveforms ``[N, length]`` from :func:`log_mel_spectrogram` output ``[N, n_mels, T]``: undo the log,
    the mel projection (:func:`mel_to_power`) and the phase (:func:`griffin_lim`). An approximation:
    intelligible for speech at 40+ mel bands, with the metallic timbre of estimated phases."""
    power = mel_to_power((log_mel.to(torch.float32).exp() - LOG_EPS).clamp_min(0.0), sample_rate, n_fft)
    return griffin_lim(power.sqrt(), n_fft, hop_length, length, n_iter=n_iter, generator=generator)
