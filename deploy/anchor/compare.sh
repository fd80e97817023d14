#!/usr/bin/env bash
# Compare this repository's inventory-service with the same rule written as a Kafka
# Streams application (exactly_once_v2, its store's record cache on), on a real Apache
# Kafka: the same broker, the same orders, the same definition of done. See README.md here.
#
#   bash deploy/anchor/compare.sh        (or: make anchor, which builds bin/ first)
#
# For each workload (the tutorial's sample order; a catalog of 1,000 products with 1-3
# lines an order) and each mode, for each of R runs, twice (Kafka Streams, then
# inventory-service), on a fresh broker each time:
#   backlog: write ORDERS orders to new-order-topic, start the app, and time from its start
#            until every event the rule derives is on its topic (read_committed) and its
#            consumer group has committed every record of new-order-topic and of its
#            repartition topic;
#   paced:   start the app, write 100 warm-up orders, then PACED_ORDERS more at RATE a
#            second, and measure for each order how long its refill notices and its last
#            inventory-updated action take to be read (read_committed).
# Before the app starts, the broker is made to create its internal topics
# (__consumer_offsets, __transaction_state), a cluster's one-time cost;
# ANCHOR_COLD_BROKER=1 leaves that to the app. Prints a table per workload and mode.
#
# Environment:
#   R                     runs (default 3)
#   ORDERS                orders of a backlog run (default 20000)
#   PACED_ORDERS, RATE    orders of a paced run and their rate a second (default 20000, 1000)
#   WORKLOADS             default "sample catalog"
#   MODES                 default "backlog paced"
#   ANCHOR_KAFKA_PORT     this script's own broker (default 49092; controller PORT+1),
#                         state in ${TMPDIR:-/tmp}/eventshop-anchor-kafka
#   ANCHOR_RUN_TIMEOUT    seconds one app may take to be done (default 180)
#   ANCHOR_COLD_BROKER    1: do not create the broker's internal topics before the app
#                         starts (default 0)
#   ANCHOR_QUIET_LOAD     if set (e.g. 1.5), wait before each measurement until the
#                         1-minute load average is below it, at most ANCHOR_QUIET_WAIT
#                         seconds (default 300)
#   STREAMS_THREADS       num.stream.threads of the Kafka Streams app (default 1)
#   STREAMS_JAVA_OPTS     JVM flags of the Kafka Streams app (default: none)
#   BIN                   where inventory-service is (default bin/, from make build)
#   JAVA_HOME             Java 17+ (default: java on PATH)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KSTREAMS="$ROOT/deploy/anchor/kstreams"

RUNS="${R:-3}"
ORDERS="${ORDERS:-20000}"
PACED_ORDERS="${PACED_ORDERS:-20000}"
RATE="${RATE:-1000}"
WORKLOADS="${WORKLOADS:-sample catalog}"
MODES="${MODES:-backlog paced}"
PORT="${ANCHOR_KAFKA_PORT:-49092}"
RUN_TIMEOUT="${ANCHOR_RUN_TIMEOUT:-180}"
COLD="${ANCHOR_COLD_BROKER:-0}"
QUIET_LOAD="${ANCHOR_QUIET_LOAD:-}"
QUIET_WAIT="${ANCHOR_QUIET_WAIT:-300}"
BIN="${BIN:-$ROOT/bin}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
BROKERS="127.0.0.1:$PORT"
KAFKA_STATE="${TMPDIR:-/tmp}/eventshop-anchor-kafka"
# The harness is a client, not what is measured: small heap, fewer JVM threads.
HARNESS_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

