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

from ruamel.yaml import YAML, YAMLError

ROOT = Path(__file__).resolve().parent.parent

from advent.cli import add_debug_flag, run_tool
from advent.config import ConfigError, yaml_error_message
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


def _load(yaml: YAML, path: Path):
    """The round-trip YAML of ``path``; a syntax error names the line and column."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"))
    except YAMLError as err:
        raise ConfigError(yaml_error_message(path, err)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="preset name (a file presets/<name>.yaml)")
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    p.add_argument("--presets", type=Path, default=PRESETS, help="preset folder (default: presets/)")
    p.add_argument("--list", action="store_true", help="list the presets")
    add_debug_flag(p)
    args = p.parse_args(argv)
    names = sorted(f.stem for f in args.presets.glob("*.yaml"))
    if args.list or not args.name:
        print("\n".join(names))
        return 0
    if args.name not in names:
        raise ValueError(f"no preset {args.name!r} in {args.presets}; known: {', '.join(names)}")
    yaml = YAML()
    params = _load(yaml, args.params)
    preset_file = args.presets / f"{args.name}.yaml"
    try:
        merge(params, _load(yaml, preset_file))
    except ConfigError as err:
        raise ConfigError(f"{preset_file}: {err}") from None
    text = io.StringIO()
    yaml.dump(params, text)
    with tempfile.TemporaryDirectory() as scratch:
        check = Path(scratch) / "params.yaml"
        check.write_text(text.getvalue())
        try:
            load_params(check)  # strict check before anything is replaced
        except ConfigError as err:
            raise ConfigError(f"{args.params} with preset {args.name}: "
                              f"{str(err).replace(str(check), str(args.params))}") from None
    with atomic_path(args.params) as tmp:
        tmp.write_text(text.getvalue())
    print(f"{args.params} now uses preset {args.name}; run `dvc repro` (or `dvc exp run`)")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main, name="use_preset"))
