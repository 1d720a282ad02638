package dhcpd

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/diskless-project/diskless/config"
	"github.com/diskless-project/diskless/netboot"
	"github.com/diskless-project/diskless/slave"
)

const (
	macA = "52:54:00:00:00:15" // registered as 10.5.0.21
	macB = "52:54:00:00:00:16" // registered as 10.5.0.22, kernel 6.6.1
	macU = "52:54:00:ff:ff:01" // unknown
)

func testConfig(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	base := map[string]string{
		"DISKLESS_MASTER": "10.5.0.1", "DISKLESS_SUBNET": "10.5.0.0/24", "DISKLESS_DNS": "10.5.0.53",
		"DISKLESS_DOMAIN": "cluster.lan", "DISKLESS_INTERFACE": "dls0", "DISKLESS_LEASE_TIME": "1h",
		"DISKLESS_KERNEL_DEFAULT": "6.1.0",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(config.Options{Root: t.TempDir(), Env: func(k string) (string, bool) { v, ok := base[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func testRegistry() *slave.Registry {
	return &slave.Registry{Slaves: []slave.Slave{
		{IP: netip.MustParseAddr("10.5.0.21"), MAC: macA, Hostname: "slave21"},
		{IP: netip.MustParseAddr("10.5.0.22"), MAC: macB, Hostname: "slave22", Kernel: "6.6.1"},
	}}
}

func newTestServer(t testing.TB, env map[string]string, reg *slave.Registry, log *bytes.Buffer) *Server {
	t.Helper()
	o := Options{Live: netboot.Static(testConfig(t, env), reg), Tracker: netboot.NewTracker(nil)}
	if log != nil {
		o.Log = slog.New(slog.NewTextHandler(log, nil))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// request builds a client packet and passes it through the wire format.
func request(t testing.TB, mt dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := dhcpv4.FromBytes(d.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return d2
}

var local = inbound{ifName: "dls0", port: 67, src: netip.MustParseAddrPort("0.0.0.0:68")}

// answer runs the handler and decodes the reply from its wire bytes.
func answer(t testing.TB, s *Server, req *dhcpv4.DHCPv4, in inbound) (*dhcpv4.DHCPv4, netip.AddrPort, bool) {
	t.Helper()
	out, ok := s.handle(req, in)
	if !ok {
		return nil, netip.AddrPort{}, false
	}
	r, err := dhcpv4.FromBytes(out.pkt.ToBytes())
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return r, out.dst, true
}

var (
	pxeBIOS = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)), dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, bytes.Repeat([]byte{0xab}, 16)...))}
	pxeUEFI = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64))}
	pxeBC   = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00009:UNDI:003016")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_BC))}
	ipxe    = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)), dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE"))}
	ether   = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Etherboot-5.4"))}
	vcOnly  = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016"))}
	// ipxeEFI is iPXE's x86-64 EFI build (snponly.efi, or QEMU's EFI ROM).
	ipxeEFI = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)), dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE"))}
	// httpUEFI is UEFI HTTP Boot as OVMF's HttpBootDxe asks (UEFI 2.10, 24.7.2).
	httpUEFI = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")), dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 16})}
	// ia32 is a 32-bit UEFI PXE client (option 93 = 6).
	ia32 = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00006:UNDI:003016")), dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 6})}
	// arm64 is AAVMF's PXE (QEMU -M virt), arm64HTTP its HTTP Boot.
	arm64     = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00011:UNDI:003000")), dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 11})}
	arm64HTTP = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00019:UNDI:003000")), dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 19})}
	plain     = []dhcpv4.Modifier{}
	wantFile  = dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName)
)

