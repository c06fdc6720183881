"""Turn a DATA argument into a listing of classes and items per split, without decoding anything.

Accepted forms (see docs/design.md): an ImageFolder folder (with or without train/ val/ test/), a CSV of
``path,label`` (optional ``split``), ``builtin:NAME`` and ``torchvision:NAME``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liftlab.data.images import BadFile, is_image_name
from liftlab.errors import BadInputError

SPLIT_NAMES = ("train", "val", "test")
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation", "dev"),
    "test": ("test", "testing"),
}
"""Folder names, compared case-insensitively, that make a split; anything else at the top of a split layout
is an error, so that no folder of a user's is silently dropped or taken for a class."""


def split_of(folder_name: str) -> str | None:
    """The split a top-level folder name stands for (`Training` -> train, `validation` -> val), or None.

    >>> split_of("Testing"), split_of("dev"), split_of("cats")
    ('test', 'val', None)
    """
    lowered = folder_name.lower()
    return next((split for split, names in SPLIT_ALIASES.items() if lowered in names), None)


@dataclass
class SplitItems:
    """The items of one split: file paths to decode, or images already in memory (N, C, H, W uint8)."""

    labels: list[int]
    paths: list[Path] | None = None
    images: np.ndarray | None = None
    ids: list[str] | None = None  # names of in-memory items; "#<index in the source>" by default

    def __post_init__(self) -> None:
        if self.paths is None and self.ids is None:
            self.ids = [f"#{i}" for i in range(len(self.labels))]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: list[int]) -> SplitItems:
        return SplitItems(
            labels=[self.labels[i] for i in indices],
            paths=None if self.paths is None else [self.paths[i] for i in indices],
            images=None if self.images is None else self.images[indices],
            ids=None if self.ids is None else [self.ids[i] for i in indices],
        )

    def names(self, root: Path | None) -> list[str]:
        """Stable names of the items for records: paths relative to `root`, or array indices."""
        if self.paths is None:
            return list(self.ids or [])
        return [_relative(path, root) for path in self.paths]


@dataclass
class Source:
    """What a DATA argument holds: classes, items per split, and files found but not used."""

    spec: str
    classes: list[str]
    splits: dict[str, SplitItems]
    root: Path | None = None
    non_image_files: list[str] = field(default_factory=list)
    missing_files: list[BadFile] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    split_folders: dict[str, str] = field(default_factory=dict)  # split -> the folder it was read from
    hidden_folders: list[str] = field(default_factory=list)  # dot-folders inside class folders, never read

    @property
    def predefined_splits(self) -> bool:
        return "all" not in self.splits


