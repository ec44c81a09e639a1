#!/usr/bin/env bash
# Installs what weft needs on a Debian machine, only what is missing.
# Debian packages (--no-install-recommends) and Deno 2.9.6 from the npm registry.
# containerd, runc and busybox-static are for the containerd end-to-end test,
# the ctr bench and `weft demo --runtime containerd` (busybox is the image);
# prometheus (its server and promtool) for the metrics scrape test; binutils
# for both architectures and qemu-user-static for the CNI launcher's test
# (its x86_64 and aarch64 machine code reassembled, the aarch64 one run).
set -euo pipefail

DENO_VERSION=2.9.6
DENO_HOME=${WEFT_DENO_HOME:-/opt/weft/deno}
PKGS=(libnl-3-200 libnl-route-3-200 libnl-genl-3-200 iptables nftables iproute2
  containernetworking-plugins wireguard-tools wireguard-go conntrack tcpdump
  iperf3 curl ethtool kmod procps util-linux iputils-ping openssl
  containerd runc busybox-static prometheus etcd-server
  binutils binutils-aarch64-linux-gnu qemu-user-static)

log() { printf 'install: %s\n' "$*" >&2; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

have_deno() { command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | head -1 | grep -q "deno $DENO_VERSION "; }
if ! have_deno; then
  case "$(uname -m)" in
    x86_64) plat=linux-x64-glibc ;;
    aarch64) plat=linux-arm64-glibc ;;
    *) log "no Deno build for $(uname -m)"; exit 1 ;;
  esac
  log "npm install deno@$DENO_VERSION into $DENO_HOME"
  mkdir -p "$DENO_HOME"
  # The package's postinstall is not needed: the binary ships in the
  # platform package, which npm installs as an optional dependency.
  npm install --silent --no-audit --no-fund --prefix "$DENO_HOME" "deno@$DENO_VERSION" >/dev/null 2>&1
  bin="$DENO_HOME/node_modules/@deno/$plat/deno"
  [ -x "$bin" ] || { log "deno binary not found at $bin"; exit 1; }
  ln -sf "$bin" /usr/local/bin/deno
  hash -r
  have_deno || { log "deno $DENO_VERSION did not install"; exit 1; }
fi

# Debian 12 ships containerd 1.6; the tests drive it with ctr of that era.
if command -v containerd >/dev/null 2>&1; then
  ver=$(containerd --version 2>/dev/null | grep -oE ' v?[0-9]+\.[0-9]+\.[0-9]+' | head -1 | tr -d ' v')
  case "$ver" in
    1.[6-9].* | [2-9].*) ;;
    *) log "containerd ${ver:-of unknown version} found; weft's containerd test needs 1.6 or later" ;;
  esac
fi