func TestClassify(t *testing.T) {
	for name, tc := range map[string]struct {
		mods []dhcpv4.Modifier
		want netboot.ClientKind
	}{
		"pxe-bios": {pxeBIOS, netboot.ClientPXEBIOS}, "uefi-7": {pxeUEFI, netboot.ClientPXEUEFI64}, "uefi-9": {pxeBC, netboot.ClientPXEUEFI64},
		"ipxe": {ipxe, netboot.ClientIPXE}, "etherboot": {ether, netboot.ClientEtherboot}, "vendor-class-only": {vcOnly, netboot.ClientPXEUEFI64},
		"plain": {plain, netboot.ClientUnknown}, "ipxe-efi": {ipxeEFI, netboot.ClientIPXEUEFI64},
		"http-boot": {httpUEFI, netboot.ClientHTTPUEFI64}, "ia32-uefi": {ia32, netboot.ClientUnsupported},
		"http-vendor-class-only":  {[]dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001"))}, netboot.ClientHTTPUEFI64},
		"arm64-vendor-class-only": {[]dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00011:UNDI:003016"))}, netboot.ClientPXEUEFIARM64},
		"arm64-uefi":              {arm64, netboot.ClientPXEUEFIARM64}, "arm64-http": {arm64HTTP, netboot.ClientHTTPUEFIARM64},
		"arm32-uefi":   {[]dhcpv4.Modifier{dhcpv4.WithGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 10})}, netboot.ClientUnsupported},
		"garbled-arch": {[]dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:9x:"))}, netboot.ClientPXEBIOS},
	} {
		if got, _ := Classify(request(t, dhcpv4.MessageTypeDiscover, macA, tc.mods...)); got != tc.want {
			t.Errorf("%s: Classify = %s, want %s", name, got, tc.want)
		}
	}
}

func TestOfferPerClientKind(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mac      string
		env      map[string]string
		mods     []dhcpv4.Modifier
		file     string
		pxe      bool // options 43 and 60
		http     bool // option 60 HTTPClient, no option 43
		hostname string
	}{
		{name: "pxe-bios", mac: macA, mods: pxeBIOS, file: "pxelinux.0", pxe: true, hostname: "slave21"},
		{name: "uefi-x86-64", mac: macA, mods: pxeUEFI, file: "syslinux.efi", pxe: true, hostname: "slave21"},
		{name: "uefi-bc", mac: macA, mods: pxeBC, file: "syslinux.efi", pxe: true, hostname: "slave21"},
		{name: "ipxe-http", mac: macA, mods: ipxe, file: "http://10.5.0.1:4080/ipxe/52-54-00-00-00-15.ipxe", hostname: "slave21"},
		{name: "ipxe-tftp", mac: macA, env: map[string]string{"DISKLESS_SERVE_HTTP_PORT": "0"}, mods: ipxe, file: "ipxe/52-54-00-00-00-15.ipxe", hostname: "slave21"},
		{name: "etherboot-default-kernel", mac: macA, mods: ether, file: "kernels/6.1.0/vmlinuz", hostname: "slave21"},
		{name: "etherboot-own-kernel", mac: macB, mods: ether, file: "kernels/6.6.1/vmlinuz", hostname: "slave22"},
		{name: "custom-loaders", mac: macA, env: map[string]string{"DISKLESS_BOOT_LOADER": "lpxelinux.0"}, mods: pxeBIOS, file: "lpxelinux.0", pxe: true, hostname: "slave21"},
		{name: "plain", mac: macA, mods: plain, file: "pxelinux.0", hostname: "slave21"},
		{name: "ipxe-efi", mac: macA, mods: ipxeEFI, file: "http://10.5.0.1:4080/ipxe/52-54-00-00-00-15.ipxe", hostname: "slave21"},
		{name: "ipxe-efi-script-off", mac: macA, env: map[string]string{"DISKLESS_BOOT_IPXE_SCRIPT": "false"}, mods: ipxeEFI, file: "syslinux.efi", hostname: "slave21"},
		{name: "chain-ipxe-bios", mac: macA, env: map[string]string{"DISKLESS_BOOT_CHAIN_IPXE": "true"}, mods: pxeBIOS, file: "undionly.kpxe", pxe: true, hostname: "slave21"},
		{name: "chain-ipxe-uefi", mac: macA, env: map[string]string{"DISKLESS_BOOT_CHAIN_IPXE": "true"}, mods: pxeUEFI, file: "snponly.efi", pxe: true, hostname: "slave21"},
		{name: "chain-ipxe-then-ipxe", mac: macA, env: map[string]string{"DISKLESS_BOOT_CHAIN_IPXE": "true"}, mods: ipxe, file: "http://10.5.0.1:4080/ipxe/52-54-00-00-00-15.ipxe", hostname: "slave21"},
		{name: "secure-boot-uefi", mac: macA, env: map[string]string{"DISKLESS_BOOT_SECURE_BOOT": "true"}, mods: pxeUEFI, file: "shimx64.efi", pxe: true, hostname: "slave21"},
		{name: "secure-boot-bios-unchanged", mac: macA, env: map[string]string{"DISKLESS_BOOT_SECURE_BOOT": "true"}, mods: pxeBIOS, file: "pxelinux.0", pxe: true, hostname: "slave21"},
		{name: "http-boot", mac: macA, mods: httpUEFI, file: "http://10.5.0.1:4080/snponly.efi", http: true, hostname: "slave21"},
		{name: "http-boot-secure", mac: macA, env: map[string]string{"DISKLESS_BOOT_SECURE_BOOT": "true"}, mods: httpUEFI, file: "http://10.5.0.1:4080/shimx64.efi", http: true, hostname: "slave21"},
		{name: "ia32-uefi-no-loader", mac: macA, mods: ia32, file: "", hostname: "slave21"},
		{name: "arm64-uefi", mac: macA, mods: arm64, file: "grubaa64.efi", pxe: true, hostname: "slave21"},
		{name: "arm64-uefi-secure-boot-config", mac: macA, env: map[string]string{"DISKLESS_BOOT_SECURE_BOOT": "true", "DISKLESS_BOOT_CHAIN_IPXE": "true"}, mods: arm64, file: "grubaa64.efi", pxe: true, hostname: "slave21"},
		{name: "arm64-http-boot", mac: macA, mods: arm64HTTP, file: "http://10.5.0.1:4080/grubaa64.efi", http: true, hostname: "slave21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.env, testRegistry(), nil)
			prl := dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionHostName)
			req := request(t, dhcpv4.MessageTypeDiscover, tc.mac, append(tc.mods, prl)...)
			r, dst, ok := answer(t, s, req, local)
			if !ok {
				t.Fatal("no offer")
			}
			if r.MessageType() != dhcpv4.MessageTypeOffer {
				t.Fatalf("type %s", r.MessageType())
			}
			wantIP := "10.5.0.21"
			if tc.mac == macB {
				wantIP = "10.5.0.22"
			}
			if r.YourIPAddr.String() != wantIP || r.ServerIPAddr.String() != "10.5.0.1" || r.BootFileName != tc.file {
				t.Errorf("yiaddr %s siaddr %s file %q; want %s 10.5.0.1 %q", r.YourIPAddr, r.ServerIPAddr, r.BootFileName, wantIP, tc.file)
			}
			if dst.String() != wantIP+":68" {
				t.Errorf("sent to %s, want unicast %s:68", dst, wantIP)
			}
			if got := net.IP(r.Options.Get(dhcpv4.OptionSubnetMask)).String(); got != "255.255.255.0" {
				t.Errorf("mask %q", got)
			}
			checks := map[dhcpv4.OptionCode]string{
				dhcpv4.OptionRouter: "10.5.0.1", dhcpv4.OptionDomainNameServer: "10.5.0.53", dhcpv4.OptionServerIdentifier: "10.5.0.1",
			}
			for code, want := range checks {
				if got := net.IP(r.Options.Get(code)).String(); got != want {
					t.Errorf("option %s = %s, want %s", code, got, want)
				}
			}
			if r.HostName() != tc.hostname || r.DomainName() != "cluster.lan" || r.RootPath() != "10.5.0.1:/diskless/"+wantIP {
				t.Errorf("hostname %q domain %q root-path %q", r.HostName(), r.DomainName(), r.RootPath())
			}
			if lt := r.IPAddressLeaseTime(0); lt.Seconds() != 3600 {
				t.Errorf("lease %s", lt)
			}
			if got := r.Options.Has(dhcpv4.OptionVendorSpecificInformation) && r.ClassIdentifier() == "PXEClient"; got != tc.pxe {
				t.Errorf("PXE options 43/60 present = %v, want %v (60=%q)", got, tc.pxe, r.ClassIdentifier())
			}
			if got := r.ClassIdentifier() == "HTTPClient"; got != tc.http {
				t.Errorf("option 60 = %q; HTTPClient wanted: %v", r.ClassIdentifier(), tc.http)
			}
			if tc.http && r.Options.Has(dhcpv4.OptionVendorSpecificInformation) {
				t.Errorf("an HTTP Boot answer carries PXE option 43")
			}
			if uuid := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); uuid != nil && !bytes.Equal(r.Options.Get(dhcpv4.OptionClientMachineIdentifier), uuid) {
				t.Errorf("option 97 not echoed")
			}
			if r.Options.Has(dhcpv4.OptionBootfileName) {
				t.Errorf("option 67 sent unasked for a short name")
			}
			// iPXE is told there is no ProxyDHCP (175.176 = 1), or it waits ~3 s for one.
			wantNoProxy := []byte(nil)
			if strings.HasPrefix(tc.name, "ipxe") || tc.name == "chain-ipxe-then-ipxe" {
				wantNoProxy = []byte{176, 1, 1}
			}
			if got := r.Options.Get(dhcpv4.GenericOptionCode(175)); !bytes.Equal(got, wantNoProxy) {
				t.Errorf("option 175 = %v, want %v", got, wantNoProxy)
			}
		})
	}
}

