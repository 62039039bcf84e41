#!/bin/sh
# rsh_local.sh — an --rsh stand-in for the integration tests: segsync runs
# `RSH HOST segsync serve ... DIR`; this drops HOST and runs the rest here
# through sh -c, as sshd runs the command line it is handed (so the quoting
# segsync does for the remote shell is exercised too).
#
# With SS_AGENT_PIDFILE set, the agent's pid is written there first: the
# `exec`s below keep it, so a test can kill the agent itself mid-run.
shift
if [ -n "${SS_AGENT_PIDFILE:-}" ]; then
    echo $$ >"$SS_AGENT_PIDFILE"
fi
exec sh -c "exec $*"