log() { echo "anchor: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "R must be a positive whole number, got '$RUNS'"
[[ "$ORDERS" =~ ^[1-9][0-9]*$ ]] || die "ORDERS must be a positive whole number, got '$ORDERS'"
[[ "$PACED_ORDERS" =~ ^[1-9][0-9]*$ ]] || die "PACED_ORDERS must be a positive whole number, got '$PACED_ORDERS'"
[[ "$RATE" =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive whole number, got '$RATE'"
for w in $WORKLOADS; do [[ "$w" == sample || "$w" == catalog ]] || die "WORKLOADS: want sample and/or catalog, got '$w'"; done
for m in $MODES; do [[ "$m" == backlog || "$m" == paced ]] || die "MODES: want backlog and/or paced, got '$m'"; done
case "$COLD" in
  1) COLD_ARG=cold; BROKER_STATE="fresh broker each, its internal topics created by the app" ;;
  0) COLD_ARG=""; BROKER_STATE="fresh broker each, its internal topics created beforehand" ;;
  *) die "ANCHOR_COLD_BROKER must be 0 or 1, got '$COLD'" ;;
esac
[[ -x "$BIN/inventory-service" ]] || die "$BIN/inventory-service not found: run make build first"
command -v "$JAVA" >/dev/null || die "java not found (Java 17+ is needed)"
command -v mvn >/dev/null || die "mvn not found (Maven builds the Kafka Streams app)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/eventshop-anchor.XXXXXX")"
WATCH_PID=""    # the harness (under timeout) while it measures an app

# Our own broker, never the one on 39092 other people use.
kafka() {
  KAFKA_STATE_DIR="$KAFKA_STATE" KAFKA_PORT="$PORT" \
    timeout -k 10 400 bash "$ROOT/deploy/kafka/kafka.sh" "$@"
}

# Is pid alive and not a zombie?
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z ]]
}

# stop_pid PID SECONDS: SIGTERM, then SIGKILL if still alive after SECONDS.
stop_pid() {
  local pid="$1" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 2; i++)); do
    alive "$pid" || return 0
    sleep 0.5
  done
  log "pid $pid ignored SIGTERM for $2 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$WATCH_PID" ]]; then
    # timeout passes the TERM on to the harness, whose shutdown hook stops the app.
    stop_pid "$WATCH_PID" 40
    wait "$WATCH_PID" 2>/dev/null || true
  fi
  # The app, should the harness not have stopped it. The pid file names it only
  # while a measurement runs; check the command line too, against pid reuse.
  local pid
  if [[ -s "$WORK/app.pid" ]]; then
    pid="$(cat "$WORK/app.pid")"
    if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null \
         | grep -qE 'inventory-service|eventshop\.anchor\.InventoryStreams'; then
      stop_pid "$pid" 20
    fi
  fi
  log "stopping the broker on $BROKERS"
  kafka down >>"$WORK/kafka.log" 2>&1 || log "warning: kafka.sh down failed (see $WORK/kafka.log)"
  if [[ $rc -eq 0 ]]; then
    rm -rf "$WORK"
  else
    log "failed; logs kept in $WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load1() { cut -d' ' -f1 /proc/loadavg; }

# Wait (bounded) for a quiet machine if asked to.
await_quiet() {
  [[ -n "$QUIET_LOAD" ]] || return 0
  local deadline=$((SECONDS + QUIET_WAIT))
  while awk -v l="$(load1)" -v m="$QUIET_LOAD" 'BEGIN { exit !(l >= m) }'; do
    if ((SECONDS >= deadline)); then
      log "load average still $(load1) after ${QUIET_WAIT}s; measuring anyway"
      return 0
    fi
    sleep 5
  done
}

fresh_broker() {
  kafka down >>"$WORK/kafka.log" 2>&1 || { tail -n 20 "$WORK/kafka.log" >&2; die "kafka.sh down failed"; }
  kafka up >>"$WORK/kafka.log" 2>&1 || { tail -n 40 "$WORK/kafka.log" >&2; die "kafka.sh up failed"; }
}

# ---------------------------------------------------------------- build

