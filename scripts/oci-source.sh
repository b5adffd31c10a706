#!/usr/bin/env bash
# The image's org.opencontainers.image.source: the repository's web address,
# derived from a git remote URL (the argument, else `git remote get-url
# origin`). Prints nothing when there is no such remote or it is not a web
# repository (a local path, file://): then the label is left out rather than
# made up. Credentials, ports of ssh remotes and a trailing .git are dropped.
#   git@github.com:o/r.git, ssh://git@github.com:22/o/r, git://github.com/o/r,
#   https://user:token@github.com/o/r.git  ->  https://github.com/o/r
# Usage: scripts/oci-source.sh [REMOTE_URL]
set -euo pipefail
if [ $# -gt 0 ]; then
  remote=$1
else
  remote=$(git -C "$(dirname "$0")/.." remote get-url origin 2>/dev/null) || exit 0
fi
case "$remote" in
  https://* | http://*) scheme=${remote%%://*} rest=${remote#*://} ;;
  ssh://* | git://* | git+ssh://*) scheme=https rest=${remote#*://} ;;
  *://*) exit 0 ;;
  # scp-like ssh: [user@]host:path (a path with no colon before any slash is local)
  *:*)
    host_part=${remote%%:*}
    case "$host_part" in */*) exit 0 ;; esac
    scheme=https rest="$host_part/${remote#*:}"
    ;;
  *) exit 0 ;;
esac
host=${rest%%/*}
path=${rest#"$host"}
host=${host##*@}
# An ssh port is not the web server's.
[ "$scheme" = https ] && [ "${remote%%://*}" != https ] && host=${host%%:*}
path=${path%/}
path=${path%.git}
[ -n "$host" ] && [ -n "$path" ] && [ "$path" != / ] || exit 0
printf '%s://%s%s\n' "$scheme" "$host" "$path"
