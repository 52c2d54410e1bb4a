#!/bin/bash
# One run of the agent over a whole log, for looking inside it rather than
# timing it (bench.sh times it): fills a bench.sh template's placeholders,
# starts the loopback Loki (lokisink from ../shared/bench), runs the agent
# under $WRAP (a profiler or tracer: perf stat, strace -f -c, perf record),
# and stops the agent once the sink has every line. Prints the agent's CPU
# ticks and context switches; with AGENT_LOG set, keeps the agent's output
# there.
#
#   bench/agent-run.sh BINARY TEMPLATE LOG TOOLS_DIR
#   WRAP="perf stat -o perf.txt" bench/agent-run.sh ./promtail-osquery bench/osquery-stage.yaml /tmp/osquery-1m.log /tmp/benchtools
set -euo pipefail
bin=$1 tmpl=$2 log=$3 tools=$4
lines=$(wc -l < "$log")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s|\${BENCH_LOG}|$log|g" -e "s|\${BENCH_POSITIONS}|$work/positions.yaml|g" \
  -e "s|\${BENCH_PUSH_URL}|http://127.0.0.1:3397/loki/api/v1/push|g" \
  -e "s|\${BENCH_HTTP_PORT}|9482|g" "$tmpl" > "$work/config.yaml"
"$tools/lokisink" -addr 127.0.0.1:3397 -expect "$lines" > "$work/sink.json" 2> "$work/sink.log" &
sink=$!
sleep 0.3
# shellcheck disable=SC2086 # WRAP is a command line
${WRAP:-} "$bin" -config.file="$work/config.yaml" > "$work/agent.log" 2>&1 &
wrapper=$!
sleep 0.2
agent=$(pgrep -n -f -- "-config.file=$work/config.yaml")
wait "$sink"
stat=$(cat "/proc/$agent/stat")
set -- ${stat##*) }
voluntary=0 involuntary=0
for t in /proc/"$agent"/task/*/status; do
  voluntary=$((voluntary + $(awk '/^voluntary_ctxt/{print $2}' "$t")))
  involuntary=$((involuntary + $(awk '/^nonvoluntary_ctxt/{print $2}' "$t")))
done
kill -INT "$agent"
wait "$wrapper" || true
if [ -n "${AGENT_LOG:-}" ]; then cp "$work/agent.log" "$AGENT_LOG"; fi
echo "cpu_ticks=$((${12} + ${13})) user=${12} sys=${13} voluntary_switches=$voluntary involuntary_switches=$involuntary"
