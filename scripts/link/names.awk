# The one rule for the names of scripts/link/idle-functions.txt, shared by
# the linker (scripts/link/rust-lld) and the list's maker
# (scripts/idle-functions.sh): a mangled name without its `17h…E` hash and
# LLVM's `.N`/`.llvm.N` suffixes, which change from build to build.
#   awk -v mode=names -f names.awk   callgrind's names in, the list's out
#   awk -v mode=order -v list=LIST -f names.awk MAP
#                                    the `.text` symbols of an lld map
#                                    (-Map, --no-demangle) whose names are
#                                    in LIST, in the map's order
function key(s) {
  gsub(/17h[0-9a-f]+E/, "E", s)
  sub(/(\.llvm\.[0-9]+|\.[0-9]+|'[0-9]+)+$/, "", s)
  return s
}
BEGIN {
  if (mode == "order")
    while ((getline line < list) > 0) if (line != "" && line !~ /^#/) idle[line] = 1
}
mode == "names" {
  if ($0 != "" && $0 !~ /^0x/ && $0 !~ /^\(/) print key($0)
  next
}
mode == "order" && NF == 5 && $1 ~ /^[0-9a-f]+$/ {
  name = $5
  if (name ~ /^\./) { text = (name ~ /^\.text/); next }
  if (!text || name ~ /:\(/ || name ~ /^</) next
  if ((key(name) in idle) && !(name in seen)) { seen[name] = 1; print name }
}
