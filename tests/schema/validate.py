#!/usr/bin/env python3
"""Validate YAML files against a JSON Schema with the `jsonschema` package (PyPI; Debian's
python3-jsonschema), the outside validator tests/schema_test.rs runs.

Usage: validate.py SCHEMA.json FILE.yaml...
Prints one line per file: `ok FILE` or `bad FILE: PATH: MESSAGE` (jsonschema's best match of its errors), and
`jsonschema VERSION` first. Exits 0 when it could judge every file (whatever the verdicts), 3 when
jsonschema or PyYAML is missing."""
import json
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:
    print(f"missing: {e.name}", file=sys.stderr)
    sys.exit(3)

try:
    from importlib.metadata import version
    print(f"jsonschema {version('jsonschema')}")
except Exception:
    print(f"jsonschema {getattr(jsonschema, '__version__', 'unknown')}")

with open(sys.argv[1]) as f:
    schema = json.load(f)
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema)
for path in sys.argv[2:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    e = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if e is not None:
        where = "/".join(map(str, e.absolute_path)) or "(top)"
        print(f"bad {path}: {where}: {e.message}".replace("\n", " "))
    else:
        print(f"ok {path}")