func TestOption67(t *testing.T) {
	s := newTestServer(t, nil, testRegistry(), nil)
	r, _, _ := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, append(pxeBIOS, wantFile)...), local)
	if r.BootFileNameOption() != "pxelinux.0" || r.BootFileName != "pxelinux.0" {
		t.Errorf("requested option 67: %q, file %q", r.BootFileNameOption(), r.BootFileName)
	}
	long := strings.Repeat("d/", 70) + "pxelinux.0"
	s = newTestServer(t, map[string]string{"DISKLESS_BOOT_LOADER": long}, testRegistry(), nil)
	r, _, _ = answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	if r.BootFileNameOption() != long || r.BootFileName != "" {
		t.Errorf("long name: option 67 %q, file field %q", r.BootFileNameOption(), r.BootFileName)
	}
}

func TestUnknownMACLoggedOnceWithAddCommand(t *testing.T) {
	var log bytes.Buffer
	s := newTestServer(t, nil, testRegistry(), &log)
	for range 3 {
		if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macU, pxeBIOS...), local); ok {
			t.Fatal("unknown MAC got an answer")
		}
	}
	want := "diskless slave add 10.5.0.2 --mac " + macU
	if n := strings.Count(log.String(), want); n != 1 {
		t.Fatalf("log has %d lines with %q, want 1:\n%s", n, want, log.String())
	}
	if st := s.Stats(); st.UnknownMACs != 1 || st.Ignored != 3 || st.Offers != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(log.String(), "msg=DHCPDISCOVER mac="+macU+" via=dls0") {
		t.Errorf("no dhcpd-style line:\n%s", log.String())
	}
}

