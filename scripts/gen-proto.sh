#!/usr/bin/env bash
# Regenerates proto/src/fleet_proto from proto/*.proto (messages, gRPC stubs and .pyi stubs),
# with imports rewritten to be package-relative so the package imports from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
out=proto/src/fleet_proto
rm -f "$out"/*_pb2*.py "$out"/*_pb2*.pyi
python -m grpc_tools.protoc -I proto \
  --python_out="$out" --pyi_out="$out" \
  --grpc_python_out="$out" --mypy_grpc_out="$out" \
  proto/*.proto
# protoc writes `import x_pb2`; inside a package that must be `from . import x_pb2`.
sed -i -E 's/^import ([a-z_]+_pb2)( as |$)/from . import \1\2/' "$out"/*_pb2*.py "$out"/*_pb2*.pyi
cat > "$out/__init__.py" <<'PY'
"""Generated protobuf and gRPC code of the fleet. Regenerate with `make proto`; never edit by hand."""
PY
touch "$out/py.typed"
