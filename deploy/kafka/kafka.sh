#!/usr/bin/env bash
# Run a real, single-node Apache Kafka broker (KRaft, combined broker+controller)
# straight from Maven Central's jars: no Docker, no download from apache.org.
# Meant for CI and the integration tests (they read KAFKA_BROKERS).
#
#   kafka.sh up [--port 39092]   start (or find running) and wait until it serves;
#                                last stdout line: KAFKA_BROKERS=127.0.0.1:PORT
#   kafka.sh down                stop it and delete its data (no error if not running)
#   kafka.sh stop                stop it and keep its data, as a broker outage does
#   kafka.sh start [--port P]    start it again on the data `stop` kept (or fresh,
#                                like `up`, when there is none)
#   kafka.sh status              exit 0 if running (prints KAFKA_BROKERS), 3 if not
#   kafka.sh classpath           print the Java classpath (resolving it if needed)
#   kafka.sh run CLASS ARGS...   run a Kafka tool on that classpath, quiet logging, e.g.
#                                kafka.sh run org.apache.kafka.tools.TopicCommand \
#                                  --bootstrap-server 127.0.0.1:39092 --list
#
# Environment:
#   KAFKA_STATE_DIR   pid, data, log, config, classpath cache
#                     (default ${TMPDIR:-/tmp}/eventshop-kafka)
#   KAFKA_DIST_VERSION     Kafka version to resolve (default: the one in pom.xml)
#   KAFKA_PORT        default for --port (39092); the controller uses PORT+1
#   KAFKA_UP_TIMEOUT  seconds to wait for readiness (default 120)
#   KAFKA_HEAP_OPTS   broker heap (default -Xmx512m -Xms512m)
#   KAFKA_TOOL_OPTS   JVM flags for `run` (default -Xmx512m)
#   JAVA_HOME         Java 17+ to use (default: java on PATH)
#
# Only KAFKA_BROKERS=... goes to stdout; all progress goes to stderr, so
# `export "$(kafka.sh up | tail -n1)"` works.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"

STATE_DIR="${KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/eventshop-kafka}"
KAFKA_DIST_VERSION="${KAFKA_DIST_VERSION:-}"
PORT="${KAFKA_PORT:-39092}"
UP_TIMEOUT="${KAFKA_UP_TIMEOUT:-120}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

PID_FILE="$STATE_DIR/kafka.pid"
PORT_FILE="$STATE_DIR/kafka.port"    # port of the broker that PID_FILE names
DATA_DIR="$STATE_DIR/data"
LOG_FILE="$STATE_DIR/kafka.log"      # broker stdout+stderr (log4j writes to stdout)
CONF="$STATE_DIR/server.properties"
ADMIN_CONF="$STATE_DIR/admin.properties"
LOG4J_BROKER="$STATE_DIR/log4j2-broker.properties"
LOG4J_TOOLS="$STATE_DIR/log4j2-tools.properties"
# One cache per version, so alternating KAFKA_DIST_VERSION values does not thrash it.
CP_FILE="$STATE_DIR/classpath-${KAFKA_DIST_VERSION:-default}.txt"
CP_KEY_FILE="$STATE_DIR/classpath-${KAFKA_DIST_VERSION:-default}.key"
MVN_LOG="$STATE_DIR/mvn.log"

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- classpath

# The cache key covers everything that changes what Maven would resolve: the pom's
# content and the version override. Same key and all jars still present means we
# never start Maven at all (fast, and works with no network).
classpath_key() {
  { sha256sum <"$POM"; echo "version=${KAFKA_DIST_VERSION}"; } | sha256sum | cut -d' ' -f1
}

cached_classpath_ok() {
  [[ -s "$CP_FILE" && -f "$CP_KEY_FILE" ]] || return 1
  [[ "$(cat "$CP_KEY_FILE")" == "$(classpath_key)" ]] || return 1
  local jar jars
  # ~/.m2 may have been wiped since the cache was written.
  IFS=: read -r -a jars <"$CP_FILE"
  for jar in "${jars[@]}"; do [[ -f "$jar" ]] || return 1; done
}

resolve_classpath() {
  mkdir -p "$STATE_DIR"
  if cached_classpath_ok; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka's jars)"
  local args=(-B -q -f "$POM" dependency:build-classpath
              -Dmdep.outputFile="$CP_FILE.tmp" -Dmdep.includeScope=runtime)
  [[ -n "$KAFKA_DIST_VERSION" ]] && args+=(-Dkafka.version="$KAFKA_DIST_VERSION")
  log "resolving Kafka ${KAFKA_DIST_VERSION:-(pom default)} classpath with Maven ..."
  # Offline first: succeeds whenever ~/.m2 already has the jars, with no network.
  if ! mvn -o "${args[@]}" >"$MVN_LOG" 2>&1; then
    if ! mvn "${args[@]}" >"$MVN_LOG" 2>&1; then
      tail -n 30 "$MVN_LOG" >&2
      die "Maven could not resolve the Kafka jars (full log: $MVN_LOG)"
    fi
  fi
  mv "$CP_FILE.tmp" "$CP_FILE"
  classpath_key >"$CP_KEY_FILE"
}

