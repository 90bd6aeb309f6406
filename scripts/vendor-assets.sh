#!/usr/bin/env bash
# Vendor the browser assets Taskgate serves itself (the documentation pages and the
# dashboard) into DEST (default app/static/vendor): the packages of package.json, at the
# versions and hashes package-lock.json pins, from the npm registry. Run at build time
# (`make assets`, the image build); nothing is fetched when a page loads.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dest=${1:-app/static/vendor}

if ! command -v npm >/dev/null; then
  echo "npm is missing: install Node.js and npm (apt-get install npm) to vendor the documentation and dashboard assets" >&2
  exit 1
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null

# Each file a page loads, as <package file> <vendored name>.
files=(
  "swagger-ui-dist/swagger-ui-bundle.js swagger-ui/swagger-ui-bundle.js"
  "swagger-ui-dist/swagger-ui.css swagger-ui/swagger-ui.css"
  "swagger-ui-dist/favicon-32x32.png favicon.png"
  "@asyncapi/react-component/browser/standalone/index.js asyncapi/standalone.js"
  "@asyncapi/react-component/styles/default.min.css asyncapi/default.min.css"
  "htmx.org/dist/htmx.min.js htmx/htmx.min.js"
  "uplot/dist/uPlot.iife.min.js uplot/uPlot.iife.min.js"
  "uplot/dist/uPlot.min.css uplot/uPlot.min.css"
)
staging="$dest.partial"
rm -rf "$staging"
for pair in "${files[@]}"; do
  read -r source target <<<"$pair"
  mkdir -p "$staging/$(dirname "$target")"
  cp "node_modules/$source" "$staging/$target"
done
# The versions served, for the pages' own checks and for people.
node -e '
  const lock = require("./package-lock.json").packages;
  const pinned = Object.fromEntries(Object.keys(require("./package.json").dependencies)
    .map((name) => [name, lock["node_modules/" + name].version]));
  console.log(JSON.stringify(pinned, null, 2));
' >"$staging/versions.json"
rm -rf "$dest"
mv "$staging" "$dest"
