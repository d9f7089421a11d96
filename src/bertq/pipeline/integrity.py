"""Sealed results: every file a job writes gets a seal, its SHA-256, size and the rule that wrote
it, in a hidden sidecar beside it (``.<name>.sha256``); every job checks the seals of the files it
reads before it starts (:func:`bertq.pipeline.jobs.run`), so a damaged (truncated) or hand-edited
result stops the first job that would trust it, with the file named and what to do. Files
without a seal (written before seals existed, or by hand) are read unchecked. :func:`verify`
checks a whole tree (``bertq verify``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .workflow import atomic_path

SEAL = ".{name}.sha256"
CHUNK = 1 << 22
LEFTOVER = re.compile(r"^\..+(\.tmp\d+|\.partial)$")
"""What a killed write leaves: :func:`~bertq.pipeline.workflow.atomic_path`'s temporary siblings
and fine-tuning's staging directory."""
TEXT_SUFFIXES = (".json", ".csv", ".md", ".tsv", ".txt")


class IntegrityError(InputError):
    """A sealed file no longer has the content its job wrote."""


def seal_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(SEAL.format(name=path.name))


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def seal(path: str | os.PathLike, rule: str) -> None:
    """Write ``path``'s seal (via a temporary name, renamed into place)."""
    path = Path(path)
    with atomic_path(seal_path(path)) as tmp:
        tmp.write_text(json.dumps({"sha256": sha256_file(path), "size": path.stat().st_size, "rule": rule}))


def _what(path: Path) -> str:
    return "edited" if path.suffix in TEXT_SUFFIXES else "damaged"


def check(path: str | os.PathLike) -> bool:
    """Whether ``path`` is sealed; raises :class:`IntegrityError` when its content is not what its
    job wrote (the size is compared first, then the SHA-256)."""
    return checked_sha256(path, hash_unsealed=False) is not None


def checked_sha256(path: str | os.PathLike, hash_unsealed: bool = True) -> str | None:
    """``path``'s SHA-256, checked against its seal (:class:`IntegrityError` when they differ); an
    unsealed file is hashed as it is (or, with ``hash_unsealed`` false, gives ``None``)."""
    path = Path(path)
    target = seal_path(path)
    if not target.is_file():
        return sha256_file(path) if hash_unsealed else None
    try:
        expected = json.loads(target.read_text())
        sha, size, rule = expected["sha256"], int(expected["size"]), expected["rule"]
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{target}: the seal of {path} is unreadable; delete both and rerun the job") from None
    actual_size = path.stat().st_size
    if actual_size != size or sha256_file(path) != sha:
        change = f"{actual_size} bytes, written with {size}" if actual_size != size else "its SHA-256 differs"
        raise IntegrityError(
            f"{path} was {_what(path)} after rule {rule} wrote it ({change}); delete it, or rerun with "
            f"--forcerun {rule}, to make it again"
        )
    return sha


def prune_stale_seals(root: str | os.PathLike) -> int:
    """Remove the seals under ``root`` whose file is gone (temporary outputs Snakemake deleted after
    their last reader); returns how many."""
    removed = 0
    for directory, _, files in os.walk(root):
        for name in files:
            if name.startswith(".") and name.endswith(".sha256"):
                sealed = Path(directory) / name[1 : -len(".sha256")]
                if not sealed.exists():
                    (Path(directory) / name).unlink(missing_ok=True)
                    removed += 1
    return removed


@dataclass
class Verified:
    """What :func:`verify` found: sealed files intact, damaged or edited files (with the reason),
    unsealed files, and leftovers of killed writes."""

    intact: list[Path] = field(default_factory=list)
    broken: dict[Path, str] = field(default_factory=dict)
    unsealed: list[Path] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken and not self.leftovers

    def lines(self) -> list[str]:
        out = [f"damaged or edited: {reason}" for reason in self.broken.values()]
        out += [f"left by a killed write: {p}" for p in self.leftovers]
        out.append(
            f"{len(self.intact)} sealed files intact, {len(self.broken)} damaged or edited, "
            f"{len(self.unsealed)} unsealed, {len(self.leftovers)} leftovers"
        )
        return out


def verify(root: str | os.PathLike) -> Verified:
    """Check every sealed file under ``root``; list damaged and edited ones, unsealed ones and the
    leftovers of killed writes (a seal whose file is gone, a temporary output removed after use,
    is not a finding)."""
    found = Verified()
    for directory, dirs, files in os.walk(root):
        base = Path(directory)
        for name in sorted(dirs):
            if LEFTOVER.match(name):
                found.leftovers.append(base / name)
        dirs[:] = sorted(d for d in dirs if not LEFTOVER.match(d))
        for name in sorted(files):
            path = base / name
            if LEFTOVER.match(name):
                found.leftovers.append(path)
            elif name.startswith(".") and name.endswith(".sha256"):
                continue
            else:
                try:
                    (found.intact if check(path) else found.unsealed).append(path)
                except IntegrityError as exc:
                    found.broken[path] = str(exc)
    return found
