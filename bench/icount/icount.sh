#!/bin/bash
# Marginal instructions (callgrind, user space) of one more spawned thread, timer wakeup
# or echoed message, for the lua5.4 modules in MODDIR: two runs of different length,
# subtracted, so start-up and loading drop out. Needs valgrind, lua5.4 and Debian's
# lua-socket (the echo client).
# With `peers` instead of MODDIR, the same for what ours is measured against: plain Lua
# (spawn_plain.lua, wake_plain.lua, echo_plain.lua: the floors) and luv's echo server
# (Debian's lua-luv).
# usage: bench/icount/icount.sh MODDIR | peers
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
mods=$1
if [ "$mods" = peers ]; then
  # ";;" alone: the system's paths.
  path=";;" cpath=";;" server="$dir/../lua/echo_luv.lua"
else
  path="$mods/?.lua" cpath="$mods/?.so" server="$dir/../lua/echo_server.lua"
fi
count() { # prints the instructions of `lua5.4 ARGS...` run on MODDIR's modules
  LUA_PATH="$path" LUA_CPATH="$cpath" valgrind --tool=callgrind \
    --callgrind-out-file=/dev/null lua5.4 "$@" 2>&1 | awk '/Collected/ {print $4}'
}
echo_count() { # C R B: instructions of the server while the client echoes C*R*B lines
  local port=$((20000 + RANDOM % 20000)) out
  out=$(mktemp)
  LUA_PATH="$path" LUA_CPATH="$cpath" valgrind --tool=callgrind \
    --callgrind-out-file=/dev/null lua5.4 "$server" $port "$1" >/dev/null 2>"$out" &
  env -u LUA_PATH -u LUA_CPATH lua5.4 "$dir/echo_client.lua" $port "$1" "$2" "$3"
  wait $!
  awk '/Collected/ {print $4}' "$out"
  rm -f "$out"
}
if [ "$mods" = peers ]; then
  a=$(count "$dir/../lua/spawn_plain.lua" 20000); b=$(count "$dir/../lua/spawn_plain.lua" 40000)
  echo "plain spawn: $(( (b - a) / 20000 )) per thread"
  a=$(count "$dir/wake_plain.lua" 100000); b=$(count "$dir/wake_plain.lua" 200000)
  echo "plain resume and yield: $(( (b - a) / 100000 )) per wakeup"
  a=$(count "$dir/echo_plain.lua" 200); b=$(count "$dir/echo_plain.lua" 400)
  echo "plain echo loop: $(( (b - a) / 20000 )) per message"
else
  a=$(count "$dir/spawn.lua" 20000); b=$(count "$dir/spawn.lua" 40000)
  echo "spawn: $(( (b - a) / 20000 )) per thread"
  a=$(count "$dir/timers.lua" 2000 10); b=$(count "$dir/timers.lua" 2000 30)
  echo "timers: $(( (b - a) / 40000 )) per wakeup"
fi
a=$(echo_count 100 200 1); b=$(echo_count 100 400 1)
echo "echo-100: $(( (b - a) / 20000 )) per message"
a=$(echo_count 100 50 16); b=$(echo_count 100 100 16)
echo "echo-100-b16: $(( (b - a) / 80000 )) per message"
