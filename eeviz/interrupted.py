"""What a command had written when Ctrl-C stopped it, said in one line (``eeviz.cli`` prints it, exit status 130).

Every file a command writes is written whole or not at all (``eeviz.files.write_atomically``, the checkpoint's
folder swap), so an interrupted command leaves either nothing or whole files. Which ones: the places a command
writes to (``output_places``) are looked at before it runs and again after the interrupt; a file that is new or
changed was written by it. A training run interrupted after an epoch keeps that epoch (``--resume``), and the
line says so.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .messages import plural

# a folder given as an output (train's --out-dir) is looked through up to this many files: enough for every
# checkpoint folder of a preset, not a walk of a whole disk given by mistake
MAX_FILES = 20_000

Snapshot = dict[Path, tuple[int, int]]  # file -> (modification time in ns, size)


def _options(argv: list[str], *names: str) -> argparse.Namespace:
    """The values of the options ``names`` in a command's arguments (the others are let through)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in names:
        parser.add_argument(name)
    parser.add_argument("--preset")
    known, _ = parser.parse_known_args(argv)
    return known


def output_places(command: str, argv: list[str]) -> list[Path]:
    """The files and folders ``eeviz COMMAND ARGV`` may write; [] for a command that writes nothing (trace)."""
    try:
        if command == "evaluate":
            from .checkpoint import CheckpointLayout

            args = _options(argv, "--checkpoint", "--json")
            places = [Path(args.json)] if args.json else []
            if args.checkpoint:
                layout = CheckpointLayout(args.checkpoint)
                places += [layout.eval, layout.dev_eval, layout.config]  # --choose-defaults writes config.json
            return places
        if command == "train":
            args = _options(argv, "--out", "--out-dir")
            if args.out:
                return [Path(args.out)]
            return [Path(args.out_dir or "checkpoints")] if args.preset else []
        if command == "bench":
            args = _options(argv, "--json")
            return [Path(args.json)] if args.json else []
        if command == "report":
            from .catalog import checkpoints_root

            args = _options(argv, "--root")
            return [(Path(args.root) if args.root else checkpoints_root()) / "README.md"]
    except SystemExit:  # an option without its value: the command itself says so
        return []
    return []


def snapshot(places: list[Path]) -> Snapshot:
    """Each file at or under ``places`` with its modification time and size."""
    seen: Snapshot = {}
    for place in places:
        if place.is_file():
            _note(seen, place)
        elif place.is_dir():
            for folder, _, files in os.walk(place):
                for name in files:
                    if len(seen) >= MAX_FILES:
                        return seen
                    _note(seen, Path(folder) / name)
    return seen


def _note(seen: Snapshot, path: Path) -> None:
    try:
        stat = path.stat()
    except OSError:  # gone since it was listed (a save moving folders)
        return
    seen[path] = (stat.st_mtime_ns, stat.st_size)


def written(before: Snapshot, after: Snapshot) -> list[Path]:
    """Files new in ``after`` or changed since ``before``; those in hidden folders (a run's .resume/) last."""
    changed = [path for path, state in after.items() if before.get(path) != state]
    return sorted(changed, key=lambda path: (any(part.startswith(".") for part in path.parent.parts), path))


def interrupted_line(command: str, argv: list[str], before: Snapshot | None) -> str:
    """The one line said when Ctrl-C stops ``eeviz COMMAND ARGV``: nothing written, or what was (``before``:
    the snapshot of its outputs taken as it started; None when it was stopped before that)."""
    places = output_places(command, argv)
    files = [] if before is None else written(before, snapshot(places))
    if not files:
        return "interrupted: nothing written"
    shown = ", ".join(str(path) for path in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    line = f"interrupted: wrote {plural(len(files), 'file')} before stopping ({shown})"
    if command == "train":
        unfinished = _unfinished_runs(places)
        if unfinished:
            line += (f"; {', '.join(map(str, unfinished))} keep{'s' if len(unfinished) == 1 else ''} the run to its "
                     "last finished epoch: give the same command with --resume to continue it")
    return line


def _unfinished_runs(places: list[Path]) -> list[Path]:
    """Training folders at or one level under ``places`` (a preset's OUT_DIR/METHOD) with a resume state."""
    from .checkpoint import CheckpointLayout

    folders = [p for place in places for p in (place, *(sorted(place.iterdir()) if place.is_dir() else ()))]
    return [folder for folder in folders if folder.is_dir() and CheckpointLayout(folder).resume_state.is_file()]
