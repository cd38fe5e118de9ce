#!/usr/bin/env bash
# Installs the Debian packages steer needs to build, test and run, when missing.
# Debian packages only; nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
	cmake make gcc pkg-config     # the build
	flex bison                    # grammar/: scanner and parser generators
	clang llvm                    # the BPF target, and the libFuzzer build
	libclang-rt-14-dev            # libFuzzer and sanitizer runtimes for clang
	libbpf-dev libelf-dev zlib1g-dev  # runtime/: loading BPF objects
	libjson-c-dev                 # --json output
	libssl-dev                    # SHA-256 of the applied policy (libcrypto)
	libcmocka-dev                 # unit tests
	iproute2 util-linux           # tests: ip, unshare, nsenter
	bpftool                       # tests inspect what apply left in the kernel
	strace                        # tests kill apply and detach at each system call
	dnsmasq-base bind9-dnsutils   # tests: a real UDP server (dnsmasq) and dig
	jq                            # tests read --json output
	python3                       # tests: sockets a test holds open, generated long inputs
	gnuplot-nox                   # bench/: plots
	openssl curl                  # tests: real TLS servers and clients for forward sni
	socat haproxy                 # bench/ and tests: the proxies an operator would pick instead
	nginx-light libnginx-mod-stream  # bench/ and tests: nginx stream (TCP proxy) and an HTTPS server
	libmicrohttpd-dev             # the HTTP server of `steer metrics --listen`
	prometheus                    # tests: promtool and a real scrape of `steer metrics --listen`
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "steer: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 2
fi
echo "steer: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
