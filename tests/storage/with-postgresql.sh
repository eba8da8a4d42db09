#!/usr/bin/env bash
# Runs a command against a throw-away PostgreSQL cluster: initdb into a temp
# dir, start it on loopback only (127.0.0.1, a free port, its socket in the
# temp dir), create a login role with a password and a database it owns,
# export where they are, run the command, then stop the cluster and remove it,
# also when the command fails or the script is interrupted.
#
# Usage: with-postgresql.sh [--tls] COMMAND [ARG...]
# The command sees UWPX_TEST_PG_HOST, _PORT, _DATABASE, _USER and _PASSWORD;
# the role may create databases (one per test). UWPX_TEST_PG_LOG is the
# server's log file.
# --tls: the server takes TCP connections over TLS only (ssl=on, hostssl in
# pg_hba.conf), with a certificate a throw-away CA signed for the IP address
# 127.0.0.1 and no name; the command also sees UWPX_TEST_PG_CA, that CA's PEM. The data is throw-away, so
# fsync is off. PostgreSQL refuses to run as root, so as root the server runs
# as the `postgres` user the package creates.
# Fails (never skips) when PostgreSQL is not installed: tools/install-deps --test.
set -euo pipefail

tls=0
if [[ "${1:-}" == "--tls" ]]; then tls=1; shift; fi
[[ $# -ge 1 ]] || { echo "usage: $0 [--tls] COMMAND [ARG...]" >&2; exit 2; }

bindir=${UWPX_PG_BINDIR:-}
if [[ -z "$bindir" ]]; then
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$candidate/initdb" ]] && { bindir=$candidate; break; }
    done
fi
if [[ -z "$bindir" || ! -x "$bindir/initdb" || ! -x "$bindir/pg_ctl" ]]; then
    echo "FAIL: PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin" \
         "(install them with tools/install-deps --test)" >&2
    exit 1
fi

as_server=()
server_user=
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || { echo "FAIL: no 'postgres' user to run the server as" >&2; exit 1; }
    server_user=postgres
    as_server=(runuser -u "$server_user" --)
fi

work=$(mktemp -d /tmp/uwpx-pg.XXXXXX)
# From inside the temp dir: the caller's directory may be closed to `postgres`.
server() { (cd "$work" && "${as_server[@]}" "$@"); }
data=$work/data
log=$work/server.log
cleanup() {
    local status=$?
    if [[ -f "$data/postmaster.pid" ]]; then
        server "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null 2>&1 \
            || server "$bindir/pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 \
            || true
    fi
    if [[ $status -ne 0 && -f "$log" ]]; then
        echo "--- PostgreSQL server log ---" >&2
        tail -n 50 "$log" >&2 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The server outlives pg_ctl, so a SIGKILL of this script (a CTest timeout)
# would leave it running: a detached watcher stops it once we are gone.
(setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
                 cd "$5" || exit
                 [[ -f "$3/postmaster.pid" ]] && ${4:+runuser -u "$4" --} "$2/pg_ctl" stop -D "$3" -m immediate
                 cd / && rm -rf "$5"' watcher $$ "$bindir" "$data" "$server_user" "$work" \
    </dev/null >/dev/null 2>&1 &)
[[ ${#as_server[@]} -eq 0 ]] || chown postgres: "$work"
chmod 700 "$work"

# The socket is in the private temp dir, so only its owner reaches it; TCP
# connections need the password.
server "$bindir/initdb" -D "$data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log" >&2; exit 1; }

ssl_options=
if [[ $tls -eq 1 ]]; then
    mkdir "$work/tls"
    (
        cd "$work/tls"
        ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=uwpx test database CA" \
            -keyout ca.key -out ca.pem
        openssl req "${ec[@]}" -subj "/CN=uwpx test database" -keyout server.key -out server.csr
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem
    ) >"$work/tls.log" 2>&1 || { cat "$work/tls.log" >&2; exit 1; }
    chmod 600 "$work/tls/server.key"
    [[ -z "$server_user" ]] || chown -R "$server_user": "$work/tls"
    # TCP over TLS only: a connection that succeeds was encrypted.
    printf 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n' >"$data/pg_hba.conf"
    [[ -z "$server_user" ]] || chown "$server_user": "$data/pg_hba.conf"
    ssl_options="-c ssl=on -c ssl_cert_file=$work/tls/server.pem -c ssl_key_file=$work/tls/server.key"
    export UWPX_TEST_PG_CA=$work/tls/ca.pem
fi

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
started=0
for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if server "$bindir/pg_ctl" start -D "$data" -l "$log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off -c log_checkpoints=off $ssl_options" >/dev/null; then
        started=1
        break
    fi
    # Lost the race for the port: try another.
done
[[ $started -eq 1 ]] || { echo "FAIL: could not start PostgreSQL" >&2; exit 1; }
# Loopback only: nothing of the throw-away cluster may be reachable from outside.
if ss -Hltn "sport = :$port" | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
    echo "FAIL: PostgreSQL listens on more than 127.0.0.1:$port" >&2
    ss -ltn "sport = :$port" >&2
    exit 1
fi

user=uwpx-push-server
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
database=uwpx_push_server
psql() { server "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d postgres "$@"; }
psql -v user="$user" -v password="$password" -v database="$database" <<'SQL'
CREATE ROLE :"user" LOGIN CREATEDB PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"user";
SQL

export UWPX_TEST_PG_HOST=127.0.0.1 UWPX_TEST_PG_PORT=$port UWPX_TEST_PG_DATABASE=$database
export UWPX_TEST_PG_USER=$user UWPX_TEST_PG_PASSWORD=$password UWPX_TEST_PG_LOG=$log
"$@"