# Print the version of the kafka_2.13 jar on the classpath (for messages only).
classpath_version() {
  tr ':' '\n' <"$CP_FILE" | sed -n 's|.*/kafka_2\.13-\(.*\)\.jar$|\1|p' | head -n1
}

# Run a Java main class on the Kafka classpath with quiet (WARN, stderr) logging.
# KAFKA_TOOL_OPTS: JVM flags (full JIT by default, as `run` may drive a benchmark).
run_tool() {
  resolve_classpath
  write_log4j_configs
  # shellcheck disable=SC2086  # a list of flags on purpose
  "$JAVA" ${KAFKA_TOOL_OPTS:--Xmx512m} -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$(cat "$CP_FILE")" "$@"
}

# Short-lived tools start faster with the C1 compiler only.
FAST_TOOL_OPTS="-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

# ---------------------------------------------------------------- config files

write_log4j_configs() {
  mkdir -p "$STATE_DIR"
  # Broker: INFO to stdout, which `up` redirects into $LOG_FILE. One file holds
  # everything (including JVM crash output), so failures are easy to show.
  cat >"$LOG4J_BROKER" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# Same quieting as Kafka's own config/log4j2.yaml.
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  # Tools (TopicCommand, StorageTool, readiness probe): only problems, on stderr,
  # so their stdout stays clean for scripts.
  cat >"$LOG4J_TOOLS" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

write_server_properties() {
  local port="$1" cport=$(( $1 + 1 ))
  cat >"$CONF" <<EOF
# Written by deploy/kafka/kafka.sh: one KRaft node that is broker and controller.
process.roles=broker,controller
node.id=1
# Static quorum of one voter: simplest KRaft mode, formatted without --standalone.
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${DATA_DIR}

# A single broker can only hold one replica of anything: every internal topic
# must ask for replication factor 1, or it is never created (consumer groups and
# transactions would hang).
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests: no 3 s wait before the first group rebalance; same partition count as
# the project's topics; no topic auto-creation, as on the embedded broker: a
# service that forgets to create a topic it uses must fail here too.
group.initial.rebalance.delay.ms=0
num.partitions=6
auto.create.topics.enable=false
delete.topic.enable=true
EOF
  # Admin client settings for the readiness probe: fail fast instead of the
  # default 60 s so the wait loop keeps control of the timing.
  cat >"$ADMIN_CONF" <<'EOF'
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
}

# ---------------------------------------------------------------- process helpers

# A process counts as alive if it exists and is not a zombie: in containers the
# reaper may be slow, and `kill -0` succeeds on zombies.
is_alive() {
  local pid="$1" state
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z ]]
}

# Print the pid of our broker if one is running; clean up a stale pid file.
# The cmdline check guards against the pid having been reused by something else.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_alive "$pid" \
     && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONF"; then
    echo "$pid"
    return 0
  fi
  rm -f "$PID_FILE" "$PORT_FILE"
  return 1
}

port_in_use() {
  # bash's /dev/tcp: connect succeeds only if something listens there.
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Ready = the broker answers an admin request (metadata/list topics), which needs
# the controller quorum up and the broker registered and unfenced. An open TCP port
# alone is not enough: the socket server binds before the broker can serve.
broker_ready() {
  local port="$1"
  port_in_use "$port" || return 1
  # shellcheck disable=SC2086  # a list of flags on purpose
  timeout 30 "$JAVA" $FAST_TOOL_OPTS \
    -Dlog4j2.configurationFile="$LOG4J_TOOLS" -cp "$(cat "$CP_FILE")" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
    --command-config "$ADMIN_CONF" --list >/dev/null 2>&1
}

show_log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    log "last lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2
  fi
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || true
  # A clean KRaft shutdown takes a few seconds; give it 30 before forcing.
  for ((i = 0; i < 60; i++)); do
    is_alive "$pid" || return 0
    sleep 0.5
  done
  log "broker $pid ignored SIGTERM for 30 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    is_alive "$pid" || return 0
    sleep 0.5
  done
  die "broker $pid still alive after SIGKILL"
}

# ---------------------------------------------------------------- subcommands