log "building the Kafka Streams app (deploy/anchor/kstreams) ..."
# Offline first: works whenever ~/.m2 already holds the jars.
if ! (cd "$KSTREAMS" && timeout 600 mvn -B -q -o package) >"$WORK/mvn.log" 2>&1; then
  if ! (cd "$KSTREAMS" && timeout 900 mvn -B -q package) >"$WORK/mvn.log" 2>&1; then
    tail -n 30 "$WORK/mvn.log" >&2
    die "mvn package failed"
  fi
fi
CP="$KSTREAMS/target/anchor-kstreams.jar:$(cat "$KSTREAMS/target/classpath.txt")"

# ---------------------------------------------------------------- one measurement

# measure NAME RUN WORKLOAD MODE GROUP INPUT -- COMMAND...: fresh broker, orders, then time
# COMMAND. Sets RESULT to the harness's RESULT line.
measure() {
  local name="$1" run="$2" workload="$3" mode="$4" group="$5" input="$6"
  shift 7
  local out="$WORK/$workload-$mode-$name-$run" backlog=0 pace=()
  if [[ "$mode" == backlog ]]; then
    backlog="$ORDERS"
    pace=(--orders "$ORDERS")
  else
    pace=(--orders "$PACED_ORDERS" --rate "$RATE")
  fi
  log "$workload $mode, run $run, $name: fresh broker, $backlog orders waiting ..."
  fresh_broker
  # shellcheck disable=SC2086  # lists of flags on purpose
  timeout -k 10 300 "$JAVA" $HARNESS_OPTS -cp "$CP" eventshop.anchor.Harness \
    prepare "$BROKERS" "$backlog" "$workload" ${COLD_ARG:-} 2>>"$out.harness.log" \
    || { tail -n 20 "$out.harness.log" >&2; die "could not write the orders"; }
  await_quiet
  local before after
  before="$(load1)"
  log "$workload $mode, run $run, $name: measuring (load average $before) ..."
  rm -f "$WORK/app.pid"
  # shellcheck disable=SC2086  # a list of flags on purpose
  timeout -k 30 $((RUN_TIMEOUT + 120)) "$JAVA" $HARNESS_OPTS -cp "$CP" eventshop.anchor.Harness watch \
    --bootstrap "$BROKERS" --group "$group" --workload "$workload" "${pace[@]}" \
    --input new-order-topic --input "$input" --timeout "$RUN_TIMEOUT" \
    --log "$out.app.log" --pid-file "$WORK/app.pid" -- "$@" \
    >"$out.result" 2>>"$out.harness.log" &
  WATCH_PID=$!
  local rc=0
  wait "$WATCH_PID" || rc=$?
  WATCH_PID=""
  after="$(load1)"
  if [[ $rc -ne 0 ]] || ! grep -q '^RESULT ' "$out.result"; then
    tail -n 15 "$out.harness.log" >&2
    log "the app's last lines ($out.app.log):"
    tail -n 15 "$out.app.log" >&2 || true
    die "$workload $mode, run $run, $name: not measured (harness exit $rc)"
  fi
  rm -f "$WORK/app.pid"
  # The load before is the machine's; the load after includes the app's own work.
  RESULT="$(grep '^RESULT ' "$out.result") load=$before load_after=$after"
  log "$workload $mode, run $run, $name: ${RESULT#RESULT }"
  grep -q 'exact=true' <<<"$RESULT" || log "warning: $workload $mode, run $run, $name: events not exactly as the rule says"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

median() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------- the runs

# The inventory's stock: the Kafka Streams app starts every product it meets at 109.
catalog_stock() {
  local k list=""
  for ((k = 0; k < 1000; k++)); do list+="$(printf 'PRODUCT-%04d=109,' "$k")"; done
  echo "${list%,}"
}

tables=()
for workload in $WORKLOADS; do
  stock=""
  [[ "$workload" == catalog ]] && stock="$(catalog_stock)"
  for mode in $MODES; do
    ks_values=() inv_values=() rows=()
    for ((i = 1; i <= RUNS; i++)); do
      tag="$workload-$mode-$i"
      # shellcheck disable=SC2086  # a list of flags on purpose
      measure "kstreams" "$i" "$workload" "$mode" "anchor-kstreams-$tag" "anchor-kstreams-$tag-reservations-repartition" -- \
        env -i PATH="$PATH" HOME="${HOME:-/tmp}" STREAMS_THREADS="${STREAMS_THREADS:-1}" \
        "$JAVA" ${STREAMS_JAVA_OPTS:-} -cp "$CP" eventshop.anchor.InventoryStreams \
        "$BROKERS" "anchor-kstreams-$tag" "$WORK/streams-state-$tag"
      ks="$RESULT"
      # A clean environment: no CONFIG_FILE ... of the caller's shell.
      measure "inventory" "$i" "$workload" "$mode" "anchor-inventory-$tag" "anchor-inventory-$tag-reservations" -- \
        env -i PATH="$PATH" HOME="${HOME:-/tmp}" KAFKA_BROKERS="$BROKERS" ${stock:+INITIAL_STOCK="$stock"} \
        CONSUMER_GROUP="anchor-inventory-$tag" HTTP_ADDR=127.0.0.1:0 "$BIN/inventory-service"
      inv="$RESULT"
      if [[ "$mode" == backlog ]]; then
        ks_values+=("$(field seconds "$ks")")
        inv_values+=("$(field seconds "$inv")")
        rows+=("$(printf '| %s | %.2f (first event %.2f) | %.2f (first event %.2f) | %s / %s |' "$i" \
          "$(field seconds "$ks")" "$(field first "$ks")" "$(field seconds "$inv")" "$(field first "$inv")" \
          "$(field load "$ks")" "$(field load "$inv")")")
      else
        ks_values+=("$(field updated_p99 "$ks")")
        inv_values+=("$(field updated_p99 "$inv")")
        rows+=("$(printf '| %s | %s / %s, refill %s / %s | %s / %s, refill %s / %s | %s / %s |' "$i" \
          "$(field updated_p50 "$ks")" "$(field updated_p99 "$ks")" "$(field empty_p50 "$ks")" "$(field empty_p99 "$ks")" \
          "$(field updated_p50 "$inv")" "$(field updated_p99 "$inv")" "$(field empty_p50 "$inv")" "$(field empty_p99 "$inv")" \
          "$(field load "$ks")" "$(field load "$inv")")")
      fi
    done
    ks_median="$(printf '%s\n' "${ks_values[@]}" | median)"
    inv_median="$(printf '%s\n' "${inv_values[@]}" | median)"
    if [[ "$mode" == backlog ]]; then
      table="$ORDERS $workload orders waiting; seconds from the app's start to done"$'\n\n'
      table+="| run | Kafka Streams, exactly_once_v2 (s) | inventory-service (s) | load average before: Kafka Streams / inventory |"$'\n'
      table+="|---|---|---|---|"$'\n'
      table+="$(printf '%s\n' "${rows[@]}")"$'\n'
      table+="| median | $ks_median | $inv_median | |"
    else
      table="$PACED_ORDERS $workload orders at $RATE a second; ms from sending an order to reading its last inventory-updated action, p50 / p99, and its refill notices"$'\n\n'
      table+="| run | Kafka Streams, exactly_once_v2 (ms) | inventory-service (ms) | load average before: Kafka Streams / inventory |"$'\n'
      table+="|---|---|---|---|"$'\n'
      table+="$(printf '%s\n' "${rows[@]}")"$'\n'
      table+="| median of the p99s | $ks_median | $inv_median | |"
    fi
    tables+=("$table")
  done
done

echo
echo "Apache Kafka $(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$KSTREAMS/pom.xml"), $BROKER_STATE; Kafka Streams with ${STREAMS_THREADS:-1} stream thread(s)"
for table in "${tables[@]}"; do
  echo
  echo "$table"
done
echo
echo "$(nproc) cores, $(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n1); $("$JAVA" -version 2>&1 | head -n1)"