func TestRequestStates(t *testing.T) {
	sid := func(ip string) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(ip)))
	}
	reqIP := func(ip string) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(ip)))
	}
	for _, tc := range []struct {
		name string
		mac  string
		mods []dhcpv4.Modifier
		want dhcpv4.MessageType // MessageTypeNone: no answer
		dst  string
	}{
		{"selecting-ours", macA, []dhcpv4.Modifier{sid("10.5.0.1"), reqIP("10.5.0.21")}, dhcpv4.MessageTypeAck, "10.5.0.21:68"},
		{"selecting-other-server", macA, []dhcpv4.Modifier{sid("10.5.0.254"), reqIP("10.5.0.99")}, dhcpv4.MessageTypeNone, ""},
		{"selecting-wrong-ip", macA, []dhcpv4.Modifier{sid("10.5.0.1"), reqIP("10.5.0.99")}, dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"init-reboot-ok-broadcast", macA, []dhcpv4.Modifier{reqIP("10.5.0.21"), dhcpv4.WithBroadcast(true)}, dhcpv4.MessageTypeAck, "255.255.255.255:68"},
		{"init-reboot-wrong-ip", macA, []dhcpv4.Modifier{reqIP("10.5.0.30")}, dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"init-reboot-unknown-other-subnet", macU, []dhcpv4.Modifier{reqIP("192.168.7.7")}, dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"init-reboot-unknown-our-subnet", macU, []dhcpv4.Modifier{reqIP("10.5.0.77")}, dhcpv4.MessageTypeNone, ""},
		{"renewing", macA, []dhcpv4.Modifier{dhcpv4.WithClientIP(net.ParseIP("10.5.0.21"))}, dhcpv4.MessageTypeAck, "10.5.0.21:68"},
		{"renewing-wrong-ip", macA, []dhcpv4.Modifier{dhcpv4.WithClientIP(net.ParseIP("10.5.0.40"))}, dhcpv4.MessageTypeNak, "255.255.255.255:68"},
		{"relayed-ack", macA, []dhcpv4.Modifier{reqIP("10.5.0.21"), dhcpv4.WithGatewayIP(net.ParseIP("10.5.0.254"))}, dhcpv4.MessageTypeAck, "10.5.0.254:67"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, map[string]string{"DISKLESS_SERVE_RELAYS": "10.5.0.254"}, testRegistry(), nil)
			r, dst, ok := answer(t, s, request(t, dhcpv4.MessageTypeRequest, tc.mac, tc.mods...), local)
			if tc.want == dhcpv4.MessageTypeNone {
				if ok {
					t.Fatalf("answered %s", r.MessageType())
				}
				return
			}
			if !ok || r.MessageType() != tc.want || dst.String() != tc.dst {
				t.Fatalf("got ok=%v %v to %s, want %s to %s", ok, r, dst, tc.want, tc.dst)
			}
			if tc.want == dhcpv4.MessageTypeNak && (!r.YourIPAddr.IsUnspecified() || r.Options.Has(dhcpv4.OptionIPAddressLeaseTime)) {
				t.Errorf("NAK carries an address: %s", r.Summary())
			}
		})
	}
}

