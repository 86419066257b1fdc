/** cpr-transfer on the host: what the plan's steps and the executor's runner both run. */

/** A migration channel on a unix socket, as QEMU's `migrate` takes it and `-incoming` (as JSON) names it. */
export function cprChannel(
  type: 'main' | 'cpr',
  path: string,
): { 'channel-type': 'main' | 'cpr'; addr: { transport: 'socket'; type: 'unix'; path: string } } {
  return { 'channel-type': type, addr: { transport: 'socket', type: 'unix', path } };
}

/**
 * $1 the new QEMU's pidfile, $2 the VM's, $3 the cpr socket. Signals the process only when it is
 * not the VM's QEMU and was started for this cpr socket; waits until it is gone (10 s), then removes
 * the socket and that pidfile.
 */
export const STOP_WAITING = [
  'p=$(cat "$1" 2>/dev/null) || p=; v=$(cat "$2" 2>/dev/null) || v=',
  'case $p in ""|*[!0-9]*) p= ;; esac',
  'if [ -n "$p" ] && [ "$p" != "$v" ] && tr "\\0" "\\n" < "/proc/$p/cmdline" 2>/dev/null | grep -qF "$3"; then',
  '  kill -TERM "$p"; i=0; while kill -0 "$p" 2>/dev/null; do [ $i -ge 100 ] && { echo "process $p still alive 10 s after SIGTERM" >&2; exit 1; }; i=$((i+1)); sleep 0.1; done',
  'fi',
  // a QEMU stopped before it set up its signal handling leaves its pidfile behind
  'rm -f "$3" "$1"',
].join('\n');
