"""A folder of images in class subfolders (`root/<class>/*.png`), read with Pillow.

Images are resized to the model's input (H, W) and made grayscale or RGB to match its channels;
without a model shape, to the first image's size, grayscale if every image is. A folder with
`train/` and `test/` subfolders (each with class subfolders) gives its own test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from levin.data.raw import Part, RawData, class_folders, files_in, refuse_bad_files, split_folders
from levin.errors import DatasetError


def load_image_folder(root: Path, model_shape, skip_bad: bool) -> RawData:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DatasetError("image folders need Pillow: pip install 'levin[images]' "
                           "(or pip install pillow)") from None

    splits = split_folders(root)
    classes = tuple(p.name for p in class_folders(next(iter(splits.values())), "image"))
    notes: list[str] = []
    found: dict[str, list] = {}
    bad: list[tuple[Path, str]] = []
    for split, folder in splits.items():
        found[split] = []
        for label, name in enumerate(classes):
            for path in files_in(folder / name):
                try:
                    with Image.open(path) as im:
                        im.load()
                        found[split].append((im.copy(), label))
                except (UnidentifiedImageError, OSError, ValueError) as exc:
                    bad.append((path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    refuse_bad_files(bad, root, "image", skip_bad, notes)
    images = [im for items in found.values() for im, _ in items]
    if not images:
        raise DatasetError(f"{root}: no images in the class folders {', '.join(classes)}")
    mode, size, how = _target(images, model_shape)
    parts = {}
    for split, items in found.items():
        x = np.stack([_pixels(im, mode, size) for im, _ in items])
        parts[split] = Part(x, np.array([label for _, label in items], np.int64))
    resized = sum(im.size != size for im in images)
    notes.append(f"{'grayscale' if mode == 'L' else 'RGB'} {size[1]}x{size[0]} ({how})"
                 + (f", {resized} image(s) resized" if resized else ""))
    return RawData(str(root), parts, classes, notes)


def _target(images, model_shape) -> tuple[str, tuple[int, int], str]:
    """(Pillow mode, (width, height), why) of the inputs."""
    if model_shape is not None and len(model_shape) == 3 and model_shape[0] in (1, 3):
        c, h, w = model_shape
        return ("L" if c == 1 else "RGB"), (w, h), "the model's input"
    gray = all(im.mode in ("L", "1", "I", "I;16", "F") for im in images)
    return ("L" if gray else "RGB"), images[0].size, "the first image's size"


def _pixels(image, mode: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    image = image.convert(mode)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    array = np.asarray(image, np.float32) / 255.0
    return array[None] if mode == "L" else array.transpose(2, 0, 1)
