#!/usr/bin/env bash
# The Debian package as an operator meets it: build it, inspect it, install
# it with apt, run the installed binary as the system user, check /health and
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

[[ $(id -u) -eq 0 ]] || { echo "test-deb.sh must run as root"; exit 1; }
if dpkg-query -W uwpx-push-server >/dev/null 2>&1; then
    apt-get purge -y -qq uwpx-push-server >/dev/null
fi

# 1. Build and inspect.
(cd "$build" && cpack -G DEB -B "$work/pkg" >/dev/null)
deb=$(ls "$work"/pkg/uwpx-push-server_*.deb)
contents=$(dpkg-deb -c "$deb")
check "binary in /usr/bin" grep -q '\./usr/bin/uwpx-push-server$' <<<"$contents"
check "uwpx-pushctl in /usr/bin" grep -q '\./usr/bin/uwpx-pushctl$' <<<"$contents"
check "uwpx-pushctl(8)" grep -q '\./usr/share/man/man8/uwpx-pushctl\.8\.gz$' <<<"$contents"
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
check "state dir owned by the user, mode 0750" \
    test "$(stat -c '%U %a' /var/lib/uwpx-push-server)" = "uwpx-push-server 750"
check "config readable by root and the service only" \
    test "$(stat -c '%U %G %a' /etc/uwpx-push-server/uwpx-push-server.ini)" = \
         "root uwpx-push-server 640"

# 3. Run it as the system user on a test configuration.
conf=/var/lib/uwpx-push-server/test
install -d -o uwpx-push-server -g uwpx-push-server -m 0750 "$conf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=localhost" -keyout "$conf/key.pem" -out "$conf/cert.pem" 2>/dev/null
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
chown -R uwpx-push-server:uwpx-push-server "$conf"
# setpriv execs the daemon itself, so $! is the daemon and gets our SIGTERM.
setpriv --reuid=uwpx-push-server --regid=uwpx-push-server --init-groups \
    /usr/bin/uwpx-push-server --config "$conf/test.ini" \
    2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do
    grep -q "serving /health" "$work/daemon.log" 2>/dev/null && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1 # polling a log file: there is no signal to wait on from bash
done
check "daemon runs as the system user" \
    test "$(ps -o user= -p "$daemon_pid" | tr -d ' ')" = "uwpx-push-server"
health=$(http_get "http://127.0.0.1:$metrics_port/health")
check "/health is 503 while no XMPP server is attached" grep -q '^503 ' <<<"$health"
check "/health names the XMPP link" grep -q '"xmpp":"disconnected"' <<<"$health"
check "/health finds the store usable" grep -q '"storage":"ok"' <<<"$health"
metrics=$(http_get "http://127.0.0.1:$metrics_port/metrics")
check "/metrics answers" grep -q '^200 ' <<<"$metrics"
check "/metrics counts stored devices" grep -q '^uwpx_devices 0$' <<<"$metrics"
check "/metrics reports the link down" grep -q '^uwpx_component_connected 0$' <<<"$metrics"
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

if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed"; exit 1
fi
echo "all package checks passed"
