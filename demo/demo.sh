#!/usr/bin/env bash
# A scripted walk through binding and help on the built-in console channel.
# It uses a throwaway database, so it can be run any number of times:
#   bash demo/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DUDAO_DATABASE__PATH="$work/demo.sqlite"
export DUDAO_HTTP__BIND="127.0.0.1:0"
export DUDAO_LOG="${DUDAO_LOG:-warn}"

cargo build --quiet
# Wherever cargo puts the binary: ./target, $CARGO_TARGET_DIR or build.target-dir.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
dudao="${target_dir:-target}/debug/dudao"

# The office hands out one-time binding codes (on first use the fictional sample county is loaded).
codes=$("$dudao" roster codes D005 S001)
echo "$codes"
inspector_code=$(echo "$codes" | awk -F'\t' '$1 == "D005" { print $3 }')
supervisor_code=$(echo "$codes" | awk -F'\t' '$1 == "S001" { print $3 }')

# Lines are "account: text" (private) or "account@group: text" (in a group).
"$dudao" serve <<SCRIPT
# Someone the bot does not know: a short "please bind", nothing private.
wang: 你好
wang: 我是谁
# The inspector binds with the code from the office, then asks for help.
wang: 绑定 ${inspector_code}
wang: 帮助
wang: 我是谁
# A supervisor binds and registers the county inspectors' group.
zhou: 绑定 ${supervisor_code}
zhou: 帮助
zhou@county-inspectors: 登记群 全县督学群
# The inspector asks about a school in a group: phone numbers are masked there.
wang@county-inspectors: 学校 红旗中学
# An inspector may not register groups.
wang@county-inspectors: 登记群 督导室群
SCRIPT
