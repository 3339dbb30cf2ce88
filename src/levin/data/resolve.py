"""One entry point for "the data": `load_source(source)` reads any source kind into a `Dataset`.

Source kinds, by what `source` is:
  path/to/file.py:factory   your function (levin.data.factory)
  *.npz, *.npy              arrays (levin.data.arrays)
  *.csv                     a table (levin.data.table)
  a folder                  of WAV clips (levin.data.audio) or images (levin.data.images), in
                            class subfolders
The result is checked (finite inputs, one input shape across splits), split (the source's own
test split, else a seeded share) and described in one line by `describe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from levin.data import arrays, audio, factory, images, table
from levin.data.raw import RawData, check_finite, files_in
from levin.data.splits import TEST_FRACTION, carve
from levin.errors import DatasetError
from levin.train.data import Dataset

KINDS = "a .npz, .npy or .csv file, a folder of images or WAV clips in class subfolders, " \
        "or path/to/file.py:factory"
WAV = (".wav", ".wave")


@dataclass(frozen=True)
class DataOptions:
    layout: str | None = None            # nchw, nhwc, ncl, nlc, nf; None infers it
    label_column: str | None = None      # CSV: the label column (default "label")
    audio_features: str = "logmel"       # WAV: logmel or mfcc
    skip_bad: bool = False               # image / WAV folders: skip unreadable files
    seed: int = 0                        # the test split, when levin makes it
    unlabelled: bool = False             # arrays without labels are welcome (calibration only)
    values: bool = False                 # regression: the targets are numbers, not class labels
    test_fraction: float = TEST_FRACTION


def read(source: str, options: DataOptions, model_shape=None) -> RawData:
    """The source's samples as read, before splitting."""
    if factory.is_factory(source):
        return factory.load_factory(source, options.layout, model_shape, options.values)
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(f"no such file or folder {source} (--data takes {KINDS})")
    if path.is_dir():
        if options.values:
            raise DatasetError(f"{source}: a folder of class subfolders holds classes; regression "
                               f"targets come from a .npz, .npy, .csv or path/to/file.py:factory")
        if any(f.suffix.lower() in WAV for f in files_in(path)[:1000]):
            return audio.load_wav_folder(path, options.audio_features, model_shape, options.skip_bad)
        return images.load_image_folder(path, model_shape, options.skip_bad)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return arrays.load_npz(path, options.layout, model_shape, options.unlabelled, options.values)
    if suffix == ".npy":
        return arrays.load_npy(path, options.layout, model_shape, options.unlabelled, options.values)
    if suffix == ".csv":
        return table.load_csv(path, options.label_column, options.values)
    raise DatasetError(f"{source}: unknown kind of data ({suffix or 'no extension'}); --data takes {KINDS}")


def load_source(source: str, options: DataOptions = DataOptions(), model_shape=None) -> Dataset:
    """`source` as a Dataset (channels-first float32 inputs, int64 labels), checked and split.

    Args:
        model_shape: the model's input shape (one sample, channels first), if known: images are
            resized to it, WAV clips cut to its frames, and it settles an ambiguous array layout.
    Raises:
        DatasetError: a missing or unreadable source, NaN in the inputs, mismatched shapes.
    """
    raw = read(str(source), options, model_shape)
    shapes = {split: part.x.shape[1:] for split, part in raw.parts.items()}
    if len(set(shapes.values())) > 1:
        raise DatasetError(f"{source}: the splits' inputs differ in shape "
                           f"({', '.join(f'{k} {list(v)}' for k, v in shapes.items())})")
    for split, part in raw.parts.items():
        if len(part.x) == 0:
            raise DatasetError(f"{source}: the {split} split has no samples")
        check_finite(part.x, str(source) if split == "all" else f"{source} ({split})")
    if "all" in raw.parts:
        train, test = carve(raw.parts["all"], options.test_fraction, options.seed, "test", str(source))
        how = {"test_from": "carved", "test_fraction": options.test_fraction, "test_seed": options.seed}
    else:
        train, test = raw.parts["train"], raw.parts["test"]
        how = {"test_from": "given"}
    split = {"source": str(source), "read": list(raw.notes), **how}
    return Dataset(str(source), train.x, train.y, test.x, test.y, raw.classes, split=split)


def describe(data: Dataset) -> str:
    """One line: what was read, its shape and classes, how it was split."""
    s = data.split
    total = len(data.x_train) + len(data.x_test) + (0 if data.x_val is None else len(data.x_val))
    parts = [f"{len(data.x_train):,} train"]
    if data.x_val is not None:
        parts.append(f"{len(data.x_val):,} validation (seed {s.get('validation_seed', 0)})")
    test = f"{len(data.x_test):,} test"
    if s.get("test_from") == "carved":
        test += f" (carved {s['test_fraction']:g}, seed {s['test_seed']})"
    elif s.get("test_from") == "given":
        test += " (given)"
    parts.append(test)
    read = "; ".join(s.get("read", []))
    return (f"data: {data.name}: {total:,} samples of {'x'.join(map(str, data.input_shape))}, "
            + (f"{data.num_classes} classes" if data.y_train.dtype.kind in "iu" else
               f"targets of {'x'.join(map(str, data.y_train.shape[1:])) or 1} value(s)")
            + (f"; {read}" if read else "") + f"; split {' / '.join(parts)}")
