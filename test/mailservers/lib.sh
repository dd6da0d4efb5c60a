# shellcheck shell=bash
# Shared definitions for test/mailservers/{start,stop,smtp}. Sourced, not run.
#
# Everything lives under one private directory (OCLCBOT_MAILSERVERS_DIR,
# default /tmp/oclcbot-mailservers); the system Postfix and Dovecot
# configuration in /etc is never read or written.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${OCLCBOT_MAILSERVERS_DIR:-/tmp/oclcbot-mailservers}"
MARKER="$DIR/.oclcbot-mailservers"
STATE="$DIR/state.env"

PF_CONF="$DIR/postfix/etc"
DOVECOT_CONF="$DIR/dovecot/dovecot.conf"

log() { printf 'mailservers: %s\n' "$*" >&2; }
die() {
	printf 'mailservers: error: %s\n' "$*" >&2
	exit 1
}

# require_root fails with a clear message for a non-root caller: Postfix and
# Dovecot must start as root to drop privileges to their own users.
require_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (Postfix and Dovecot start as root and drop privileges); try: sudo $0"
}

# check_dir refuses a state directory path that would break the generated
# configuration or is not plainly ours.
check_dir() {
	case "$DIR" in
	/*) ;;
	*) die "OCLCBOT_MAILSERVERS_DIR must be an absolute path, got '$DIR'" ;;
	esac
	[[ "$DIR" =~ ^[A-Za-z0-9._/-]+$ ]] || die "OCLCBOT_MAILSERVERS_DIR may hold only letters, digits, '.', '_', '-' and '/', got '$DIR'"
	[ "${#DIR}" -le 60 ] || die "OCLCBOT_MAILSERVERS_DIR is too long for Unix socket paths (max 60 characters)"
	if [ -e "$DIR" ] || [ -L "$DIR" ]; then
		[ -d "$DIR" ] && [ ! -L "$DIR" ] || die "$DIR exists and is not a directory"
		[ "$(stat -c %u "$DIR")" = 0 ] || die "$DIR exists and is not owned by root; remove it or set OCLCBOT_MAILSERVERS_DIR"
		if [ -n "$(ls -A "$DIR")" ] && [ ! -f "$MARKER" ]; then
			die "$DIR exists and was not made by test/mailservers/start; remove it or set OCLCBOT_MAILSERVERS_DIR"
		fi
	fi
}

# load_state reads the settings chosen when the directory was first set up.
load_state() {
	[ -f "$STATE" ] || return 1
	# shellcheck source=/dev/null
	. "$STATE"
}

# postfix_running reports whether this instance's master process runs
# (what `postfix status` checks, without its second of start-up).
postfix_running() {
	local pidfile="$DIR/postfix/spool/pid/master.pid" pid
	[ -f "$pidfile" ] || return 1
	pid="$(sed -n '1s/[^0-9]//gp' "$pidfile")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(postconf -c "$PF_CONF" -h daemon_directory)/master" ]
}

dovecot_pid() {
	local pidfile="$DIR/dovecot/run/master.pid" pid
	[ -f "$pidfile" ] || return 1
	pid="$(cat "$pidfile")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# The pid file may be stale and the number reused by something else.
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(command -v dovecot)" ] || return 1
	echo "$pid"
}

# port_open reports whether something accepts TCP connections on
# 127.0.0.1:$1.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_banner waits up to $3 seconds for a plain-text greeting starting with
# $2 on 127.0.0.1:$1.
wait_banner() {
	local port="$1" want="$2" deadline=$((SECONDS + $3)) line
	while [ "$SECONDS" -lt "$deadline" ]; do
		line="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r line <&3 && printf '%s' \"\$line\"" 2>/dev/null || true)"
		case "$line" in
		"$want"*) return 0 ;;
		esac
		sleep 0.2
	done
	return 1
}

# wait_tls_banner is wait_banner for an implicit-TLS port, verifying the
# server certificate against the generated CA; $4 is the protocol's quit
# command, so the server ends the session at once.
wait_tls_banner() {
	local port="$1" want="$2" deadline=$((SECONDS + $3)) quit="$4" out
	while [ "$SECONDS" -lt "$deadline" ]; do
		out="$(printf '%s\r\n' "$quit" | timeout 5 openssl s_client -connect "127.0.0.1:$port" \
			-CAfile "$DIR/tls/ca.pem" -verify_return_error -verify_ip 127.0.0.1 \
			-quiet 2>/dev/null | head -n 1 || true)"
		case "$out" in
		"$want"*) return 0 ;;
		esac
		sleep 0.2
	done
	return 1
}

# wait_closed waits up to $2 seconds until nothing accepts on 127.0.0.1:$1.
wait_closed() {
	local port="$1" deadline=$((SECONDS + $2))
	while [ "$SECONDS" -lt "$deadline" ]; do
		port_open "$port" || return 0
		sleep 0.2
	done
	return 1
}

# quiet runs a command and shows its output only if it fails.
quiet() {
	local out
	out="$("$@" 2>&1)" || {
		printf '%s\n' "$out" >&2
		die "$1 failed (output above)"
	}
}

# show_log copies the tail of a server log to stderr after a failure.
show_log() {
	if [ -f "$1" ]; then
		log "last lines of $1:"
		tail -n 30 "$1" >&2
	fi
}

# smtp_ports lists every port the Postfix instance listens on.
smtp_ports() {
	echo "$SMTP_PORT $SUBMISSION_PORT $SMTPS_PORT"
}

postfix_start() {
	local p
	if postfix_running; then
		for p in $(smtp_ports); do
			port_open "$p" || break
		done
		if port_open "$p"; then
			log "postfix already running"
			return 0
		fi
	else
		log "starting postfix (config $PF_CONF)"
		# fd 3 may be a caller's $(...) pipe; the daemons must not keep it.
		postfix -c "$PF_CONF" start >&2 3>&- || {
			show_log "$DIR/postfix/postfix.log"
			die "postfix did not start"
		}
	fi
	wait_banner "$SMTP_PORT" 220 20 || {
		show_log "$DIR/postfix/postfix.log"
		die "postfix does not answer on 127.0.0.1:$SMTP_PORT"
	}
	wait_banner "$SUBMISSION_PORT" 220 10 || die "postfix does not answer on 127.0.0.1:$SUBMISSION_PORT"
	wait_tls_banner "$SMTPS_PORT" 220 10 QUIT || die "postfix does not answer TLS on 127.0.0.1:$SMTPS_PORT"
}

postfix_stop() {
	if postfix_running; then
		log "stopping postfix"
		postfix -c "$PF_CONF" stop >&2 || die "postfix did not stop"
	fi
	local p
	for p in $(smtp_ports); do
		wait_closed "$p" 10 || die "127.0.0.1:$p still accepts connections after stopping postfix"
	done
}
