#!/usr/bin/env bash
# Scan every module of the workspace with govulncheck, offline, against a Go
# vulnerability database built from the pinned golang.org/x/vulndb module.
#
#   vulncheck.sh             scan; exit 1 if any module's code reaches a vulnerability
#   vulncheck.sh db          only build the database (if missing) and print its path
#   vulncheck.sh update      move the vulndb pin to its newest version
#
# The public database is not needed: x/vulndb carries the OSV entries in
# data/osv, and its cmd/indexdb turns them into the layout govulncheck reads.
# The database is built once per vulndb version (about a minute) into
#   VULNDB_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/eventshop/vulndb).
#
# Each module is scanned on its own (GOWORK=off), as its Docker image builds it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/eventshop/vulndb}"

log() { echo "vulncheck: $*" >&2; }

# tool runs a tool pinned in deploy/tools/go.mod, outside the workspace.
tool() { GOWORK=off go -C "$HERE" tool "$@"; }

vulndb_version() { GOWORK=off go -C "$HERE" list -m -f '{{.Version}}' golang.org/x/vulndb; }

build_db() {
  local version dir src tmp started
  version=$(vulndb_version)
  dir="$CACHE/$version"
  if [[ -f "$dir/index/db.json" ]]; then
    echo "$dir"
    return
  fi
  started=$(date +%s)
  log "building the vulnerability database from golang.org/x/vulndb@$version into $dir"
  GOWORK=off go -C "$HERE" mod download golang.org/x/vulndb
  src=$(GOWORK=off go -C "$HERE" list -m -f '{{.Dir}}' golang.org/x/vulndb)
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  tool indexdb -vulns "$src/data/osv" -out "$tmp/db" >&2
  rm -rf "$dir"
  mv "$tmp/db" "$dir"
  log "database built in $(( $(date +%s) - started ))s"
  echo "$dir"
}

scan() {
  local db modules failed=()
  db=$(build_db)
  log "database: golang.org/x/vulndb@$(vulndb_version); Go: $(go env GOVERSION)"
  mapfile -t modules < <(cd "$ROOT" && go list -m -f '{{.Dir}}')
  [[ ${#modules[@]} -gt 0 ]] || { log "error: no modules listed by go list -m in $ROOT"; exit 1; }
  for mod in "${modules[@]}"; do
    echo "==> govulncheck ${mod#"$ROOT"/}/..."
    # Exit status 3 means the code reaches a vulnerability; anything else
    # non-zero is a failure to scan. Both fail the run.
    if ! tool govulncheck -db "file://$db" -C "$mod" ./...; then
      failed+=("${mod#"$ROOT"/}")
    fi
  done
  if [[ ${#failed[@]} -gt 0 ]]; then
    log "error: vulnerabilities reached, or the scan failed, in: ${failed[*]}"
    exit 1
  fi
  log "no reachable vulnerabilities in ${#modules[@]} modules"
}

update() {
  local before after
  before=$(vulndb_version)
  GOWORK=off go -C "$HERE" get golang.org/x/vulndb@latest
  GOWORK=off go -C "$HERE" mod tidy
  after=$(vulndb_version)
  log "golang.org/x/vulndb: $before -> $after"
}

case "${1:-scan}" in
  scan) scan ;;
  db) build_db ;;
  update) update ;;
  *) echo "usage: $0 [scan|db|update]" >&2; exit 2 ;;
esac
