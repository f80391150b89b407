import numpy as np
import pytest
import torch

from polymodal.data.audio_features import (
    griffin_lim,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    mel_to_power,
    resample,
)


def htk_mel_to_hz(m):  # the HTK formula, written out independently of the module
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def htk_hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def test_mel_scales_known_values():
    assert hz_to_mel(1000.0, "htk") == pytest.approx(1000.0, abs=0.1)
    # Slaney: linear below 1 kHz at 200/3 Hz per mel, so 1 kHz is mel 15 and 500 Hz mel 7.5
    assert hz_to_mel(1000.0, "slaney") == pytest.approx(15.0)
    assert hz_to_mel(500.0, "slaney") == pytest.approx(7.5)
    # above 1 kHz the Slaney scale is logarithmic: 27 mels per factor 6.4
    assert hz_to_mel(6400.0, "slaney") == pytest.approx(15.0 + 27.0)
    freqs = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0])
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, scale), scale), freqs, atol=1e-6)


def test_filters_are_the_triangles_between_mel_spaced_edges():
    n_fft, n_mels, sr, f_min, f_max = 512, 20, 16000, 50.0, 7000.0
    filters = mel_filterbank(n_fft, n_mels, sr, f_min, f_max, scale="htk").numpy()
    assert filters.shape == (n_mels, n_fft // 2 + 1)
    edges = htk_mel_to_hz(np.linspace(htk_hz_to_mel(f_min), htk_hz_to_mel(f_max), n_mels + 2))
    bins = np.arange(n_fft // 2 + 1) * sr / n_fft
    for i in range(n_mels):
        expected = np.interp(bins, edges[i : i + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
        np.testing.assert_allclose(filters[i], expected, atol=1e-6)


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_each_filter_peaks_at_its_centre_and_they_partition_unity(scale):
    n_fft, sr = 1024, 16000
    filters = mel_filterbank(n_fft, 32, sr, scale=scale).numpy()
    centres = mel_to_hz(np.linspace(hz_to_mel(0.0, scale), hz_to_mel(sr / 2, scale), 34), scale)[1:-1]
    bins = np.arange(n_fft // 2 + 1) * sr / n_fft
    nearest = np.abs(bins[None, :] - centres[:, None]).argmin(axis=1)
    np.testing.assert_array_equal(filters.argmax(axis=1), nearest)
    inside = (bins >= centres[0]) & (bins <= centres[-1])
    np.testing.assert_allclose(filters.sum(axis=0)[inside], 1.0, atol=1e-5)


def test_slaney_norm_divides_each_filter_by_half_its_width():
    plain = mel_filterbank(512, 10, 16000, scale="slaney").numpy()
    normed = mel_filterbank(512, 10, 16000, scale="slaney", norm="slaney").numpy()
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(8000.0, "slaney"), 12), "slaney")
    np.testing.assert_allclose(normed, plain * (2.0 / (edges[2:] - edges[:-2]))[:, None], rtol=1e-5)


@pytest.mark.parametrize("tone_hz", [440.0, 1000.0, 3000.0])
def test_pure_tone_peaks_at_the_nearest_mel_band(tone_hz):
    sr, n_mels = 16000, 40
    t = np.arange(sr) / sr
    wave = torch.tensor(np.sin(2 * np.pi * tone_hz * t), dtype=torch.float32)[None]
    spec = log_mel_spectrogram(wave, sr, n_fft=512, hop_length=160, n_mels=n_mels)
    assert spec.shape == (1, n_mels, 1 + sr // 160)
    centres = mel_to_hz(np.linspace(0.0, hz_to_mel(sr / 2), n_mels + 2))[1:-1]
    expected = int(np.abs(hz_to_mel(centres) - hz_to_mel(tone_hz)).argmin())
    assert int(spec[0, :, 5:-5].mean(dim=1).argmax()) == expected


def test_silence_gives_log_of_epsilon():
    spec = log_mel_spectrogram(torch.zeros(2, 800), 16000)
    torch.testing.assert_close(spec, torch.full_like(spec, float(np.log(1e-6))))


def test_spectrogram_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"waveforms must be \[N, T\]"):
        log_mel_spectrogram(torch.zeros(100), 16000)


def test_filterbank_errors():
    with pytest.raises(ValueError, match="unknown mel scale 'bark'"):
        mel_filterbank(512, 10, 16000, scale="bark")
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2"):
        mel_filterbank(512, 10, 16000, f_max=9000.0)
    with pytest.raises(ValueError, match="unknown filterbank norm"):
        mel_filterbank(512, 10, 16000, norm="l2")


def test_resample_keeps_duration_and_frequency():
    sr_in, sr_out, tone = 44100, 16000, 440.0
    t = np.arange(sr_in) / sr_in
    out = resample(np.sin(2 * np.pi * tone * t).astype(np.float32), sr_in, sr_out)
    assert out.dtype == np.float32
    assert len(out) == sr_out
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(len(out), 1 / sr_out)[spectrum.argmax()] == pytest.approx(tone, abs=1.0)


def test_resample_same_rate_is_identity_and_bad_rate_errors():
    x = np.linspace(-1, 1, 50, dtype=np.float32)
    np.testing.assert_array_equal(resample(x, 8000, 8000), x)
    with pytest.raises(ValueError, match="sample rates must be positive"):
        resample(x, 0, 8000)


def test_mel_to_power_is_consistent_with_the_filterbank():
    filters = mel_filterbank(256, 20, 8000)
    power = torch.rand(3, 129, 7, generator=torch.Generator().manual_seed(0)) + 0.5
    mel = filters @ power
    back = mel_to_power(mel, 8000, n_fft=256)
    assert back.shape == power.shape and (back >= 0).all()
    torch.testing.assert_close(filters @ back, mel, rtol=1e-3, atol=1e-3)  # same mel power, finer detail lost


def test_griffin_lim_recovers_a_signal_with_the_given_magnitude():
    sr, n_fft, hop = 8000, 256, 64
    t = torch.arange(4000) / sr
    wave = 0.4 * torch.sin(2 * torch.pi * 500 * t) + 0.2 * torch.sin(2 * torch.pi * 1500 * t * (1 + t))
    window = torch.hann_window(n_fft)
    magnitude = torch.stft(wave[None], n_fft, hop, window=window, center=True, pad_mode="constant",
                           return_complex=True).abs()
    rebuilt = griffin_lim(magnitude, n_fft, hop, length=4000, n_iter=64, generator=torch.Generator().manual_seed(0))
    again = torch.stft(rebuilt, n_fft, hop, window=window, center=True, pad_mode="constant",
                       return_complex=True).abs()
    assert rebuilt.shape == (1, 4000)
    assert float((again - magnitude).norm() / magnitude.norm()) < 0.15  # spectral convergence
    with pytest.raises(ValueError, match=r"magnitude must be \[N, 129, T\]"):
        griffin_lim(magnitude[:, :10], n_fft, hop, length=4000)
