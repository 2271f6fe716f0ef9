#!/usr/bin/env bash
# Regenerates the generated documentation: docs/cli.md, the CLI reference, from the lorakit command line
# (train and sweep: the run contract's option table, TrainRequest.Options). Run it after adding or changing a
# command or option, review `git diff docs/`, and commit. CI runs the same test without accepting, so a stale
# docs/cli.md fails there; accepting is refused when CI=true.
# Usage: eng/docs.sh [Configuration]
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${1:-Release}"
if [ "${CI:-}" = "true" ]; then
  echo "eng/docs.sh: refused when CI=true (CI checks docs/cli.md, it does not rewrite it)" >&2
  exit 2
fi
LORAKIT_ACCEPT_DOCS=1 dotnet test tests/LoraKit.Cli.Tests -c "$configuration" -nologo \
  --filter "FullyQualifiedName~LoraKit.Cli.Tests.CliReferenceTests"
git --no-pager diff --stat -- docs/cli.md 2>/dev/null || true
