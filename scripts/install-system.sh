#!/usr/bin/env bash
# Debian packages that safeship's tests and benchmarks drive for real. Idempotent; needs root or sudo.
set -euo pipefail
pkgs=(wrk haproxy nginx-light prometheus prometheus-alertmanager)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged daemons must not hold ports our tests use.
for svc in haproxy nginx prometheus prometheus-alertmanager prometheus-node-exporter; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