cmd_up() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) [[ $# -ge 2 ]] || die "--port needs a value"; PORT="$2"; shift 2 ;;
      --port=*) PORT="${1#--port=}"; shift ;;
      *) die "unknown option for up: $1" ;;
    esac
  done
  [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1024 && "$PORT" -le 65534 ]] \
    || die "bad port: $PORT"

  local pid running_port
  if pid="$(running_pid)"; then
    running_port="$(cat "$PORT_FILE")"
    [[ "$running_port" == "$PORT" ]] \
      || log "note: already running on port $running_port (not $PORT); 'down' first to change it"
    log "already running (pid $pid)"
    broker_ready "$running_port" || die "broker $pid is running but not answering on $running_port"
    echo "KAFKA_BROKERS=127.0.0.1:$running_port"
    return 0
  fi

  local p
  for p in "$PORT" $((PORT + 1)); do
    port_in_use "$p" && die "port $p is already in use (pick another with --port)"
  done

  resolve_classpath
  log "Kafka $(classpath_version) on 127.0.0.1:$PORT (controller :$((PORT + 1))), state in $STATE_DIR"
  write_log4j_configs
  write_server_properties "$PORT"
  if [[ "${KEEP_DATA:-0}" == 1 && -f "$DATA_DIR/meta.properties" ]]; then
    log "starting on the data kept in $DATA_DIR"
    start_broker
    return
  fi
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  : >"$LOG_FILE"

  # Cluster id = 16 random bytes, base64url without padding (22 chars), which is
  # what `kafka-storage random-uuid` prints; done here to save a JVM start. Kafka
  # avoids ids starting with '-' (they look like CLI flags), so do we.
  local cluster_id
  while :; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$cluster_id" != -* ]] && break
  done

  if ! KAFKA_TOOL_OPTS="$FAST_TOOL_OPTS" run_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" \
       >>"$LOG_FILE" 2>&1; then
    show_log_tail
    die "kafka-storage format failed"
  fi

  start_broker
}

# start_broker starts the JVM on the configuration and data in STATE_DIR and
# waits until it serves.
start_broker() {
  local pid
  # Start detached: setsid gives it its own session, so closing the terminal or
  # Ctrl-C in the caller does not hit it; stdin/stdout/stderr are redirected so a
  # caller's $(kafka.sh up) does not wait for the broker's output to close; fd 9
  # (our lock) is closed so the broker does not hold it. A background job of a
  # non-interactive script is never a process-group leader, so setsid execs in
  # place and $! is the JVM's own pid.
  # JVM flags follow Kafka's bin/kafka-server-start.sh defaults.
  # shellcheck disable=SC2086  # HEAP_OPTS is a list of flags on purpose
  setsid "$JAVA" $HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J_BROKER" \
    -cp "$(cat "$CP_FILE")" kafka.Kafka "$CONF" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$PORT" >"$PORT_FILE"
  log "started broker pid $pid; waiting up to ${UP_TIMEOUT}s until it serves"

  local deadline=$((SECONDS + UP_TIMEOUT))
  while :; do
    if ! is_alive "$pid"; then
      show_log_tail
      rm -f "$PID_FILE" "$PORT_FILE"
      die "broker exited during startup"
    fi
    if broker_ready "$PORT"; then break; fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      stop_pid "$pid"
      rm -f "$PID_FILE" "$PORT_FILE"
      die "broker not ready after ${UP_TIMEOUT}s (stopped it)"
    fi
    sleep 0.5
  done
  log "ready"
  echo "KAFKA_BROKERS=127.0.0.1:$PORT"
}

cmd_down() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping broker pid $pid"
    stop_pid "$pid"
  else
    log "not running"
  fi
  rm -f "$PID_FILE" "$PORT_FILE"
  # Data is throwaway by design: each `up` starts from an empty cluster. The log
  # and the classpath cache stay for debugging and fast restarts.
  rm -rf "$DATA_DIR"
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping broker pid $pid, keeping its data"
    stop_pid "$pid"
  else
    log "not running"
  fi
  rm -f "$PID_FILE" "$PORT_FILE"
}

cmd_start() { KEEP_DATA=1 cmd_up "$@"; }

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    log "running (pid $pid), log $LOG_FILE"
    echo "KAFKA_BROKERS=127.0.0.1:$(cat "$PORT_FILE")"
  else
    log "not running"
    return 3
  fi
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  mkdir -p "$STATE_DIR"
  case "$cmd" in
    up|down|stop|start|status)
      # Serialise up/down/status on the same state dir (e.g. two test jobs
      # calling `up` at once would otherwise both start a broker).
      exec 9>"$STATE_DIR/lock"
      flock -w 300 9 || die "timed out waiting for the lock on $STATE_DIR"
      "cmd_$cmd" "$@"
      ;;
    classpath) resolve_classpath; cat "$CP_FILE"; echo ;;
    run) [[ $# -ge 1 ]] || die "usage: kafka.sh run CLASS [ARGS...]"; run_tool "$@" ;;
    -h|--help|help) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
