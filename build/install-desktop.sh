#!/bin/sh
# Put the QuantPlanner bundle on a Linux desktop for this user: the icons into the hicolor theme, the desktop entry
# (its Exec the absolute path of this bundle's executable) into the applications folder. Run it from the bundle
# folder (dist/quantplanner/install-desktop.sh); PREFIX defaults to ~/.local. Undo: remove the files it lists.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exe="$here/quantplanner"
icons="$here/_internal/resources/icons"
prefix=${PREFIX:-${XDG_DATA_HOME:-$HOME/.local/share}}
[ -x "$exe" ] || { echo "install-desktop.sh: run it from the bundle folder ($exe is missing)" >&2; exit 2; }
for size in 16 24 32 48 64 128 256 512; do
  dir="$prefix/icons/hicolor/${size}x${size}/apps"
  mkdir -p "$dir"
  cp "$icons/quantplanner-$size.png" "$dir/quantplanner.png"
  echo "$dir/quantplanner.png"
done
mkdir -p "$prefix/icons/hicolor/scalable/apps" "$prefix/applications"
cp "$icons/quantplanner.svg" "$prefix/icons/hicolor/scalable/apps/quantplanner.svg"
echo "$prefix/icons/hicolor/scalable/apps/quantplanner.svg"
entry="$prefix/applications/quantplanner.desktop"
sed -e "s|^Exec=quantplanner|Exec=\"$exe\"|" -e "s|^TryExec=quantplanner|TryExec=$exe|" "$here/quantplanner.desktop" > "$entry.tmp"
mv "$entry.tmp" "$entry"
echo "$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$prefix/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$prefix/icons/hicolor" || true