func TestInformAndRelease(t *testing.T) {
	s := newTestServer(t, nil, testRegistry(), nil)
	r, dst, ok := answer(t, s, request(t, dhcpv4.MessageTypeInform, macA, dhcpv4.WithClientIP(net.ParseIP("10.5.0.21"))), local)
	if !ok || r.MessageType() != dhcpv4.MessageTypeAck || !r.YourIPAddr.IsUnspecified() || r.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || dst.String() != "10.5.0.21:68" {
		t.Fatalf("INFORM: ok=%v dst=%s %v", ok, dst, r)
	}
	if r.HostName() != "slave21" || r.RootPath() == "" {
		t.Errorf("INFORM ACK lacks configuration: %s", r.Summary())
	}
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeRelease, macA, dhcpv4.WithClientIP(net.ParseIP("10.5.0.21"))), local); ok {
		t.Error("RELEASE answered")
	}
	if st := s.Stats(); st.Releases != 1 || st.Acks != 1 {
		t.Errorf("stats %+v", st)
	}
	// Unknown machines get nothing, not even the boot file (issue 19).
	if r, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeInform, macU, dhcpv4.WithClientIP(net.ParseIP("10.5.0.77"))), local); ok {
		t.Errorf("an unknown MAC's INFORM was answered: %s", r.Summary())
	}
	// A pool client is known by its lease: its INFORM from that address is.
	ps := newTestServer(t, map[string]string{"DISKLESS_SERVE_POOL": "10.5.0.100-10.5.0.110"}, testRegistry(), nil)
	offer, _, _ := answer(t, ps, request(t, dhcpv4.MessageTypeDiscover, macU), local)
	lease := offer.YourIPAddr
	answer(t, ps, request(t, dhcpv4.MessageTypeRequest, macU, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(lease)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.5.0.1")))), local)
	if _, _, ok := answer(t, ps, request(t, dhcpv4.MessageTypeInform, macU, dhcpv4.WithClientIP(lease)), local); !ok {
		t.Errorf("a pool client's INFORM from its lease %s was not answered", lease)
	}
	if _, _, ok := answer(t, ps, request(t, dhcpv4.MessageTypeInform, macU, dhcpv4.WithClientIP(net.ParseIP("10.5.0.77"))), local); ok {
		t.Errorf("a pool client's INFORM from another address was answered")
	}
}

func TestRelayedSubnet(t *testing.T) {
	reg := testRegistry()
	reg.Slaves = append(reg.Slaves, slave.Slave{IP: netip.MustParseAddr("10.6.0.30"), MAC: macU, Hostname: "far30"})
	s := newTestServer(t, map[string]string{"DISKLESS_SERVE_RELAY_SUBNETS": "10.6.0.0/24", "DISKLESS_SERVE_RELAYS": "10.6.0.1"}, reg, nil)
	opt82 := dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 4, 'd', 'l', 'r', '1'})
	gi := dhcpv4.WithGatewayIP(net.ParseIP("10.6.0.1"))
	in := inbound{ifName: "dls0", port: 67, src: netip.MustParseAddrPort("10.5.0.254:67")}
	r, dst, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macU, gi, opt82), in)
	if !ok || r.YourIPAddr.String() != "10.6.0.30" || dst.String() != "10.6.0.1:67" {
		t.Fatalf("relayed offer: ok=%v dst=%s %v", ok, dst, r)
	}
	if !bytes.Equal(r.Options.Get(dhcpv4.OptionRelayAgentInformation), []byte{1, 4, 'd', 'l', 'r', '1'}) {
		t.Errorf("option 82 not echoed: %v", r.Options.Get(dhcpv4.OptionRelayAgentInformation))
	}
	if net.IP(r.Options.Get(dhcpv4.OptionRouter)).String() != "10.6.0.1" || net.IP(r.Options.Get(dhcpv4.OptionSubnetMask)).String() != "255.255.255.0" {
		t.Errorf("router/mask for the relayed subnet: %s", r.Summary())
	}
	// A slave of the local subnet asking through the relay is not answered,
	// nor is a relay from a subnet we don't serve.
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, gi), in); ok {
		t.Error("answered a local slave relayed from another subnet")
	}
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macU, dhcpv4.WithGatewayIP(net.ParseIP("172.16.0.1"))), in); ok {
		t.Error("answered a relay from an unserved subnet")
	}
	// A giaddr not in serve.relays, in a served subnet or not, is anyone's
	// guess: the answer would go there.
	for _, gi := range []string{"10.6.0.9", "10.6.0.255", "10.5.0.7", "10.5.0.255"} {
		for _, mac := range []string{macU, macA} {
			if r, dst, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, mac, dhcpv4.WithGatewayIP(net.ParseIP(gi))), in); ok {
				t.Errorf("giaddr %s (not a relay) for %s: %s sent to %s", gi, mac, r.MessageType(), dst)
			}
		}
	}
	if _, err := New(Options{Live: netboot.Static(testConfig(t, map[string]string{"DISKLESS_SERVE_RELAY_SUBNETS": "10.6.0.0/24"}), reg)}); err == nil ||
		!strings.Contains(err.Error(), "serve.relays: [10.6.0.1]") {
		t.Errorf("relay_subnets without relays: %v", err)
	}
}

