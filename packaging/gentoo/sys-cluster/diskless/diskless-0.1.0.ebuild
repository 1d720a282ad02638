# Ebuild for diskless, following the go-module eclass conventions: the Go
# dependencies come as a tarball of the module cache (make it with
# `GOMODCACHE=$PWD/go-mod go mod download && tar -caf ${P}-deps.tar.xz go-mod`)
# published beside the release.

EAPI=8

inherit bash-completion-r1 go-module systemd

DESCRIPTION="Boot server for a cluster of diskless NFS-root machines"
HOMEPAGE="https://github.com/diskless-project/diskless"
SRC_URI="
	https://github.com/diskless-project/diskless/archive/v${PV}.tar.gz -> ${P}.tar.gz
	https://github.com/diskless-project/diskless/releases/download/v${PV}/${P}-deps.tar.xz
"

# The project has not chosen a license yet (no LICENSE file in the
# repository): fill this in when it does; until then the ebuild cannot be
# added to a repository that pkgcheck guards.
LICENSE=""
SLOT="0"
KEYWORDS="~amd64 ~arm64"

RDEPEND="
	net-fs/nfs-utils
	net-misc/rsync
"
BDEPEND=">=dev-lang/go-1.26"

src_prepare() {
	default
	# The service files name the binary by the @BINDIR@ placeholder.
	sed -i -e "s|@BINDIR@|${EPREFIX}/usr/bin|g" \
		scripts/openrc/diskless-serve.initd \
		scripts/openrc/diskless-serve.confd \
		scripts/systemd/diskless-serve.service || die
}

src_compile() {
	local ldflags="-X github.com/diskless-project/diskless/cmd/cli.Version=${PV}"
	ego build -trimpath -ldflags "${ldflags}" -o bin/diskless ./cmd/diskless
	# Man pages and completions of this build (with its version).
	rm -rf docs/man || die
	SOURCE_DATE_EPOCH=0 ego run -ldflags "${ldflags}" ./cmd/gendocs man docs/man
	local sh
	for sh in bash zsh fish; do
		bin/diskless completion ${sh} > diskless.${sh} || die
	done
}

src_test() {
	# The unit and script tests; those needing root or Debian's packages skip.
	ego test ./cmd/cli/... ./config/... ./slave/... ./nfs/... ./distro/...
}

src_install() {
	dobin bin/diskless
	doman docs/man/*.1
	newbashcomp diskless.bash diskless
	insinto /usr/share/zsh/site-functions
	newins diskless.zsh _diskless
	insinto /usr/share/fish/vendor_completions.d
	newins diskless.fish diskless.fish
	newinitd scripts/openrc/diskless-serve.initd diskless-serve
	newconfd scripts/openrc/diskless-serve.confd diskless-serve
	systemd_dounit scripts/systemd/diskless-serve.service
	insinto /etc/logrotate.d
	newins scripts/logrotate/diskless-serve diskless-serve
	keepdir /var/lib/diskless
	dodoc README.md docs/*.md
}

pkg_postinst() {
	elog "Write the configuration:  diskless init --master IP --subnet CIDR --interface IFACE"
	elog "Check the master:         diskless doctor"
	elog "Start the boot service:   rc-update add diskless-serve default && rc-service diskless-serve start"
	elog "It serves DHCP (UDP 67) and TFTP (UDP 69): stop net-misc/dhcp and in.tftpd first,"
	elog "or set DISKLESS_SERVE_OPTS=\"--no-dhcp\" in /etc/conf.d/diskless-serve."
}