def _relative(path: Path, root: Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


OUTSIDE = "a link to a file outside the data root (refused)"


def _inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every `..` and symbolic link resolved, is within `root`."""
    return path.resolve().is_relative_to(root)


def _dot_folder(path: Path, class_dir: Path) -> Path | None:
    """The dot-folder inside `class_dir` that `path` lies under (`.ipynb_checkpoints/`, `.git/`, `.thumbs/`), or
    None: tools keep copies there, and reading them as class images would train and test on hidden duplicates."""
    parts = path.relative_to(class_dir).parts[:-1]
    first = next((i for i, part in enumerate(parts) if part.startswith(".")), None)
    return None if first is None else class_dir.joinpath(*parts[: first + 1])


def _list_class_folders(folder: Path, root: Path) -> tuple[dict[str, list[Path]], list[str], list[BadFile], list[str]]:
    """Image files per class sub-folder (recursive, sorted), the non-image files seen, the files that link
    outside `root` (never read: a data folder must not expose files elsewhere), and the dot-folders inside
    class folders (skipped, listed by the data check)."""
    per_class: dict[str, list[Path]] = {}
    ignored: list[str] = []
    outside: list[BadFile] = []
    hidden: set[str] = set()
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = []
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            dot_folder = _dot_folder(path, class_dir)
            if dot_folder is None:
                files.append(path)
            else:
                hidden.add(str(dot_folder))
        # resolved once per file: on 20,000 CIFAR-10 files the resolving is 3-4 s of a run's start
        inside = {p: _inside(p, root) for p in files}
        outside.extend(BadFile(str(p), OUTSIDE) for p in files if not inside[p])
        files = [p for p in files if inside[p]]
        per_class[class_dir.name] = [p for p in files if is_image_name(p)]
        ignored.extend(str(p) for p in files if not is_image_name(p))
    ignored.extend(str(p) for p in sorted(folder.iterdir()) if p.is_file())
    return per_class, ignored, outside, sorted(hidden)


def _split_folders(folder: Path) -> dict[str, Path]:
    """The split folders at the top of `folder` by split, or {} when it has none (a plain class layout).

    Raises when two folders name one split, or when split folders stand beside any other folder."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    found: dict[str, list[Path]] = {}
    for sub in subdirs:
        split = split_of(sub.name)
        if split is not None:
            found.setdefault(split, []).append(sub)
    if not found:
        return {}
    for split, paths in found.items():
        if len(paths) > 1:
            raise BadInputError(
                f"DATA {folder}: folders {', '.join(p.name for p in paths)} all name the {split} split; keep one"
            )
    others = [p.name for p in subdirs if split_of(p.name) is None]
    if others:
        raise BadInputError(
            f"DATA {folder}: split folders ({', '.join(p.name for paths in found.values() for p in paths)}) "
            f"stand beside folder(s) that name no split: {', '.join(others)}. Expected only "
            f"train/, val/ and test/ (or training/, validation/, valid/, dev/, testing/, in any case); "
            "move or remove the other folder(s), or put every class folder at the top level"
        )
    if "train" not in found:
        raise BadInputError(
            f"DATA {folder}: has {', '.join(p.name for paths in found.values() for p in paths)} but no training "
            "folder; expected train/ (or training/) beside them"
        )
    return {split: paths[0] for split, paths in found.items()}


def _folder_source(spec: str, folder: Path) -> Source:
    split_dirs = _split_folders(folder)
    listings: dict[str, dict[str, list[Path]]] = {}
    ignored: list[str] = []
    refused: list[BadFile] = []
    hidden: list[str] = []
    for split, split_dir in (split_dirs or {"all": folder}).items():
        per_class, seen, outside, skipped = _list_class_folders(split_dir, folder)
        listings[split] = per_class
        ignored.extend(seen)
        refused.extend(outside)
        hidden.extend(skipped)
    if split_dirs:
        ignored.extend(str(p) for p in sorted(folder.iterdir()) if p.is_file())
    classes = sorted({name for per_class in listings.values() for name in per_class})
    if not classes:
        raise BadInputError(
            f"DATA {folder}: no class folders found; expected ImageFolder layout "
            f"({folder}/<class>/<image> or {folder}/train/<class>/<image> with test/)"
        )
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split, per_class in listings.items():
        paths = [p for name in classes for p in per_class.get(name, [])]
        labels = [index[name] for name in classes for _ in per_class.get(name, [])]
        splits[split] = SplitItems(labels=labels, paths=paths)
    counts = {name: sum(len(per_class.get(name, [])) for per_class in listings.values()) for name in classes}
    empty = [name for name, count in counts.items() if count == 0]
    if len(classes) - len(empty) < 2:
        raise BadInputError(f"DATA {folder}: found {len(classes) - len(empty)} class(es) with images; need at least 2")
    return Source(
        spec,
        classes,
        splits,
        root=folder,
        non_image_files=ignored,
        missing_files=refused,
        empty_classes=empty,
        split_folders={split: path.name for split, path in split_dirs.items()},
        hidden_folders=hidden,
    )


def _confined(csv_path: Path, raw: str, line: int) -> Path:
    """The file a CSV row names (relative to the CSV's folder), refused when it leaves that folder
    once `..`, absolute paths and symbolic links are resolved."""
    root = csv_path.parent
    if "\x00" in raw:
        raise BadInputError(f"DATA {csv_path}, line {line}: column 'path' contains a NUL byte")
    candidate = root / raw
    if not _inside(candidate, root):
        raise BadInputError(
            f"DATA {csv_path}, line {line}: path {raw!r} resolves to {candidate.resolve()}, outside the data "
            f"root {root}; paths in the CSV must stay within the CSV's folder"
        )
    return candidate


def _csv_source(spec: str, path: Path) -> Source:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise BadInputError(f"DATA {path}: cannot be read ({error.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "path" not in columns or "label" not in columns:
            raise BadInputError(f"DATA {path}: expected columns 'path,label' (optional 'split'), found {columns}")
        rows = []
        try:
            numbered = list(enumerate(reader, start=2))
        except csv.Error as error:
            raise BadInputError(f"DATA {path}, line {reader.line_num}: not a valid CSV row ({error})") from None
        for line, row in numbered:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not row.get("path") or not row.get("label"):
                raise BadInputError(f"DATA {path}, line {line}: empty 'path' or 'label' (found {row})")
            split = row.get("split") or "all"
            if split not in ("all", *SPLIT_NAMES):
                raise BadInputError(
                    f"DATA {path}, line {line}: column 'split' must be train, val or test, found {split!r}"
                )
            rows.append((_confined(path, row["path"], line), row["label"], split))
    if not rows:
        raise BadInputError(f"DATA {path}: no rows after the header")
    classes = sorted({label for _, label, _ in rows})
    index = {name: i for i, name in enumerate(classes)}
    used_splits = {split for _, _, split in rows}
    if used_splits != {"all"} and ("train" not in used_splits or "test" not in used_splits or "all" in used_splits):
        raise BadInputError(
            f"DATA {path}: column 'split' must be given on every row and include train and test; "
            f"found {sorted(used_splits)}"
        )
    missing = [BadFile(str(file_path), "file not found") for file_path, _, _ in rows if not file_path.is_file()]
    splits = {
        split: SplitItems(
            labels=[index[label] for _, label, s in rows if s == split],
            paths=[file_path for file_path, _, s in rows if s == split],
        )
        for split in sorted(used_splits)
    }
    return Source(spec, classes, splits, root=path.parent, missing_files=missing)


def _digits_source(spec: str) -> Source:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # The 8x8 images hold counts 0..16; scale to the full uint8 range.
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)[:, None]
    return Source(spec, [str(i) for i in range(10)], {"all": SplitItems(list(map(int, digits.target)), images=images)})


BUILTINS: dict[str, Callable[[str], Source]] = {"digits": _digits_source}


def register_builtin(name: str, loader: Callable[[str], Source]) -> None:
    """Make `builtin:NAME` available (data modules call this for their own generated sets)."""
    BUILTINS[name] = loader


def _torchvision_source(spec: str, name: str, cache: Path) -> Source:
    import torchvision.datasets as tv_datasets

    dataset_class = getattr(tv_datasets, name, None)
    if dataset_class is None or not isinstance(dataset_class, type):
        known = sorted(n for n in dir(tv_datasets) if n[:1].isupper() and not n.endswith("Folder"))
        raise BadInputError(f"DATA {spec}: torchvision has no data set {name!r}; known: {', '.join(known)}")
    root = cache / "torchvision" / name
    root.mkdir(parents=True, exist_ok=True)
    splits: dict[str, SplitItems] = {}
    classes: list[str] = []
    for split in ("train", "test"):
        try:
            try:
                dataset = dataset_class(str(root), train=split == "train", download=True)
            except TypeError:
                dataset = dataset_class(str(root), split=split, download=True)
        except (OSError, RuntimeError, ValueError) as error:
            raise BadInputError(
                f"DATA {spec}: could not download into {root} ({error}). Without a network, pass a folder in "
                "ImageFolder layout instead (DATA/<class>/<image>, or DATA/train/... and DATA/test/...)."
            ) from None
        images = np.asarray(getattr(dataset, "data", None))
        labels = getattr(dataset, "targets", None) or getattr(dataset, "labels", None)
        if images.ndim not in (3, 4) or labels is None:
            raise BadInputError(f"DATA {spec}: this torchvision data set is not an in-memory image set")
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        splits[split] = SplitItems(
            [int(v) for v in labels],
            images=np.ascontiguousarray(images, dtype=np.uint8),
            ids=[f"{split}#{i}" for i in range(len(labels))],
        )
        classes = [str(c) for c in getattr(dataset, "classes", sorted(set(splits[split].labels)))]
    return Source(spec, classes, splits, root=root)


def open_source(spec: str, cache: Path) -> Source:
    """Resolve a DATA argument into a Source, or raise BadInputError saying what was expected."""
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in BUILTINS:
            raise BadInputError(f"DATA {spec}: unknown builtin data set; known: {', '.join(sorted(BUILTINS))}")
        return BUILTINS[name](spec)
    if spec.startswith("torchvision:"):
        return _torchvision_source(spec, spec.split(":", 1)[1], cache)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder_source(spec, path.resolve())
    if path.is_file() and path.suffix.lower() == ".csv":
        return _csv_source(spec, path.resolve())
    if path.exists():
        raise BadInputError(f"DATA {spec}: expected a folder or a .csv file, found a {path.suffix or 'plain'} file")
    raise BadInputError(
        f"DATA {spec}: no such folder or file; expected a folder (ImageFolder layout), a CSV with "
        f"path,label columns, builtin:{{{','.join(sorted(BUILTINS))}}} or torchvision:NAME"
    )