func TestPool(t *testing.T) {
	reg := testRegistry()
	reg.Slaves = append(reg.Slaves, slave.Slave{IP: netip.MustParseAddr("10.5.0.100"), MAC: "52:54:00:00:00:64", Hostname: "slave100"})
	s := newTestServer(t, map[string]string{"DISKLESS_SERVE_POOL": "10.5.0.100-10.5.0.101"}, reg, nil)
	offer := func(mac string) string {
		r, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, mac, plain...), local)
		if !ok {
			return ""
		}
		return r.YourIPAddr.String()
	}
	if got := offer("02:00:00:00:00:01"); got != "10.5.0.101" {
		t.Fatalf("pool offer %q, want 10.5.0.101 (10.5.0.100 is a registered slave's)", got)
	}
	if got := offer("02:00:00:00:00:02"); got != "" {
		t.Fatalf("second client got %q from a full pool", got)
	}
	r, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeRequest, "02:00:00:00:00:01",
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.5.0.1"))), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.5.0.101")))), local)
	if !ok || r.MessageType() != dhcpv4.MessageTypeAck || r.HostName() != "" {
		t.Fatalf("pool ACK: %v", r)
	}
	answer(t, s, request(t, dhcpv4.MessageTypeRelease, "02:00:00:00:00:01", dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.5.0.1")))), local)
	if got := offer("02:00:00:00:00:02"); got != "10.5.0.101" {
		t.Fatalf("after release, offer %q", got)
	}
}

func TestPoolDecline(t *testing.T) {
	var log bytes.Buffer
	s := newTestServer(t, map[string]string{"DISKLESS_SERVE_POOL": "10.5.0.100-10.5.0.101"}, testRegistry(), &log)
	sid := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.5.0.1")))
	r, _, _ := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:00:01"), local)
	if r.YourIPAddr.String() != "10.5.0.100" {
		t.Fatalf("offer %s", r.YourIPAddr)
	}
	// The client finds 10.5.0.100 in use (ARP probe) and declines it.
	answer(t, s, request(t, dhcpv4.MessageTypeDecline, "02:00:00:00:00:01", sid, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.5.0.100")))), local)
	if !strings.Contains(log.String(), `msg="DHCPDECLINE: another machine uses that address" ip=10.5.0.100 mac=02:00:00:00:00:01 via=dls0`) {
		t.Errorf("decline not logged:\n%s", log.String())
	}
	r, _, _ = answer(t, s, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:00:01"), local)
	if r == nil || r.YourIPAddr.String() != "10.5.0.101" {
		t.Fatalf("after decline, offer %v; want 10.5.0.101", r)
	}
	if st := s.Stats(); st.Declines != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestProxyMode(t *testing.T) {
	var log bytes.Buffer
	s := newTestServer(t, map[string]string{"DISKLESS_SERVE_PROXY": "true"}, testRegistry(), &log)
	r, dst, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	if !ok || r.MessageType() != dhcpv4.MessageTypeOffer || !r.YourIPAddr.IsUnspecified() || r.BootFileName != "pxelinux.0" || r.ClassIdentifier() != "PXEClient" || dst.String() != "255.255.255.255:68" {
		t.Fatalf("proxy offer: ok=%v dst=%s %v", ok, dst, r)
	}
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionIPAddressLeaseTime} {
		if r.Options.Has(code) {
			t.Errorf("proxy offer carries %s", code)
		}
	}
	// iPXE must wait for a ProxyDHCP answer when we are the proxy.
	if r, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, ipxe...), local); !ok || r.Options.Has(dhcpv4.GenericOptionCode(175)) {
		t.Errorf("proxy offer to iPXE: ok=%v, tells iPXE there is no ProxyDHCP: %v", ok, r)
	}
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, plain...), local); ok {
		t.Error("proxy answered a non-PXE client")
	}
	// The PXE boot-server REQUEST on 4011 is answered to its source.
	in := inbound{ifName: "dls0", port: proxyPort, src: netip.MustParseAddrPort("10.5.0.21:68")}
	r, dst, ok = answer(t, s, request(t, dhcpv4.MessageTypeRequest, macA, append(pxeUEFI, dhcpv4.WithClientIP(net.ParseIP("10.5.0.21")))...), in)
	if !ok || r.MessageType() != dhcpv4.MessageTypeAck || r.BootFileName != "syslinux.efi" || dst.String() != "10.5.0.21:68" || !r.YourIPAddr.IsUnspecified() {
		t.Fatalf("4011 ACK: ok=%v dst=%s %v", ok, dst, r)
	}
	// The real server's REQUEST on 67 is not ours.
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeRequest, macA, append(pxeBIOS, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.5.0.254"))))...), local); ok {
		t.Error("proxy answered a REQUEST for another server")
	}
}

func TestTrackerStages(t *testing.T) {
	s := newTestServer(t, nil, testRegistry(), nil)
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	answer(t, s, request(t, dhcpv4.MessageTypeRequest, macA, append(pxeBIOS, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.5.0.21"))))...), local)
	ip := netip.MustParseAddr("10.5.0.21")
	s.tracker.Record(ip, macA, netboot.StageKernelFetched)
	// The kernel's ip=dhcp: plain DISCOVER/REQUEST.
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA), local)
	answer(t, s, request(t, dhcpv4.MessageTypeRequest, macA, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.5.0.21")))), local)
	st := s.tracker.Snapshot()[0]
	if st.Stage != netboot.StageKernelFetched {
		t.Fatalf("plain DHCP reset the boot: stage %s %v", st.Stage, st.Stages)
	}
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	if st := s.tracker.Snapshot()[0]; st.Stage != netboot.StageDHCPOffered || len(st.Stages) != 1 {
		t.Fatalf("PXE DISCOVER did not start a new boot: %s %v", st.Stage, st.Stages)
	}
}

// iPXE chained from a PXE ROM (undionly.kpxe, snponly.efi just fetched)
// continues that boot; an iPXE ROM asking afresh starts a new one.
func TestTrackerChainedIPXE(t *testing.T) {
	s := newTestServer(t, map[string]string{"DISKLESS_BOOT_CHAIN_IPXE": "true"}, testRegistry(), nil)
	ip := netip.MustParseAddr("10.5.0.21")
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeUEFI...), local)
	s.tracker.Record(ip, macA, netboot.StageLoaderFetched)
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, ipxeEFI...), local)
	st := s.tracker.Snapshot()[0]
	if _, ok := st.Stages["loader-fetched"]; !ok || st.Stage != netboot.StageLoaderFetched {
		t.Fatalf("chained iPXE's DHCP reset the boot: %s %v", st.Stage, st.Stages)
	}
	s.tracker.Record(ip, macA, netboot.StageInitrdFetched)
	answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, ipxeEFI...), local)
	if st := s.tracker.Snapshot()[0]; st.Stage != netboot.StageDHCPOffered || len(st.Stages) != 1 {
		t.Fatalf("an iPXE ROM's DISCOVER after a finished boot did not start a new one: %s %v", st.Stage, st.Stages)
	}
}

