#!/usr/bin/env bash
# Checks the shipped Prometheus alert rules and runs their unit tests:
#   promtool check rules  deploy/prometheus/hookwarden.rules.yml
#   promtool test rules   deploy/prometheus/*.test.yml
# promtool comes with Debian's `prometheus` package (apt-get install -y
# prometheus). Without it this script fails, saying so: CI must not pass
# rules nobody checked.
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
    echo "alert-rules: promtool is missing; install Debian's package: apt-get install -y prometheus" >&2
    exit 1
fi

promtool check rules hookwarden.rules.yml
promtool test rules ./*.test.yml
echo "alert-rules: rules checked and tested"
