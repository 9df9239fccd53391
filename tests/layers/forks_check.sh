#!/bin/sh
# layer_forks: one place in the library starts processes, one place
# watches them (proc/child_int.h):
#  - only proc/launch.c calls fork, vfork, clone, posix_spawn, exec*,
#    system or popen;
#  - only proc/watch.c calls pidfd_send_signal or a wait*, and only
#    rt/pidwatch.c pidfd_open (the one primitive log/ needs too);
#  - no source of the library reaches those through syscall(SYS_...), but
#    for the fork server's clone of its children (proc/forkserver.c, in
#    the server's own process).
# $1: the library's sources (framework/src); $2: its objects
# (colon-separated); $3 (the self-test): an object that breaks the rule,
# which must be caught.
src=$1
objs=$2
bad_obj=${3:-}
starts='fork|vfork|clone|clone3|__clone|posix_spawn|posix_spawnp|execve|execv|execvp|execvpe|execl|execlp|execle|fexecve|system|popen|daemon'
watches='pidfd_send_signal|pidfd_getfd|waitid|waitpid|wait4|wait3|wait'

# check OBJECTS: prints "object uses symbol" for each breach
check() {
	echo "$1" | tr ':' '\n' | while read -r o; do
		[ -n "$o" ] || continue
		nm -u "$o" | awk -v o="$o" -v s="^($starts)$" -v w="^($watches)$" '
			{ sym = $2; sub(/@.*/, "", sym) }
			sym ~ s && o !~ /\/proc\/launch\.c\.o$/ { print o " starts a process: " sym }
			sym ~ w && o !~ /\/proc\/watch\.c\.o$/ { print o " watches a process: " sym }
			sym == "pidfd_open" && o !~ /\/rt\/pidwatch\.c\.o$/ { print o " opens a pidfd" }'
	done
}

if [ -n "$bad_obj" ]; then
	out=$(check "$bad_obj")
	if [ -z "$out" ]; then
		echo "FAIL: the self-test object's fork was not caught"
		exit 1
	fi
fi
out=$(check "$objs")
raw=$(grep -rnE 'SYS_(clone3?|v?fork|pidfd_open|pidfd_send_signal|pidfd_getfd|waitid|wait4|execve)\b' \
	--include='*.c' --include='*.h' "$src" |
	grep -v '^[^:]*/proc/forkserver\.c:[0-9]*:.*SYS_clone,')
if [ -n "$out" ] || [ -n "$raw" ]; then
	[ -n "$out" ] && echo "$out"
	[ -n "$raw" ] && echo "$raw" | sed 's/$/  (raw system call)/'
	echo "FAIL: processes are started only in proc/launch.c and watched only in proc/watch.c (pidfds opened in rt/pidwatch.c)"
	exit 1
fi
echo "ok: proc/launch.c starts every process, proc/watch.c watches them"
