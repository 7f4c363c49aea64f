#!/usr/bin/env bash
# Runs a command with a throwaway WordPress (Debian's package, on MariaDB)
# served on a free loopback port, and BBWS_TEST_WP_URL, BBWS_TEST_WP_USER and
# BBWS_TEST_WP_APP_PASSWORD (an Application Password of its administrator)
# pointing at it, then stops it. The WordPress tests run only with them set.
#
#   scripts/with-wordpress.sh cargo test -p bbws-host --test wordpress
#   scripts/with-wordpress.sh scripts/with-moto.sh cargo test --workspace
#
# On first use it installs the Debian packages (apt-get; root or sudo). Each
# run then starts a fresh MariaDB (private datadir in a temp dir, 127.0.0.1),
# serves /usr/share/wordpress with `php -S` (no rewrite rules: the REST API is
# URL/?rest_route=/wp/v2/...), installs WordPress with a PHP script and
# removes it all on exit. Debian's wp-config.php reads
# /etc/wordpress/config-<name>.php: the php -S router selects
# config-bbws-test.php, which includes the run's own config file.
# shellcheck disable=SC2016 # PHP code in single quotes
set -euo pipefail

(( $# > 0 )) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
WP_ROOT=/usr/share/wordpress
ETC_CONFIG=/etc/wordpress/config-bbws-test.php
PACKAGES=(wordpress wordpress-theme-twentytwentythree php-cli php-mysql mariadb-server curl)
WP_USER=bbws-admin
log() { printf '[wordpress] %s\n' "$*" >&2; }
fail() { printf '[wordpress] error: %s\n' "$*" >&2; exit 1; }

# 1. The packages (skipped when installed).
command -v dpkg-query >/dev/null || fail "this needs Debian's packages (dpkg, apt-get): no dpkg-query here"
missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if (( ${#missing[@]} > 0 )); then
  SUDO=()
  if (( EUID != 0 )); then
    command -v sudo >/dev/null || fail "the packages ${missing[*]} are missing and installing them needs root (or sudo)"
    SUDO=(sudo)
  fi
  log "installing ${missing[*]} (apt-get)"
  apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$APT_LOG" 2>&1
  }
  APT_LOG=$(mktemp -t bbws-wp-apt.XXXXXX.log)
  if ! apt_install; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$APT_LOG" 2>&1 || true
    apt_install || { tail -n 20 "$APT_LOG" >&2; fail "apt-get install ${missing[*]} failed (log: $APT_LOG)"; }
  fi
  rm -f "$APT_LOG"
fi
[[ -f $WP_ROOT/wp-load.php ]] || fail "$WP_ROOT/wp-load.php is missing: is Debian's wordpress package installed?"
php -r 'exit(extension_loaded("mysqli") ? 0 : 1);' || fail "PHP has no mysqli extension (package php-mysql)"

# 2. The config Debian's wp-config.php loads (the same every run; it includes
# the run's own config, named by the environment of php).
ETC_CONTENT="<?php
// Written by bbws's scripts/with-wordpress.sh: the throwaway WordPress of its
// tests, selected by its php -S router. The run's settings are in the file
// BBWS_WP_RUN_CONFIG names.
if (!getenv('BBWS_WP_RUN_CONFIG')) { header('HTTP/1.0 500'); exit('BBWS_WP_RUN_CONFIG is not set'); }
require getenv('BBWS_WP_RUN_CONFIG');"
if [[ ! -f $ETC_CONFIG || $(<"$ETC_CONFIG") != "$ETC_CONTENT" ]]; then
  { printf '%s\n' "$ETC_CONTENT" >"$ETC_CONFIG.$$" && mv "$ETC_CONFIG.$$" "$ETC_CONFIG"; } 2>/dev/null \
    || fail "cannot write $ETC_CONFIG (run once as root)"
fi

# 3. A fresh MariaDB on 127.0.0.1.
free_port() { php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo substr(strrchr(stream_socket_get_name($s, false), ":"), 1);'; }
random() { php -r 'echo bin2hex(random_bytes(12));'; }
RUN=$(mktemp -d -t bbws-wp.XXXXXX)
DB_PID='' PHP_PID=''
cleanup() {
  if [[ -n $PHP_PID ]]; then
    # php -S's workers outlive their parent: stop them too.
    local workers
    workers=$(pgrep -P "$PHP_PID" 2>/dev/null || true)
    # shellcheck disable=SC2086
    kill $workers "$PHP_PID" 2>/dev/null || true
    wait "$PHP_PID" 2>/dev/null || true
  fi
  [[ -n $DB_PID ]] && { kill "$DB_PID" 2>/dev/null || true; wait "$DB_PID" 2>/dev/null || true; }
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DB_PORT=$(free_port)
DB_PASSWORD=$(random)
DB_OPTS=(--no-defaults --datadir="$RUN/db" --user="$(id -un)" --skip-log-bin
  --innodb-buffer-pool-size=32M --innodb-log-file-size=8M)
mariadb-install-db "${DB_OPTS[@]}" --auth-root-authentication-method=socket --skip-test-db >"$RUN/db-install.log" 2>&1 \
  || { tail -n 20 "$RUN/db-install.log" >&2; fail "mariadb-install-db failed"; }
mariadbd "${DB_OPTS[@]}" --socket="$RUN/db.sock" --pid-file="$RUN/db.pid" --port="$DB_PORT" \
  --bind-address=127.0.0.1 --skip-name-resolve --log-error="$RUN/db.log" >>"$RUN/db.log" 2>&1 &
DB_PID=$!
db() { mariadb --no-defaults --socket="$RUN/db.sock" -uroot "$@"; }
for _ in $(seq 1 100); do
  db -e 'SELECT 1' >/dev/null 2>&1 && break
  kill -0 "$DB_PID" 2>/dev/null || { tail -n 20 "$RUN/db.log" >&2; fail "MariaDB exited on start"; }
  sleep 0.1
done
db -e 'SELECT 1' >/dev/null 2>&1 || { tail -n 20 "$RUN/db.log" >&2; fail "MariaDB did not answer"; }
db -e "CREATE DATABASE wordpress CHARACTER SET utf8mb4;
  CREATE USER 'bbws'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
  GRANT ALL ON wordpress.* TO 'bbws'@'127.0.0.1';" || fail "cannot create the database"

# 4. WordPress: the run's config, php -S, the installation.
WP_PORT=$(free_port)
URL="http://127.0.0.1:$WP_PORT"
cat >"$RUN/wp-config.php" <<EOF
<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'bbws');
define('DB_PASSWORD', '$DB_PASSWORD');
define('DB_HOST', '127.0.0.1:$DB_PORT');
define('WP_HOME', '$URL');
define('WP_SITEURL', '$URL');
// Application Passwords over plain HTTP.
define('WP_ENVIRONMENT_TYPE', 'local');
// No background work, updates or calls out of the machine.
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
EOF
export BBWS_WP_RUN_CONFIG=$RUN/wp-config.php

# Installs WordPress (as wp-admin/install.php would) and prints a new
# Application Password of its administrator.
cat >"$RUN/install.php" <<'EOF'
<?php
$_SERVER['WORDPRESS_CONFIG'] = 'bbws-test';
$_SERVER['HTTP_HOST'] = '127.0.0.1:' . getenv('BBWS_WP_PORT');
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['SERVER_PORT'] = getenv('BBWS_WP_PORT');
$_SERVER['REQUEST_URI'] = '/wp-admin/install.php';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
// No e-mail about the new site (there is no MTA).
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password) {}
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$user = getenv('BBWS_WP_ADMIN');
$installed = wp_install('bbws test site', $user, $user . '@example.com', false, '', wp_slash(getenv('BBWS_WP_ADMIN_PASSWORD')));
$created = WP_Application_Passwords::create_new_application_password($installed['user_id'], array('name' => 'bbws tests'));
if (is_wp_error($created)) {
    fwrite(STDERR, $created->get_error_message() . "\n");
    exit(1);
}
echo $created[0];
EOF
# php -S has no rewrite rules: the router only selects the config, then lets
# the server serve the file (or the directory's index.php) as usual.
cat >"$RUN/router.php" <<'EOF'
<?php
$_SERVER['WORDPRESS_CONFIG'] = 'bbws-test';
return false;
EOF
WP_PASSWORD=$(random)
BBWS_WP_PORT=$WP_PORT BBWS_WP_ADMIN=$WP_USER BBWS_WP_ADMIN_PASSWORD=$WP_PASSWORD \
  php "$RUN/install.php" >"$RUN/app-password" 2>"$RUN/install.log" \
  || { tail -n 20 "$RUN/install.log" >&2; fail "installing WordPress failed"; }
APP_PASSWORD=$(<"$RUN/app-password")
[[ -n $APP_PASSWORD ]] || fail "installing WordPress gave no application password"

PHP_CLI_SERVER_WORKERS=4 php -S "127.0.0.1:$WP_PORT" -t "$WP_ROOT" "$RUN/router.php" >"$RUN/php.log" 2>&1 &
PHP_PID=$!
ME=
for _ in $(seq 1 100); do
  ME=$(curl -fsS -u "$WP_USER:$APP_PASSWORD" "$URL/?rest_route=/wp/v2/users/me" 2>/dev/null) && break
  kill -0 "$PHP_PID" 2>/dev/null || { tail -n 20 "$RUN/php.log" >&2; fail "php -S exited on start"; }
  sleep 0.1
done
[[ $ME == *"\"slug\":\"$WP_USER\""* ]] || {
  curl -sS -u "$WP_USER:$APP_PASSWORD" "$URL/?rest_route=/wp/v2/users/me" >&2 || true
  echo >&2; tail -n 20 "$RUN/php.log" >&2
  fail "WordPress's REST API did not accept the application password at $URL/?rest_route=/wp/v2/users/me"
}
WP_VERSION=$(php -r 'include "/usr/share/wordpress/wp-includes/version.php"; echo $wp_version;')
log "WordPress $WP_VERSION on $URL as $WP_USER (admin password $WP_PASSWORD; logs in $RUN until it stops)"

export BBWS_TEST_WP_URL=$URL BBWS_TEST_WP_USER=$WP_USER BBWS_TEST_WP_APP_PASSWORD=$APP_PASSWORD
"$@"
