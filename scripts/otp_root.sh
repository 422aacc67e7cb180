#!/usr/bin/env bash
# Makes a Debian root with the Erlang/OTP and Elixir of a newer Debian
# release, and wrappers that run its erl, erlc, epmd, escript and elixir as
# if they were installed here, so the interop suites can run against them:
#
#   scripts/otp_root.sh DIR [SUITE]     # SUITE trixie (default): OTP 27
#   PATH=DIR/bin:$PATH go test ./interop/...
#
# It prints the OTP release (e.g. 27) on standard output, and what it does
# on standard error.
#
# DIR/root is the Debian root (debootstrap, minbase plus erlang-nox and
# elixir), DIR/bin
# the wrappers. A wrapper enters a private mount namespace, binds this
# machine's /proc, /dev, /sys, /tmp and the project into the root at the
# same paths (the tests hand erl files under both), and chroots there. The
# mounts live only as long as the program, so nothing stays mounted and
# DIR can be deleted like any directory. The program keeps the pid the
# caller started (every step execs), so kill -9 reaches the VM and the
# loopback network is shared: a Go test talks to it as to a local erl.
#
# Needs root (debootstrap, unshare, mount, chroot) and the Debian mirror
# (DEBIAN_MIRROR, default http://deb.debian.org/debian). A root that is
# complete is reused; exit status 2 means this machine cannot make one.
set -euo pipefail

dir=${1:?usage: scripts/otp_root.sh DIR [SUITE]}
suite=${2:-trixie}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
project=$(cd "$(dirname "$0")/.." && pwd)
root=$dir/root
pkgs=erlang-nox,elixir

cannot() { echo "otp_root: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || cannot "needs root (debootstrap, mount namespaces, chroot)"
if ! command -v debootstrap >/dev/null 2>&1; then
	install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null; }
	install || { apt-get update >/dev/null && install; } ||
		cannot "debootstrap is missing and apt-get could not install it"
fi
unshare --mount --propagation private true 2>/dev/null ||
	cannot "mount namespaces are not allowed here (unshare --mount failed)"

if [ ! -e "$dir/.complete-$suite-$pkgs" ]; then
	# Never mounted outside a wrapper's namespace: safe to remove.
	rm -rf "$root"
	mkdir -p "$dir"
	echo "otp_root: debootstrap $suite with $pkgs into $root (log: $dir/debootstrap.log)" >&2
	debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
		cannot "debootstrap $suite from $mirror failed; see $dir/debootstrap.log"
	touch "$dir/.complete-$suite-$pkgs"
fi

mkdir -p "$dir/bin"
for tool in erl erlc epmd escript elixir; do
	cat >"$dir/bin/$tool" <<EOF
#!/bin/sh
# $tool of $root (made by scripts/otp_root.sh): see there.
exec unshare --mount --propagation private /bin/sh -c '
	r=\$1 p=\$2; shift 2
	for d in /proc /dev /sys /tmp "\$p"; do
		mkdir -p "\$r\$d" && mount --rbind "\$d" "\$r\$d" || exit 70
	done
	exec chroot "\$r" /bin/sh -c "cd \\"\\\$1\\" || exit 71; shift; exec /usr/bin/$tool \\"\\\$@\\"" $tool "\$PWD" "\$@"
' $tool "$root" "$project" "\$@"
EOF
	chmod +x "$dir/bin/$tool"
done

release=$("$dir/bin/erl" -noshell -eval 'io:put_chars(erlang:system_info(otp_release)), halt().') ||
	cannot "the erl of $root does not start"
echo "otp_root: OTP $release from Debian $suite: PATH=$dir/bin:\$PATH" >&2
echo "$release"
