"""Switch params.yaml to a preset: merge presets/<name>.yaml into it, keeping its
comments, check the result strictly, write it atomically.

    python scripts/use_preset.py gta5_cityscapes     # then: dvc repro
    python scripts/use_preset.py --list

Only the keys the preset names change; everything else keeps its value. Undo with
`git checkout params.yaml`.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent

from advent.config import ConfigError
from advent.io import atomic_path
from advent.params import load_params

PRESETS = ROOT / "presets"


def merge(base, preset, path: str = "") -> None:
    """Set every leaf of ``preset`` in ``base`` (a ruamel mapping), in place."""
    for key, value in preset.items():
        dotted = f"{path}.{key}" if path else key
        if key not in base:
            raise ConfigError(f"preset sets unknown parameter {dotted}")
        if isinstance(value, dict):
            merge(base[key], value, dotted)
        else:
            base[key] = value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="preset name (a file presets/<name>.yaml)")
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    p.add_argument("--presets", type=Path, default=PRESETS, help="preset folder (default: presets/)")
    p.add_argument("--list", action="store_true", help="list the presets")
    args = p.parse_args()
    names = sorted(f.stem for f in args.presets.glob("*.yaml"))
    if args.list or not args.name:
        print("\n".join(names))
        return
    if args.name not in names:
        sys.exit(f"use_preset: no preset {args.name!r}; known: {', '.join(names)}")
    yaml = YAML()
    params = yaml.load(args.params.read_text())
    try:
        merge(params, yaml.load((args.presets / f"{args.name}.yaml").read_text()))
        text = io.StringIO()
        yaml.dump(params, text)
        with tempfile.TemporaryDirectory() as scratch:
            check = Path(scratch) / "params.yaml"
            check.write_text(text.getvalue())
            load_params(check)  # strict check before anything is replaced
    except (ConfigError, ValueError) as err:
        sys.exit(f"use_preset: {args.name}: {err}")
    with atomic_path(args.params) as tmp:
        tmp.write_text(text.getvalue())
    print(f"params.yaml now uses preset {args.name}; run `dvc repro` (or `dvc exp run`)")


if __name__ == "__main__":
    main()
