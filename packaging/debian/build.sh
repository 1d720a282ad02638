#!/bin/sh
# Builds bin/diskless_<version>_<arch>.deb with dpkg-deb: what `make
# install PREFIX=/usr` installs (the binary, man pages and completions of
# this version, the systemd unit; the OpenRC files are for Gentoo: left
# out), staged without touching the tree (docs/ stays as committed).
# Usage (from the Makefile): VERSION=... GO=... sh packaging/debian/build.sh
set -eu
cd "$(dirname "$0")/../.."
: "${VERSION:=dev}"
: "${GO:=go}"
# A Debian version starts with a digit: v1.2.3-4-gabc -> 1.2.3+4+gabc;
# an untagged tree (a bare commit id) -> 0~git<id>.
v=${VERSION#v}
case $v in
[0-9]*) debv=$(printf '%s' "$v" | tr -- '-' '+') ;;
*) debv="0~git$(printf '%s' "$v" | tr -- '-' '+')" ;;
esac
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ldflags="-X github.com/diskless-project/diskless/cmd/cli.Version=$VERSION"
"$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$stage/usr/bin/diskless" ./cmd/diskless
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
	"$GO" run -ldflags "$ldflags" ./cmd/gendocs man "$stage/usr/share/man/man1"
gzip -9n "$stage"/usr/share/man/man1/*.1
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" "$stage/usr/share/fish/vendor_completions.d"
"$stage/usr/bin/diskless" completion bash > "$stage/usr/share/bash-completion/completions/diskless"
"$stage/usr/bin/diskless" completion zsh > "$stage/usr/share/zsh/vendor-completions/_diskless"
"$stage/usr/bin/diskless" completion fish > "$stage/usr/share/fish/vendor_completions.d/diskless.fish"
make -s install-services DESTDIR="$stage" PREFIX=/usr SYSTEMDUNITDIR=/usr/lib/systemd/system
rm -rf "$stage/etc/init.d" "$stage/etc/conf.d" "$stage/etc/logrotate.d"
rmdir "$stage/etc" 2>/dev/null || true
install -d "$stage/usr/share/doc/diskless"
install -m 0644 README.md "$stage/usr/share/doc/diskless/README.md"
install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$debv|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" packaging/debian/control > "$stage/DEBIAN/control"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$stage/DEBIAN/"
mkdir -p bin
out="bin/diskless_${debv}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
