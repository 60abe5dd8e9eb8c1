#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and RabbitMQ run on this machine (installs them from Debian packages
# when absent, starts them when stopped). Used by CI and by `make test` / `make run` on a fresh machine.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 "${3:-60}"); do port_open "$1" && return 0; sleep 1; done; echo "$2 did not start on :$1" >&2; return 1; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL: the fleet connects as postgres on 127.0.0.1 without a password (trust), as on dev machines.
if ! port_open 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL"; apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q "fleet: trust loopback" "$hba"; then
    as_root sed -i '1i # fleet: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
  fi
  echo "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL
fi

if ! port_open 6379; then
  command -v redis-server >/dev/null || { echo "installing Redis"; apt_install redis-server; }
  echo "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
fi

# The Redis Cluster tests start their own 3-master cluster on spare ports: they need the binaries even
# when Redis on :6379 is a container or a remote server (redis-cli comes with redis-tools).
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "installing redis-server and redis-tools (for the local Redis Cluster tests)"; apt_install redis-server redis-tools
fi

if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || { echo "installing RabbitMQ"; apt_install rabbitmq-server; }
  echo "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  wait_port 5672 RabbitMQ 120
  as_root rabbitmqctl -q await_startup >/dev/null 2>&1 || true
fi
# Prometheus's promtool: the alert rules' unit tests, and the metrics test that runs a real Prometheus
# (Debian's package; its own service is not started: the tests start one on loopback when they need it).
if ! command -v promtool >/dev/null; then
  echo "installing Prometheus (promtool)"; apt_install prometheus
fi
# Debian's Chromium: the test that a browser's EventSource consumes GET /stream runs it headless.
if ! command -v chromium >/dev/null; then
  echo "installing Chromium (the live stream's browser test)"
  apt_install chromium || echo "Chromium could not be installed: the browser test will be skipped" >&2
fi
echo "PostgreSQL :5432, Redis :6379 and RabbitMQ :5672 are up"
