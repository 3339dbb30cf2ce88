"""A folder of WAV clips in class subfolders (`root/<class>/*.wav`) as log-mel or MFCC features.

librosa does the signal processing (resampling, STFT, mel filters, DCT): levin writes no DSP of
its own. Each clip becomes one (1, bands, frames) "image", so a 2-D CNN takes it as it is. Clips
are padded with silence or cut to one length: the model's frame count when it says one, else
the longest clip's. librosa is optional: `pip install 'levin[audio]'`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from levin.data.raw import Part, RawData, class_folders, files_in, refuse_bad_files, split_folders
from levin.errors import DatasetError

SAMPLE_RATE = 16_000
N_FFT, HOP = 512, 256            # 32 ms windows, 16 ms hop at 16 kHz: keyword-spotting scale
FEATURES = {"logmel": 40, "mfcc": 13}   # default bands / coefficients per frame


def load_wav_folder(root: Path, features: str, model_shape, skip_bad: bool) -> RawData:
    try:
        import librosa
    except ImportError:
        raise DatasetError("WAV folders need librosa: pip install 'levin[audio]' "
                           "(or pip install librosa)") from None
    if features not in FEATURES:
        raise DatasetError(f"--audio-features {features}: expected one of {', '.join(FEATURES)}")
    splits = split_folders(root)
    classes = tuple(p.name for p in class_folders(next(iter(splits.values())), "WAV"))
    notes: list[str] = []
    clips: dict[str, list] = {}
    bad: list[tuple[Path, str]] = []
    for split, folder in splits.items():
        clips[split] = []
        for label, name in enumerate(classes):
            for path in files_in(folder / name):
                try:
                    clips[split].append((_read(librosa, path), label))
                except Exception as exc:  # libsndfile raises several types for a broken file
                    bad.append((path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    refuse_bad_files(bad, root, "WAV", skip_bad, notes)
    signals = [s for items in clips.values() for s, _ in items]
    if not signals:
        raise DatasetError(f"{root}: no WAV clips in the class folders {', '.join(classes)}")
    bands, length, how = _target(features, signals, model_shape)
    parts = {split: Part(np.stack([_features(librosa, s, features, bands, length) for s, _ in items]),
                         np.array([label for _, label in items], np.int64))
             for split, items in clips.items()}
    frames = next(iter(parts.values())).x.shape[-1]
    notes.append(f"{features} {bands} x {frames} frames of {1000 * HOP // SAMPLE_RATE} ms "
                 f"at {SAMPLE_RATE // 1000} kHz ({how}), by librosa {librosa.__version__}")
    return RawData(str(root), parts, classes, notes)


def _read(librosa, path: Path) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE. soundfile (libsndfile) reads the file, not librosa.load: its
    fallback to audioread warns on stderr for every broken file instead of failing."""
    import soundfile

    signal, rate = soundfile.read(path, dtype="float32", always_2d=True)
    signal = signal.mean(axis=1)
    return librosa.resample(signal, orig_sr=rate, target_sr=SAMPLE_RATE) if rate != SAMPLE_RATE else signal


def _target(features: str, signals, model_shape) -> tuple[int, int, str]:
    """(bands, samples per clip, why)."""
    if model_shape is not None and len(model_shape) == 3 and model_shape[0] == 1:
        _, bands, frames = model_shape
        return bands, (frames - 1) * HOP, "the model's input"
    return FEATURES[features], max(len(s) for s in signals), "the longest clip"


def _features(librosa, signal: np.ndarray, features: str, bands: int, length: int) -> np.ndarray:
    signal = librosa.util.fix_length(signal, size=length)
    mel = librosa.feature.melspectrogram(y=signal, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP,
                                         n_mels=bands if features == "logmel" else max(40, bands))
    out = librosa.power_to_db(mel)
    if features == "mfcc":
        out = librosa.feature.mfcc(S=out, n_mfcc=bands)
    return out.astype(np.float32)[None]
