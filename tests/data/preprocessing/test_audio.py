import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.audio_features import log_mel_spectrogram
from polymodal.data.preprocessing import AudioPreprocessor, NotFittedError


def tone(seconds, hz=440.0, sr=16000, amplitude=0.5):
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32), sr


def test_duration_fitted_and_shape():
    durations = [0.3, 0.4, 0.5, 0.6, 1.0]
    frame = pd.DataFrame({"a": [tone(d) for d in durations]})
    pre = AudioPreprocessor("a", n_mels=16).fit(frame)
    n_samples = round(float(np.percentile(durations, 95)) * 16000)
    assert pre.input_info() == {"kind": "audio", "n_mels": 16, "n_frames": 1 + n_samples // 160}
    assert pre.transform(frame).shape == (5, 1, 16, 1 + n_samples // 160)
    assert AudioPreprocessor("a").fit(pd.DataFrame({"a": [tone(0.05)]})).n_samples_ == 4000  # 0.25 s
    assert AudioPreprocessor("a", duration=0.5).fit(frame).n_samples_ == 8000


def test_statistics_are_those_of_the_training_clips_alone():
    train = pd.DataFrame({"a": [tone(0.5, 300.0), tone(0.5, 2000.0, amplitude=0.1)]})
    pre = AudioPreprocessor("a", duration=0.5).fit(train)
    spec = log_mel_spectrogram(torch.from_numpy(np.stack([c for c, _ in train["a"]])), 16000).double()
    assert pre.mean_ == pytest.approx(float(spec.mean()), rel=1e-6)
    assert pre.std_ == pytest.approx(float(spec.std(unbiased=False)), rel=1e-5)
    state = pre.get_state()
    out = pre.transform(pd.DataFrame({"a": [tone(0.5, 5000.0), None]}))
    assert pre.get_state()[0] == state[0] and pre.mean_ == state[1]["mean"][0]
    assert torch.all(out[1] == 0)


def test_long_clips_are_centre_cropped_and_short_ones_padded_at_the_end():
    pre = AudioPreprocessor("a", duration=0.5).fit(pd.DataFrame({"a": [tone(0.5)]}))
    rng = np.random.default_rng(0)
    long_clip = rng.uniform(-1, 1, 16000).astype(np.float32)
    centre = long_clip[4000:12000]
    out = pre.transform(pd.DataFrame({"a": [(long_clip, 16000), (centre, 16000)]}))
    torch.testing.assert_close(out[0], out[1])
    short = long_clip[:3000]
    padded = np.concatenate([short, np.zeros(5000, np.float32)])
    out = pre.transform(pd.DataFrame({"a": [(short, 16000), (padded, 16000)]}))
    torch.testing.assert_close(out[0], out[1])


def test_clips_are_resampled_to_the_target_rate():
    pre = AudioPreprocessor("a", sample_rate=16000, duration=0.5).fit(pd.DataFrame({"a": [tone(0.5)]}))
    out = pre.transform(pd.DataFrame({"a": [tone(0.5, 1000.0, sr=8000), tone(0.5, 1000.0, sr=16000)]}))
    peaks = out[:, 0, :, 5:-5].mean(dim=2).argmax(dim=1)
    assert peaks[0] == peaks[1]


def test_missing_rows_and_round_trip(round_trip):
    frame = pd.DataFrame({"a": [tone(0.4), None, tone(0.7, 900.0, sr=22050)]})
    pre = AudioPreprocessor("a", n_mels=24).fit(frame)
    np.testing.assert_array_equal(pre.present(frame), [True, False, True])
    loaded = round_trip(pre)
    assert torch.equal(loaded.transform(frame), pre.transform(frame))
    assert loaded.input_info() == pre.input_info()


def test_errors():
    with pytest.raises(NotFittedError, match="AudioPreprocessor"):
        AudioPreprocessor("a").transform(pd.DataFrame({"a": [tone(0.5)]}))
    with pytest.raises(TypeError, match=r"column 'a', row 1: expected a \(samples, sample_rate\) tuple"):
        AudioPreprocessor("a").fit(pd.DataFrame({"a": [tone(0.5), np.zeros(10)]}))
    with pytest.raises(ValueError, match="row 0: expected a non-empty 1-D"):
        AudioPreprocessor("a").fit(pd.DataFrame({"a": [(np.zeros(0, np.float32), 16000)]}))
    with pytest.raises(ValueError, match="sample_rate must be at least 1000 Hz"):
        AudioPreprocessor("a", sample_rate=10)


def test_inverse_transform_gives_a_waveform_with_the_spectrum():
    sr = 8000
    frame = pd.DataFrame({"a": [tone(0.5, 440.0, sr), tone(0.5, 1200.0, sr, amplitude=0.3)]})
    pre = AudioPreprocessor("a", sample_rate=sr).fit(frame)
    values = pre.transform(frame)
    waves = pre.inverse_transform(values, seed=0)
    assert waves.shape == (2, pre.n_samples_) and waves.dtype == np.float32 and np.abs(waves).max() <= 1.0
    for wave, (hz, amplitude) in zip(waves, [(440.0, 0.5), (1200.0, 0.3)]):
        spectrum = np.abs(np.fft.rfft(wave))
        peak = np.fft.rfftfreq(len(wave), 1 / sr)[spectrum.argmax()]
        assert abs(peak - hz) < 60  # mel bands are about 50 Hz wide here
        assert np.sqrt(np.mean(wave**2)) == pytest.approx(amplitude / np.sqrt(2), rel=0.25)
    again = pre.transform(pd.DataFrame({"a": [(w, sr) for w in waves]}))
    power, power_again = (values * pre.std_ + pre.mean_).exp(), (again * pre.std_ + pre.mean_).exp()
    assert float((power - power_again).norm() / power.norm()) < 0.35  # Griffin-Lim: close, not exact
    assert np.array_equal(pre.inverse_transform(values, seed=0), waves)
    with pytest.raises(ValueError, match=r"expected spectrograms \[N, 1, 40, "):
        pre.inverse_transform(values[:, :, :10])
