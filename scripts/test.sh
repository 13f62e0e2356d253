#!/usr/bin/env bash
# Runs connector-host's whole test suite on a Debian machine, first installing
# and starting whatever the tests need: unixODBC with the PostgreSQL, MariaDB
# and SQLite ODBC drivers, a PostgreSQL and a MariaDB server, OpenLDAP slapd and
# ldap-utils, 389 Directory Server where it installs (else its tests say NOT
# RUN), openssl, util-linux's unshare, a C compiler, python3 and jq (script
# connector). Idempotent, and quick when everything is already there.
#
# Usage: ./scripts/test.sh [--bootstrap-only] [CARGO SELECTION...]
#   --bootstrap-only  install/start the servers, print the CH_TEST_* variables, stop
#   CARGO SELECTION   replaces `--workspace` in the test commands, e.g. `-p testkit`
#
# With CI set (non-empty) it also runs `cargo fmt --check` and clippy -D warnings.
#
# Servers: PostgreSQL is expected on 127.0.0.1:5432 (user postgres, no password)
# and MariaDB on 127.0.0.1:3306 (root, empty password); preset CH_TEST_PG_* /
# CH_TEST_MARIADB_* to point elsewhere. If a server does not answer, the machine's
# own instance is started; if that does not answer either, a private throw-away
# instance is started in a temporary directory on a free loopback port and is
# stopped when this script exits.
#
# Exported to the tests:
#   CH_TEST_PG_HOST CH_TEST_PG_PORT CH_TEST_PG_USER                 (superuser, no password)
#   CH_TEST_MARIADB_HOST CH_TEST_MARIADB_PORT CH_TEST_MARIADB_USER CH_TEST_MARIADB_PASSWORD
#   CH_TEST_ODBC_PG_DRIVER CH_TEST_ODBC_MARIADB_DRIVER CH_TEST_ODBC_SQLITE_DRIVER
#     (a driver name registered in /etc/odbcinst.ini, or else an absolute .so path)
#   CH_TEST_389DS=skip  only when 389-ds-base could not be installed
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

START_SECONDS=$SECONDS
step() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() {
    printf 'test.sh: error: %s\n' "$*" >&2
    exit 1
}
elapsed() { printf '%dm%02ds' $(((SECONDS - $1) / 60)) $(((SECONDS - $1) % 60)); }

BOOTSTRAP_ONLY=false
SELECTION=()
for arg in "$@"; do
    case "$arg" in
    --bootstrap-only) BOOTSTRAP_ONLY=true ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) SELECTION+=("$arg") ;;
    esac