// A firmware without a loader is logged once per MAC, and a pinned path
// that cannot boot the firmware says so.
func TestNoLoaderLogged(t *testing.T) {
	var log bytes.Buffer
	reg := testRegistry()
	reg.Slaves[0].Boot = "grub"
	s := newTestServer(t, nil, reg, &log)
	for range 3 {
		answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macB, ia32...), local)
		answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local)
	}
	out := log.String()
	if n := strings.Count(out, "IA32 UEFI (option 93 = 6): no boot loader for this firmware"); n != 1 {
		t.Errorf("IA32 UEFI logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "boot path grub cannot boot pxe-bios firmware; syslinux instead"); n != 1 {
		t.Errorf("the grub pin on BIOS logged %d times, want once:\n%s", n, out)
	}
}

func TestBootServerPartitioning(t *testing.T) {
	reg := testRegistry()
	reg.Slaves[0].BootServer = "s2" // another boot server's slave
	reg.Slaves[1].BootServer = "s1"
	s := newTestServer(t, map[string]string{"DISKLESS_SERVE_SERVER_ID": "s1"}, reg, nil)
	if _, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macA, pxeBIOS...), local); ok {
		t.Error("answered a slave assigned to boot server s2")
	}
	r, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, macB, pxeBIOS...), local)
	if !ok || net.IP(r.Options.Get(dhcpv4.OptionServerIdentifier)).String() != s.cfg.Master.String() {
		t.Fatalf("own slave: ok=%v %v", ok, r)
	}
}

// TestRelayPartitioning: slaves without a boot_server are answered by the
// server the registry gives the relay they come through (giaddr), or their
// option 82 circuit ID, and by no other.
func TestRelayPartitioning(t *testing.T) {
	reg := testRegistry()
	macX, macY := "52:54:00:00:07:15", "52:54:00:00:06:15"
	reg.Slaves = append(reg.Slaves,
		slave.Slave{IP: netip.MustParseAddr("10.6.0.21"), MAC: macY, Hostname: "y21"},
		slave.Slave{IP: netip.MustParseAddr("10.7.0.21"), MAC: macX, Hostname: "x21"})
	reg.Servers = []slave.Server{
		{Name: "s1", SSH: "root@10.9.0.1", Relays: []netip.Addr{netip.MustParseAddr("10.6.0.1")}},
		{Name: "s2", SSH: "root@10.9.0.2", Relays: []netip.Addr{netip.MustParseAddr("10.7.0.1")}, Circuits: []string{"eth2"}},
	}
	env := func(id string) map[string]string {
		return map[string]string{"DISKLESS_SERVE_SERVER_ID": id, "DISKLESS_SERVE_RELAY_SUBNETS": "10.6.0.0/24,10.7.0.0/24", "DISKLESS_SERVE_RELAYS": "10.6.0.1,10.7.0.1"}
	}
	servers := map[string]*Server{"s1": newTestServer(t, env("s1"), reg, nil), "s2": newTestServer(t, env("s2"), reg, nil)}
	via := func(gi string, more ...dhcpv4.Modifier) []dhcpv4.Modifier {
		return append([]dhcpv4.Modifier{dhcpv4.WithGatewayIP(net.ParseIP(gi))}, append(more, pxeBIOS...)...)
	}
	circuit := dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte("eth2"))))
	for _, c := range []struct {
		mac, want string
		mods      []dhcpv4.Modifier
	}{
		{macY, "s1", via("10.6.0.1")},
		{macX, "s2", via("10.7.0.1")},
		{macY, "s2", via("10.6.0.1", circuit)}, // the circuit names a server before the relay does
	} {
		for name, s := range servers {
			_, _, ok := answer(t, s, request(t, dhcpv4.MessageTypeDiscover, c.mac, c.mods...), local)
			if ok != (name == c.want) {
				t.Errorf("%s via %v: %s answered=%v, want only %s to answer", c.mac, c.mods[0], name, ok, c.want)
			}
		}
	}
	// A relay no server has: whoever serves the slaves answers.
	if _, _, ok := answer(t, servers["s1"], request(t, dhcpv4.MessageTypeDiscover, macY, via("10.6.0.1", dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte("eth9")))))...), local); !ok {
		t.Error("an unassigned circuit through s1's relay was not answered by s1")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for env, want := range map[string]string{
		"10.5.0.200":              "has no '-'",
		"10.5.0.200-10.5.0.100":   "ends before it starts",
		"10.5.0.200-10.5.1.100":   "not inside one served subnet",
		"10.5.0.0-10.5.0.10":      "network or broadcast",
		"10.5.0.1-10.5.0.10":      "includes the master",
		"10.5.0.200-10.5.0.x":     "not two IPv4 addresses",
		"proxy:10.5.0.2-10.5.0.3": "ProxyDHCP",
	} {
		e := map[string]string{"DISKLESS_SERVE_POOL": env}
		if p, ok := strings.CutPrefix(env, "proxy:"); ok {
			e = map[string]string{"DISKLESS_SERVE_POOL": p, "DISKLESS_SERVE_PROXY": "true"}
		}
		_, err := New(Options{Live: netboot.Static(testConfig(t, e), testRegistry())})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pool %q: err %v, want %q", env, err, want)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no live config accepted")
	}
}

