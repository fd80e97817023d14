#!/usr/bin/env bash
# Read Strimzi custom resources into Strimzi's own API model, strictly, the
# way deploy/kafka runs Kafka: Maven fetches the io.strimzi:api jar and its
# dependencies from Maven Central (pom.xml), and Java 17 runs the
# single-file StrimziCheck.java on that classpath. No cluster, no operator.
#
#   strimzi.sh check FILE...   exit 0 if every document of every file reads
#                              into its Strimzi class; prints one line each
#   strimzi.sh classpath       print the classpath (resolving it if needed)
#
# The classpath is cached per pom.xml in
#   STRIMZI_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/eventshop/strimzi);
# once ~/.m2 holds the jars (about 19 MB), no network is needed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
CACHE="${STRIMZI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/eventshop/strimzi}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

log() { echo "strimzi.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# classpath prints the runtime classpath of pom.xml. Same pom and every jar
# still in ~/.m2: no Maven at all.
classpath() {
  local key cp_file jar jars
  key=$(sha256sum <"$POM" | cut -d' ' -f1)
  cp_file="$CACHE/classpath-$key.txt"
  if [[ -s "$cp_file" ]]; then
    IFS=: read -r -a jars <"$cp_file"
    for jar in "${jars[@]}"; do [[ -f "$jar" ]] || { rm -f "$cp_file"; break; }; done
  fi
  if [[ ! -s "$cp_file" ]]; then
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch Strimzi's API jar)"
    mkdir -p "$CACHE"
    local args=(-B -q -f "$POM" dependency:build-classpath
                -Dmdep.outputFile="$cp_file.tmp" -Dmdep.includeScope=runtime)
    log "resolving io.strimzi:api with Maven ..."
    # Offline first: succeeds whenever ~/.m2 already has the jars.
    if ! mvn -o "${args[@]}" >"$CACHE/mvn.log" 2>&1 && ! mvn "${args[@]}" >"$CACHE/mvn.log" 2>&1; then
      tail -n 30 "$CACHE/mvn.log" >&2
      die "Maven could not resolve io.strimzi:api (full log: $CACHE/mvn.log)"
    fi
    mv "$cp_file.tmp" "$cp_file"
  fi
  cat "$cp_file"
}

case "${1:-}" in
  check)
    shift
    [[ $# -gt 0 ]] || die "usage: strimzi.sh check FILE..."
    cp=$(classpath)
    # Short-lived: the C1 compiler alone starts faster.
    exec "$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$cp" "$HERE/StrimziCheck.java" "$@"
    ;;
  classpath) classpath; echo ;;
  *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