done
[[ ${#SELECTION[@]} -gt 0 ]] || SELECTION=(--workspace)

IS_ROOT=false
[[ $(id -u) -eq 0 ]] && IS_ROOT=true
SUDO=()
if ! $IS_ROOT && command -v sudo >/dev/null; then
    SUDO=(sudo)
    [[ -t 0 ]] || SUDO=(sudo -n)
fi
# Runs a command as root: directly, through sudo, or reports it cannot.
as_root() {
    if $IS_ROOT; then
        "$@"
    elif [[ ${#SUDO[@]} -gt 0 ]]; then
        "${SUDO[@]}" "$@"
    else
        return 1
    fi
}
can_be_root() { $IS_ROOT || [[ ${#SUDO[@]} -gt 0 ]]; }

# ---------------------------------------------------------------- packages --

is_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
# True when something accepts TCP connections on host $1 port $2 within 3 s.
# shellcheck disable=SC2016 # $1 and $2 expand in the inner shell
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' port_open "$1" "$2" 2>/dev/null; }

APT_UPDATED=false
# Installs the given packages that are missing, running `apt-get update` once.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
    can_be_root || die "missing packages and not root, no sudo; run as root: apt-get install ${missing[*]}"
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/connector-host-apt.XXXXXX")
    if ! $APT_UPDATED; then
        step "apt-get update (needed to install: ${missing[*]})"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 || {
            tail -n 20 "$log" >&2
            die "apt-get update failed; to install by hand: apt-get install ${missing[*]}"
        }
        APT_UPDATED=true
    fi
    step "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >"$log" 2>&1 || {
        tail -n 20 "$log" >&2
        die "apt-get install failed for: ${missing[*]}"
    }
    rm -f "$log"
}

$BOOTSTRAP_ONLY || command -v cargo >/dev/null || die "cargo not found: install Rust first (https://rustup.rs)"
command -v dpkg-query >/dev/null || die "this script needs a Debian-based system (dpkg)"

PG_HOST=${CH_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${CH_TEST_PG_PORT:-5432}
PG_USER=${CH_TEST_PG_USER:-postgres}
MY_HOST=${CH_TEST_MARIADB_HOST:-127.0.0.1}
MY_PORT=${CH_TEST_MARIADB_PORT:-3306}
MY_USER=${CH_TEST_MARIADB_USER:-root}
MY_PASSWORD=${CH_TEST_MARIADB_PASSWORD:-}

BOOT_START=$SECONDS
step "checking packages"
# The default build compiles its own ODBC driver manager (needs only the C compiler); the
# system unixODBC is still installed for crates built alone (testkit, bench) and so that the
# test of a binary that runs without it (host/tests/odbc_without_unixodbc.rs) hides a real one.
# That test runs the binary in a mount namespace: unshare (util-linux) and mount.
PACKAGES=(unixodbc unixodbc-dev odbc-postgresql odbc-mariadb libsqliteodbc slapd ldap-utils openssl util-linux mount)
command -v cc >/dev/null || PACKAGES+=(gcc libc6-dev)
# The script connector's reference connectors and tests run python3, sh and jq.
command -v python3 >/dev/null || PACKAGES+=(python3)
command -v jq >/dev/null || PACKAGES+=(jq)
# The console test drives a real browser: Debian's headless Chromium through chromedriver.
PACKAGES+=(chromium chromium-driver)
# A server package is only needed when nothing answers on its port; the client is
# always needed to check that the server accepts our user.
if port_open "$PG_HOST" "$PG_PORT"; then
    command -v psql >/dev/null || PACKAGES+=(postgresql-client)
else
    PACKAGES+=(postgresql)
fi
if port_open "$MY_HOST" "$MY_PORT"; then
    command -v mariadb >/dev/null || PACKAGES+=(mariadb-client)
else
    PACKAGES+=(mariadb-server)
fi
ensure_packages "${PACKAGES[@]}"
# 389 Directory Server (connectors/ldap/tests/ds389.rs) is optional: where it cannot be
# installed, its tests print NOT RUN instead of failing (CH_TEST_389DS=skip), and so does
# this script's summary.
DS389_NOT_RUN=""
if ! is_installed 389-ds-base; then
    (ensure_packages 389-ds-base) || true
fi
if [[ -x /usr/sbin/ns-slapd && -x /usr/sbin/dscreate ]]; then
    unset CH_TEST_389DS
else
    export CH_TEST_389DS=skip
    DS389_NOT_RUN="NOT RUN: the 389 Directory Server tests (connectors/ldap/tests/ds389.rs): package 389-ds-base could not be installed"
    note "$DS389_NOT_RUN"
fi

# ------------------------------------------------------- private instances --

PRIVATE_DIRS=()
PRIVATE_PG_CTL=()
PRIVATE_MY_PID=""
cleanup() {
    local status=$?
    if [[ ${#PRIVATE_PG_CTL[@]} -gt 0 ]]; then
        note "stopping private PostgreSQL"
        "${PRIVATE_PG_CTL[@]}" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [[ -n $PRIVATE_MY_PID ]]; then
        note "stopping private MariaDB"
        kill "$PRIVATE_MY_PID" 2>/dev/null || true
        wait "$PRIVATE_MY_PID" 2>/dev/null || true
    fi
    local dir
    for dir in "${PRIVATE_DIRS[@]}"; do rm -rf "$dir"; done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints a loopback TCP port nobody listens on.
free_port() {
    local port _
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        port_open 127.0.0.1 "$port" || {
            echo "$port"
            return 0
        }
    done
    die "found no free loopback port"
}

# Polls the command "$@" every half second for at most $1 seconds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# Creates a temporary directory for a private instance in $PRIVATE_DIR (not
# printed: a command substitution would lose the cleanup registration).
private_dir() {
    local parent=${TMPDIR:-/tmp}
    # The server's own user must be able to reach it; root's TMPDIR may be private.
    $IS_ROOT && parent=/tmp
    PRIVATE_DIR=$(mktemp -d "$parent/connector-host-$1.XXXXXX")
    PRIVATE_DIRS+=("$PRIVATE_DIR")
    chmod 755 "$PRIVATE_DIR"
}

# ---------------------------------------------------------------- PostgreSQL --

# True when the PostgreSQL server accepts $PG_USER without a password and the
# user may create databases.
pg_ok() {
    local out
    out=$(PGCONNECT_TIMEOUT=3 psql -w -X -q -t -A -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres \
        -c 'select rolsuper or rolcreatedb from pg_roles where rolname = current_user' 2>/dev/null) &&
        [[ $out == t ]]
}

start_machine_pg() {
    [[ $PG_HOST == 127.0.0.1 || $PG_HOST == localhost ]] || return 1
    command -v pg_lsclusters >/dev/null && can_be_root || return 1
    local cluster
    cluster=$(pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port && $4 != "online" { print $1, $2; exit }')
    [[ -n $cluster ]] || return 1
    note "starting the machine's PostgreSQL cluster $cluster"
    # shellcheck disable=SC2086 # "version name"
    as_root pg_ctlcluster --skip-systemctl-redirect $cluster start >&2 || return 1
    # Wait for the server, then ask once: a password-only pg_hba.conf (Debian's
    # default for TCP) will not change by waiting.
    wait_for 30 pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && pg_ok
}

start_private_pg() {
    local bindir dir port run=()
    # Something else answered on the port, so the server package may be missing.
    ensure_packages postgresql
    bindir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [[ -n $bindir && -x $bindir/initdb ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
    private_dir pg
    dir=$PRIVATE_DIR
    port=$(free_port)
    if $IS_ROOT; then
        # PostgreSQL refuses to run as root.
        chown postgres: "$dir"
        run=(runuser -u postgres --)
    fi
    note "starting a private PostgreSQL in $dir on 127.0.0.1:$port"
    "${run[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
    PRIVATE_PG_CTL=("${run[@]}" "$bindir/pg_ctl" -D "$dir/data")
    "${PRIVATE_PG_CTL[@]}" -l "$dir/postgres.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
        start >/dev/null 2>&1 || die "private PostgreSQL did not start: $(tail -n 5 "$dir/postgres.log")"
    PG_HOST=127.0.0.1 PG_PORT=$port PG_USER=postgres
    wait_for 30 pg_ok || die "private PostgreSQL on port $port does not accept user postgres"
}

step "PostgreSQL on $PG_HOST:$PG_PORT as $PG_USER"
if pg_ok; then
    note "answering"
elif start_machine_pg; then
    note "answering after starting the machine's cluster"
else
    note "not usable; falling back to a private instance"
    start_private_pg
fi

# ------------------------------------------------------------------- MariaDB --

my_client() { MYSQL_PWD=$MY_PASSWORD mariadb --connect-timeout=3 -N -B "$@"; }
# True when MariaDB accepts $MY_USER/$MY_PASSWORD over TCP.
my_ok() { my_client --protocol=TCP -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -e 'select 1' >/dev/null 2>&1; }

start_machine_my() {
    # The machine's server is configured for 3306 and must not be running already.
    [[ $MY_HOST == 127.0.0.1 || $MY_HOST == localhost ]] && [[ $MY_PORT == 3306 ]] || return 1
    [[ -x /usr/sbin/mariadbd && -d /var/lib/mysql/mysql ]] && can_be_root || return 1
    ! port_open "$MY_HOST" "$MY_PORT" || return 1
    ! as_root start-stop-daemon --status --exec /usr/sbin/mariadbd || return 1
    note "starting the machine's MariaDB (/usr/sbin/mariadbd)"
    as_root install -d -o mysql -g mysql /run/mysqld || return 1
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2 || return 1
    # Wait for the port (giving up early if the daemon died), then ask once: a
    # root restricted to unix_socket authentication will not change by waiting.
    local deadline=$((SECONDS + 30))
    until port_open "$MY_HOST" "$MY_PORT"; do
        ((SECONDS < deadline)) || return 1
        as_root start-stop-daemon --status --exec /usr/sbin/mariadbd || return 1
        sleep 0.5
    done
    wait_for 5 my_ok
}

start_private_my() {
    local dir port user=()
    ensure_packages mariadb-server
    command -v mariadb-install-db >/dev/null || die "mariadb-install-db not found (apt-get install mariadb-server)"
    private_dir mariadb
    dir=$PRIVATE_DIR
    port=$(free_port)
    if $IS_ROOT; then
        chown mysql: "$dir"
        user=(--user=mysql)
    fi
    note "starting a private MariaDB in $dir on 127.0.0.1:$port"
    mariadb-install-db --no-defaults "${user[@]}" --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db >"$dir/install.log" 2>&1 || die "mariadb-install-db failed: $(tail -n 5 "$dir/install.log")"
    /usr/sbin/mariadbd --no-defaults "${user[@]}" --datadir="$dir/data" --socket="$dir/mysqld.sock" \
        --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
        --skip-name-resolve --skip-log-bin --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=0 >/dev/null 2>&1 &
    PRIVATE_MY_PID=$!
    local deadline=$((SECONDS + 30))
    until mariadb --no-defaults -S "$dir/mysqld.sock" -uroot -e 'select 1' >/dev/null 2>&1; do
        if ((SECONDS >= deadline)) || ! kill -0 "$PRIVATE_MY_PID" 2>/dev/null; then
            die "private MariaDB did not start: $(tail -n 5 "$dir/error.log" 2>/dev/null)"
        fi
        sleep 0.5
    done
    # install-db creates root@localhost only; tests connect over TCP to 127.0.0.1.
    mariadb --no-defaults -S "$dir/mysqld.sock" -uroot -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" ||
        die "could not create root@127.0.0.1 in the private MariaDB"
    MY_HOST=127.0.0.1 MY_PORT=$port MY_USER=root MY_PASSWORD=""
    my_ok || die "private MariaDB on port $port does not accept root over TCP"
}

step "MariaDB on $MY_HOST:$MY_PORT as $MY_USER"
if my_ok; then
    note "answering"
elif start_machine_my; then
    note "answering after starting the machine's server"
else
    note "not usable; falling back to a private instance"
    start_private_my
fi

# ---------------------------------------------------------- ODBC and slapd --

# Prints the driver name registered in /etc/odbcinst.ini as $1, or else the
# absolute path of the driver library $2.
odbc_driver() {
    if grep -qxF "[$1]" /etc/odbcinst.ini 2>/dev/null; then
        echo "$1"
        return 0
    fi
    local lib
    lib=$(find /usr/lib -path '*/odbc/*' -name "$2" 2>/dev/null | head -n 1)
    [[ -n $lib ]] || die "ODBC driver '$1' is neither in /etc/odbcinst.ini nor installed ($2)"
    echo "$lib"
}

step "ODBC drivers and LDAP tools"
# (Assigned before export so that a failing lookup stops the script.)
CH_TEST_ODBC_PG_DRIVER=${CH_TEST_ODBC_PG_DRIVER:-$(odbc_driver "PostgreSQL Unicode" psqlodbcw.so)}
CH_TEST_ODBC_MARIADB_DRIVER=${CH_TEST_ODBC_MARIADB_DRIVER:-$(odbc_driver "MariaDB Unicode" libmaodbc.so)}
CH_TEST_ODBC_SQLITE_DRIVER=${CH_TEST_ODBC_SQLITE_DRIVER:-$(odbc_driver "SQLite3" libsqlite3odbc.so)}
export CH_TEST_ODBC_PG_DRIVER CH_TEST_ODBC_MARIADB_DRIVER CH_TEST_ODBC_SQLITE_DRIVER
for tool in /usr/sbin/slapd ldapsearch openssl; do
    command -v "$tool" >/dev/null || die "$tool not found after installing packages"
done

export CH_TEST_PG_HOST=$PG_HOST CH_TEST_PG_PORT=$PG_PORT CH_TEST_PG_USER=$PG_USER
export CH_TEST_MARIADB_HOST=$MY_HOST CH_TEST_MARIADB_PORT=$MY_PORT CH_TEST_MARIADB_USER=$MY_USER
export CH_TEST_MARIADB_PASSWORD=$MY_PASSWORD
env | grep '^CH_TEST_' | sort | sed 's/^/    /' >&2
BOOT_TIME=$(elapsed "$BOOT_START")
step "bootstrap done in $BOOT_TIME"

if $BOOTSTRAP_ONLY; then
    [[ ${#PRIVATE_DIRS[@]} -eq 0 ]] || note "private instances stop now that the script exits"
    exit 0
fi

# --------------------------------------------------------------------- cargo --

FAILED=()
# Runs one named step, remembering a failure instead of stopping, so one run
# reports everything that is wrong.
run_step() {
    local name=$1 t0=$SECONDS
    shift
    step "$name: $*"
    if "$@"; then
        note "$name passed in $(elapsed "$t0")"
    else
        note "$name FAILED in $(elapsed "$t0")"
        FAILED+=("$name")
    fi
}

if [[ -n ${CI:-} ]]; then
    # A clean CI checkout gains nothing from incremental artifacts or full
    # debug info; both cost build time and disk.
    export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
    export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}
    run_step fmt cargo fmt --all --check
    run_step clippy cargo clippy "${SELECTION[@]}" --all-targets --all-features -- -D warnings
fi
if command -v cargo-nextest >/dev/null; then
    run_step tests cargo nextest run "${SELECTION[@]}" --all-features --no-fail-fast --no-tests=warn
    run_step doctests cargo test "${SELECTION[@]}" --all-features --doc
    # The connector-space suite once more on the PostgreSQL backend (#17): both stores must
    # behave alike. Each test prints NOT RUN and passes where no PostgreSQL server answers.
    if [[ ${SELECTION[*]} == --workspace ]]; then
        run_step space-on-postgres env CH_TEST_SPACE_BACKEND=postgres cargo nextest run \
            -p connector-host --all-features --no-fail-fast --test space_ops --test space_import \
            --test space_intents --test space_pending --test space_bulk --test space_scale \
            --test space_format
    fi
else
    run_step tests cargo test "${SELECTION[@]}" --all-features --no-fail-fast
fi

[[ -z $DS389_NOT_RUN ]] || printf 'test.sh: %s\n' "$DS389_NOT_RUN" >&2
if [[ ${#FAILED[@]} -eq 0 ]]; then
    printf 'test.sh: PASSED in %s (bootstrap %s)\n' "$(elapsed "$START_SECONDS")" "$BOOT_TIME" >&2
else
    printf 'test.sh: FAILED (%s) in %s (bootstrap %s)\n' "${FAILED[*]}" "$(elapsed "$START_SECONDS")" "$BOOT_TIME" >&2
    exit 1
fi