// FuzzHandle: any datagram that parses as DHCP is answered, or not,
// without a panic; an answer parses; and the policy holds for any input: a
// giaddr not in serve.relays gets nothing (the answer would go there), and
// a MAC that is not registered is never told a boot file by a server
// without a pool.
func FuzzHandle(f *testing.F) {
	for _, mods := range [][]dhcpv4.Modifier{pxeBIOS, ipxe, ether, plain} {
		f.Add(request(f, dhcpv4.MessageTypeDiscover, macA, mods...).ToBytes())
	}
	f.Add(request(f, dhcpv4.MessageTypeRequest, macU, dhcpv4.WithGatewayIP(net.ParseIP("10.6.0.1"))).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeInform, macA, dhcpv4.WithClientIP(net.ParseIP("10.5.0.21"))).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeInform, macU, dhcpv4.WithClientIP(net.ParseIP("10.5.0.77"))).ToBytes())
	f.Add(request(f, dhcpv4.MessageTypeDiscover, macA, dhcpv4.WithGatewayIP(net.ParseIP("10.5.0.255"))).ToBytes())
	relays := map[string]string{"DISKLESS_SERVE_RELAY_SUBNETS": "10.6.0.0/24", "DISKLESS_SERVE_RELAYS": "10.6.0.1"}
	withPool := map[string]string{"DISKLESS_SERVE_POOL": "10.5.0.100-10.5.0.110"}
	for k, v := range relays {
		withPool[k] = v
	}
	plainServer := newTestServer(f, relays, testRegistry(), nil)
	servers := []*Server{
		plainServer,
		newTestServer(f, withPool, testRegistry(), nil),
		newTestServer(f, map[string]string{"DISKLESS_SERVE_PROXY": "true"}, testRegistry(), nil),
	}
	registered := map[string]bool{}
	for _, sl := range testRegistry().Slaves {
		registered[sl.MAC] = true
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		gi, _ := netip.AddrFromSlice(req.GatewayIPAddr.To4())
		relayed := gi.IsValid() && !gi.IsUnspecified()
		for _, s := range servers {
			for _, port := range []int{67, proxyPort} {
				out, ok := s.handle(req, inbound{ifName: "dls0", port: port, src: netip.MustParseAddrPort("10.5.0.9:68")})
				if !ok {
					continue
				}
				r, err := dhcpv4.FromBytes(out.pkt.ToBytes())
				if err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
				if relayed && gi != netip.MustParseAddr("10.6.0.1") {
					t.Fatalf("giaddr %s is no relay of serve.relays, yet a %s went to %s", gi, r.MessageType(), out.dst)
				}
				mac := strings.ToLower(req.ClientHWAddr.String())
				if s == plainServer && !registered[mac] && (r.BootFileName != "" || r.Options.Has(dhcpv4.OptionBootfileName)) {
					t.Fatalf("unregistered %s told boot file %q in a %s", mac, r.BootFileName, r.MessageType())
				}
			}
		}
	})
}

// BenchmarkReply is the per-packet work of a busy server: decode a PXE
// DISCOVER, find the slave among 10,000, build and encode the OFFER.
func BenchmarkReply(b *testing.B) {
	reg := &slave.Registry{}
	for i := range 10000 {
		reg.Slaves = append(reg.Slaves, slave.Slave{IP: netip.AddrFrom4([4]byte{10, 5, byte(i / 250), byte(2 + i%250)}),
			MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff), Hostname: fmt.Sprintf("n%d", i)})
	}
	s := newTestServer(b, map[string]string{"DISKLESS_SUBNET": "10.5.0.0/16"}, reg, nil)
	wire := make([][]byte, 64)
	for i := range wire {
		wire[i] = request(b, dhcpv4.MessageTypeDiscover, reg.Slaves[i*150].MAC, pxeBIOS...).ToBytes()
	}
	buf := make([]byte, 0, maxPacket)
	dec := newDecoder()
	b.ReportAllocs()
	b.ResetTimer()
	// CPU time, not wall time: on a loaded shared machine ns/op mostly
	// measures waiting for a core.
	cpu0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
	for i := 0; b.Loop(); i++ {
		req, err := dec.decode(wire[i%len(wire)])
		if err != nil {
			b.Fatal(err)
		}
		out, ok := s.handle(req, local)
		if !ok {
			b.Fatal("no reply")
		}
		buf = encode(buf, out.pkt)
		out.recycle()
	}
}

// TestEncodeMatchesLibrary: our allocation-free encoder and the library's
// ToBytes produce packets that decode to the same message.
func TestEncodeMatchesLibrary(t *testing.T) {
	s := newTestServer(t, map[string]string{"DISKLESS_BOOT_LOADER": strings.Repeat("x", 140)}, testRegistry(), nil)
	for _, mods := range [][]dhcpv4.Modifier{pxeBIOS, ipxe, plain, {dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, bytes.Repeat([]byte{7}, 300))}} {
		out, ok := s.handle(request(t, dhcpv4.MessageTypeDiscover, macA, mods...), local)
		if !ok {
			t.Fatal("no reply")
		}
		ours, err := dhcpv4.FromBytes(encode(nil, out.pkt))
		if err != nil {
			t.Fatal(err)
		}
		lib, _ := dhcpv4.FromBytes(out.pkt.ToBytes())
		if ours.String() != lib.String() || ours.Summary() != lib.Summary() {
			t.Errorf("encode differs:\nours %s\nlib  %s", ours.Summary(), lib.Summary())
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
