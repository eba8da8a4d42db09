#!/usr/bin/env bash
# The Debian package as an operator meets it: build it, inspect it (lintian,
# hardening-check), install it with apt, read its man pages, disable the
# service and upgrade (it stays disabled), run the installed binary as the
# system user (under a journal-like stderr, with a reload that changes a
# limit and one that brings a key of another certificate), check /health and
# /metrics, then remove and purge it and find nothing left behind.
# Needs root (it installs a package); CTest runs it with UWPX_SYSTEM_TESTS=ON.
# Usage: test-deb.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
source=$(realpath "$2")
work=$(mktemp -d)
daemon_pid=
failures=0

cleanup() {
    [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null || true
    dpkg-statoverride --remove /etc/uwpx-push-server/uwpx-push-server.ini >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

check() { # check "description" command...
    local what=$1; shift
    if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failures=$((failures + 1)); fi
}

http_get() { # http_get URL -> "STATUS BODY" on stdout
    /usr/bin/python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
PY
}

wait_for_log() { # wait_for_log FILE FROM_BYTE TEXT: TEXT in FILE after FROM_BYTE, 20 s at most
    for _ in $(seq 200); do
        tail -c +"$(($2 + 1))" "$1" | grep -qF -- "$3" && return 0
        kill -0 "$daemon_pid" 2>/dev/null || return 1
        sleep 0.1 # polling a log file: there is no signal to wait on from bash
    done
    return 1
}

metric() { # metric PORT SERIES -> its value, empty if absent
    http_get "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2 }'
}

[[ $(id -u) -eq 0 ]] || { echo "test-deb.sh must run as root"; exit 1; }
if dpkg-query -W uwpx-push-server >/dev/null 2>&1; then
    apt-get purge -y -qq uwpx-push-server >/dev/null
fi

# 1. Build and inspect.
# The upgrade is the same build under a higher version.
(cd "$build" && cpack -G DEB -B "$work/pkg" >/dev/null)
(cd "$build" && cpack -G DEB -B "$work/upgrade" -D CPACK_PACKAGE_VERSION=99.0.0 >/dev/null)
deb=$(ls "$work"/pkg/uwpx-push-server_*.deb)
upgrade_deb=$(ls "$work"/upgrade/uwpx-push-server_99.0.0_*.deb)
contents=$(dpkg-deb -c "$deb")
check "binary in /usr/bin" grep -q '\./usr/bin/uwpx-push-server$' <<<"$contents"
check "uwpx-pushctl in /usr/bin" grep -q '\./usr/bin/uwpx-pushctl$' <<<"$contents"
for file in usr/share/man/man8/uwpx-push-server.8.gz usr/share/man/man5/uwpx-push-server.ini.5.gz \
    usr/share/man/man8/uwpx-pushctl.8.gz \
    usr/share/doc/uwpx-push-server/copyright usr/share/doc/uwpx-push-server/changelog.gz \
    usr/share/uwpx-push-server/monitoring/grafana-dashboard.json \
    usr/share/uwpx-push-server/monitoring/uwpx-push-server.rules.yml; do
    check "package has /$file" grep -q "\./$file\$" <<<"$contents"
done
# Debian 12's lintian: no error, no warning; each override in the package
# says why (packaging/debian/lintian-overrides).
lintian_output=$(lintian --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1) \
    && lintian_ok=1 || lintian_ok=0
[[ -n "$lintian_output" ]] && echo "$lintian_output"
check "lintian finds no error or warning" test "$lintian_ok" -eq 1
dpkg-deb -x "$deb" "$work/root"
# Not its control-flow test: Debian 12's start files (crt1.o) carry no CET
# marking, so no binary linked on Debian 12 is marked IBT/SHSTK.
hardening=$(hardening-check --nocfprotection "$work/root/usr/bin/uwpx-push-server" 2>&1) \
    && hardened=1 || hardened=0
echo "$hardening"
check "hardening-check passes (PIE, stack protector, fortify, RELRO, BIND_NOW)" \
    test "$hardened" -eq 1
# uwpx-pushctl is built with the same flags (one setting in CMakeLists.txt), but
# every libc call left in it has a size the compiler knows, so there is no
# __*_chk call for hardening-check's fortify test to find: it reports "only
# unprotected functions found" for a binary with nothing to fortify.
hardening=$(hardening-check --nocfprotection --nofortify "$work/root/usr/bin/uwpx-pushctl" 2>&1) \
    && hardened=1 || hardened=0
echo "$hardening"
check "uwpx-pushctl: hardening-check passes (PIE, stack protector, RELRO, BIND_NOW)" \
    test "$hardened" -eq 1
check "example config under /etc" grep -q '\./etc/uwpx-push-server/uwpx-push-server.ini$' <<<"$contents"
check "systemd unit" grep -q '\./lib/systemd/system/uwpx-push-server.service$' <<<"$contents"
check "config is a conffile" grep -qx '/etc/uwpx-push-server/uwpx-push-server.ini' \
    <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libqt6core6 libqt6network6 libqt6sql6 libqt6sql6-sqlite; do
    check "Depends names $dep" grep -q "$dep" <<<"$depends"
done

# 2. Install with apt, as an operator would.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
check "installed binary reports its version" \
    bash -c "/usr/bin/uwpx-push-server --version | grep -q 'uwpx-push-server'"
check "installed uwpx-pushctl reports its version" \
    bash -c "/usr/bin/uwpx-pushctl --version | grep -q 'uwpx-pushctl'"
set +e
check_output=$(/usr/bin/uwpx-push-server --config /etc/uwpx-push-server/uwpx-push-server.ini \
    --check-config 2>&1)
check_status=$?
set -e
check "--check-config on the example exits 1" test "$check_status" -eq 1
for key in "[xmpp] secret" "[wns] client_secret" "[wns] package_sid"; do
    check "--check-config names $key" grep -qF "$key" <<<"$check_output"
done
# verify checks that ExecStart's binary exists, so it runs on the installed unit.
check "systemd-analyze accepts the unit" \
    systemd-analyze verify /lib/systemd/system/uwpx-push-server.service
check "the installed unit is the shipped one" \
    cmp -s /lib/systemd/system/uwpx-push-server.service "$source/resources/uwpx-push-server.service"
check "system user exists" getent passwd uwpx-push-server
check "man uwpx-push-server shows the page" \
    bash -c "MANPAGER=cat man uwpx-push-server 2>/dev/null | grep -q 'push app server for the UWPX'"
check "man 5 uwpx-push-server.ini shows the page" \
    bash -c "MANPAGER=cat man 5 uwpx-push-server.ini 2>/dev/null | grep -q 'expire_days'"

# Enabled on the first installation (systemd does not run here, so this is
# what deb-systemd-helper recorded and linked); an administrator disables
# it and makes the configuration 0600 with dpkg-statoverride; an upgrade
# keeps both.
unit=uwpx-push-server.service
wants=/etc/systemd/system/multi-user.target.wants/$unit
check "the first installation enables the unit" test -L "$wants"
check "deb-systemd-helper recorded the unit" \
    test -f "/var/lib/systemd/deb-systemd-helper-enabled/$unit.dsh-also"
systemctl disable "$unit" >/dev/null 2>&1
check "systemctl disable took the link away" test ! -e "$wants"
dpkg-statoverride --add root root 0600 /etc/uwpx-push-server/uwpx-push-server.ini
chmod 0600 /etc/uwpx-push-server/uwpx-push-server.ini
chown root:root /etc/uwpx-push-server/uwpx-push-server.ini
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$upgrade_deb" >/dev/null
check "the upgrade was installed" \
    test "$(dpkg-query -W -f='${Version}' uwpx-push-server)" = "99.0.0"
check "disabled stays disabled across an upgrade" test ! -e "$wants"
# deb-systemd-helper answers only inside a maintainer script.
check "deb-systemd-helper still has it disabled" \
    bash -c "! DPKG_MAINTSCRIPT_PACKAGE=uwpx-push-server deb-systemd-helper was-enabled $unit"
check "the upgrade respects dpkg-statoverride on the configuration" \
    test "$(stat -c '%U %G %a' /etc/uwpx-push-server/uwpx-push-server.ini)" = "root root 600"
dpkg-statoverride --remove /etc/uwpx-push-server/uwpx-push-server.ini
chown root:uwpx-push-server /etc/uwpx-push-server/uwpx-push-server.ini
chmod 0640 /etc/uwpx-push-server/uwpx-push-server.ini
check "state dir owned by the user, mode 0750" \
    test "$(stat -c '%U %a' /var/lib/uwpx-push-server)" = "uwpx-push-server 750"
check "config readable by root and the service only" \
    test "$(stat -c '%U %G %a' /etc/uwpx-push-server/uwpx-push-server.ini)" = \
         "root uwpx-push-server 640"

# 3. Run it as the system user on a test configuration, its stderr a file
#    named in JOURNAL_STREAM, as systemd does for the journal.
conf=/var/lib/uwpx-push-server/test
install -d -o uwpx-push-server -g uwpx-push-server -m 0750 "$conf"
new_pair() { # new_pair NAME: NAME-key.pem and NAME-cert.pem in $conf
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=localhost" -keyout "$conf/$1-key.pem" -out "$conf/$1-cert.pem" 2>/dev/null
}
new_pair first
new_pair other
cp "$conf/first-cert.pem" "$conf/cert.pem"
cp "$conf/first-key.pem" "$conf/key.pem"
metrics_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|^secret = change-me|secret = package-test|" \
    -e "s|^client_secret = change-me|client_secret = package-test|" \
    -e "s|^package_sid = .*|package_sid = ms-app://s-1-15-2-9|" \
    -e "s|^listen = 0.0.0.0:1997|listen = 127.0.0.1:0|" \
    -e "s|^certificate = .*|certificate = $conf/cert.pem|" \
    -e "s|^private_key = .*|private_key = $conf/key.pem|" \
    -e "s|^path = .*|path = $conf/push.db|" \
    -e "s|^port = 5347|port = 9|" \
    -e "s|^listen =$|listen = $metrics_port|" \
    /etc/uwpx-push-server/uwpx-push-server.ini > "$conf/test.ini"
# A key the server does not know: the warning it gives must reach the journal as one.
printf '\n[xmpp]\nno_such_key = 1\n' >> "$conf/test.ini"
chown -R uwpx-push-server:uwpx-push-server "$conf"

# A key of another certificate is refused before anything starts.
sed -e "s|^private_key = .*|private_key = $conf/other-key.pem|" "$conf/test.ini" > "$conf/mismatch.ini"
set +e
mismatch_output=$(/usr/bin/uwpx-push-server --config "$conf/mismatch.ini" --check-config 2>&1)
mismatch_status=$?
set -e
check "--check-config refuses a key of another certificate" test "$mismatch_status" -eq 1
check "--check-config names [registration] private_key" \
    grep -qF "[registration] private_key" <<<"$mismatch_output"

log="$work/daemon.log"
: >"$log"
chmod 0666 "$log"
journal_stream=$(stat -c '%d:%i' "$log")
# setpriv execs the daemon itself, so $! is the daemon and gets our signals.
JOURNAL_STREAM=$journal_stream setpriv --reuid=uwpx-push-server --regid=uwpx-push-server \
    --init-groups /usr/bin/uwpx-push-server --config "$conf/test.ini" 2>>"$log" &
daemon_pid=$!
wait_for_log "$log" 0 "serving /health" || true
check "daemon runs as the system user" \
    test "$(ps -o user= -p "$daemon_pid" | tr -d ' ')" = "uwpx-push-server"
check "under JOURNAL_STREAM a warning carries priority <4>" \
    grep -q '^<4>.*\[xmpp\] no_such_key: unknown key' "$log"
check "under JOURNAL_STREAM an info line carries priority <6>" \
    grep -q '^<6>uwpx.server: uwpx-push-server .* running$' "$log"
check "under JOURNAL_STREAM every line has a priority and no time of its own" \
    bash -c "! grep -v '^<[0-7]>' '$log' && ! grep -qE '^<[0-7]>[0-9]{4}-' '$log'"
registration_port=$(sed -n 's/.*listening for registrations on .* port \([0-9]*\).*/\1/p' "$log")
health=$(http_get "http://127.0.0.1:$metrics_port/health")
check "/health is 503 while no XMPP server is attached" grep -q '^503 ' <<<"$health"
check "/health names the XMPP link" grep -q '"xmpp":"disconnected"' <<<"$health"
check "/health finds the store usable" grep -q '"storage":"ok"' <<<"$health"
metrics=$(http_get "http://127.0.0.1:$metrics_port/metrics")
check "/metrics answers" grep -q '^200 ' <<<"$metrics"
check "/metrics counts stored devices" grep -q '^uwpx_devices 0$' <<<"$metrics"
check "/metrics reports the link down" grep -q '^uwpx_component_connected 0$' <<<"$metrics"
check "/metrics names the version" \
    grep -q "^uwpx_build_info{version=\"[0-9.]*\"} 1\$" <<<"$metrics"
expiry=$(openssl x509 -enddate -noout -in "$conf/cert.pem" | cut -d= -f2)
check "/metrics has the certificate's expiry" \
    grep -q "^uwpx_certificate_expiry_timestamp_seconds $(date -d "$expiry" +%s)\$" <<<"$metrics"
check "/metrics has no gauge at -1" bash -c '! grep -q " -1$"' <<<"$metrics"

# Two connections from one address: served, until a reload lowers
# max_connections_per_address to 1.
hold_two() { # opens two TCP connections to the registration port at once
    /usr/bin/python3 - "$registration_port" <<'PY'
import socket, sys, time
a = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
b = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
b.settimeout(5)
try:
    b.recv(1)  # refused: closed at once; served: the TLS handshake waits for us
except OSError:
    pass
a.close(); b.close()
PY
}
refused='uwpx_refused_total{reason="connections_per_address"}'
hold_two
check "two connections from one address are served" test -z "$(metric "$metrics_port" "$refused")"
sed -i 's/^max_connections_per_address = 32$/max_connections_per_address = 1/' "$conf/test.ini"
from=$(stat -c %s "$log")
kill -HUP "$daemon_pid"
check "SIGHUP reloads the configuration" wait_for_log "$log" "$from" "reloaded the configuration"
hold_two
check "the reload applied max_connections_per_address = 1" \
    test "$(metric "$metrics_port" "$refused")" = "1"

# A renewal gone wrong: the key of another certificate. The reload keeps the
# old pair, and clients still get the old certificate.
cp "$conf/other-key.pem" "$conf/key.pem"
from=$(stat -c %s "$log")
kill -HUP "$daemon_pid"
check "a reload refuses a key of another certificate" \
    wait_for_log "$log" "$from" "keeping the old certificate"
check "the refusal is a warning" grep -q '^<4>.*keeping the old certificate' "$log"
served=$(openssl s_client -connect "127.0.0.1:$registration_port" </dev/null 2>/dev/null \
    | openssl x509 -fingerprint -noout 2>/dev/null || true)
check "clients still get the old certificate" \
    test "$served" = "$(openssl x509 -fingerprint -noout -in "$conf/first-cert.pem")"
check "the daemon still runs" kill -0 "$daemon_pid"

kill -TERM "$daemon_pid"
set +e
wait "$daemon_pid"
status=$?
set -e
daemon_pid=
check "SIGTERM stops it with status 0" test "$status" -eq 0

# 4. Remove keeps config and data; purge removes everything.
apt-get remove -y -qq uwpx-push-server >/dev/null
check "remove takes the binary" test ! -e /usr/bin/uwpx-push-server
check "remove keeps the config" test -f /etc/uwpx-push-server/uwpx-push-server.ini
apt-get purge -y -qq uwpx-push-server >/dev/null
check "purge removes the config" test ! -e /etc/uwpx-push-server
check "purge removes the state" test ! -e /var/lib/uwpx-push-server
check "purge removes the user" bash -c '! getent passwd uwpx-push-server'
check "purge removes the unit" test ! -e /lib/systemd/system/uwpx-push-server.service
check "purge forgets the unit's recorded state" \
    test ! -e "/var/lib/systemd/deb-systemd-helper-enabled/$unit.dsh-also"

if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed"; exit 1
fi
echo "all package checks passed"
