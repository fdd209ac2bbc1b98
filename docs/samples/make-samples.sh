#!/usr/bin/env bash
# Regenerates the sample reports in docs/samples/ (run from the repository root after `make setup`):
# Llama-3.1-70B from its bundled config on RTX 4090s and on one H100, as PDF and HTML, with PNG previews of the PDF's
# first pages (pdftoppm) and of the HTML (headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/../.."
QP=.venv/bin/quantplanner
OUT=docs/samples
export HF_HUB_OFFLINE=1
for case in "rtx-4090:llama-3.1-70b-rtx-4090" "h100-sxm:llama-3.1-70b-h100"; do
  gpu=${case%%:*}; name=${case#*:}
  $QP plan meta-llama/Llama-3.1-70B --gpu "$gpu" --report "$OUT/$name.json" > /dev/null
  $QP report "$OUT/$name.json" --out "$OUT/$name.pdf"
  $QP report "$OUT/$name.json" --out "$OUT/$name.html"
  rm -f "$OUT/$name"-page-*.png
  pdftoppm -r 60 -png -f 1 -l 3 "$OUT/$name.pdf" "$OUT/$name-page"
  for f in "$OUT/$name"-page-0*.png; do [ -e "$f" ] && mv "$f" "${f/-page-0/-page-}"; done  # 10+ pages: page-01
  profile=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1000,1500 --screenshot="$OUT/$name-html.png" "file://$PWD/$OUT/$name.html" 2>/dev/null
  rm -rf "$profile"
done
ls -la "$OUT"
