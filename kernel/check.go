package kernel

import (
	"fmt"
	"strings"
)

// Requirement is one kernel option a role needs.
type Requirement struct {
	Option  string   // CONFIG_ name without the prefix
	AnyOf   []string // alternatives (a network driver): one suffices
	Menu    string   // where menuconfig shows it
	Why     string
	Symptom string // what the machine shows when it is missing
	// Builtin: as a module it only works when an initrd loads it.
	Builtin bool
	// ImpliedBy: absent from newer kernels because always on when this is set.
	ImpliedBy string
}

// nicDrivers are common network drivers a slave may boot through.
var nicDrivers = []string{"E1000", "E1000E", "VIRTIO_NET", "IGB", "IGC", "R8169", "8139CP", "8139TOO", "TG3", "BNX2", "E100", "PCNET32", "NE2K_PCI", "IXGBE", "ATL1C", "SKY2", "FORCEDETH", "VIA_RHINE", "MLX4_EN", "MLX5_CORE", "I40E", "ICE", "BNXT", "VMXNET3", "HYPERV_NET", "XEN_NETDEV_FRONTEND", "MACB", "STMMAC_ETH", "SMSC911X", "USB_NET_SMSC95XX"}

const netOpts = "Networking support → Networking options → "
const nfsMenu = "File systems → Network File Systems → "

// SlaveRequirements are the options of the guide's slave kernel.
var SlaveRequirements = []Requirement{
	{Option: "PACKET", Menu: netOpts + "Packet socket", Builtin: false,
		Why:     "DHCP clients on the slave (dhcpcd, udhcpc) send and receive raw frames",
		Symptom: "the slave's DHCP client fails with \"socket: Address family not supported by protocol\""},
	{Option: "UNIX", Menu: netOpts + "Unix domain sockets", Builtin: true,
		Why:     "init, udev, syslog and most daemons talk over Unix sockets",
		Symptom: "boot stalls after the root mount: udev and syslog cannot create their sockets"},
	{Option: "INET", Menu: netOpts + "TCP/IP networking", Builtin: true,
		Why:     "the root filesystem comes over IP",
		Symptom: "no IP stack: \"VFS: Unable to mount root fs via NFS\""},
	{Option: "IP_MULTICAST", Menu: netOpts + "TCP/IP networking → IP: multicasting", Builtin: true,
		Why:     "the guide requires it; the interface must show MULTICAST",
		Symptom: "ifconfig on the slave shows no MULTICAST flag"},
	{Option: "IP_PNP", Menu: netOpts + "TCP/IP networking → IP: kernel level autoconfiguration", Builtin: true,
		Why:     "the kernel itself must configure eth0 (ip=dhcp) before it can mount / over NFS",
		Symptom: "ip=dhcp is ignored; \"VFS: Unable to mount root fs via NFS, trying floppy\""},
	{Option: "IP_PNP_DHCP", Menu: netOpts + "TCP/IP networking → IP: kernel level autoconfiguration → IP: DHCP support", Builtin: true,
		Why:     "ip=dhcp on the kernel command line asks the master's DHCP server for the address",
		Symptom: "\"IP-Config: Incomplete network configuration information\", then the NFS root mount fails"},
	{Option: "NFS_FS", Menu: nfsMenu + "NFS client support", Builtin: true,
		Why:     "the slave's root filesystem is NFS",
		Symptom: "\"VFS: Cannot open root device \"nfs\" or unknown-block(0,255)\" and \"Kernel panic - not syncing: VFS: Unable to mount root fs\""},
	{Option: "NFS_V3", Menu: nfsMenu + "NFS client support → NFS client support for NFS version 3", Builtin: true,
		Why:     "the master exports NFSv3 (nfsroot=...,vers=3)",
		Symptom: "\"NFS: Unable to mount server ..., error -93\" (protocol not supported), then the root mount panic"},
	{Option: "ROOT_NFS", Menu: nfsMenu + "NFS client support → Root file system on NFS", Builtin: true,
		Why:     "root=/dev/nfs nfsroot=master:/diskless/<ip> needs the kernel's NFS-root code",
		Symptom: "\"VFS: Cannot open root device \"nfs\" or unknown-block(0,255): error -6\", then a kernel panic"},
	{Option: "DEVTMPFS", Menu: "Device Drivers → Generic Driver Options → Maintain a devtmpfs filesystem to mount at /dev", Builtin: true,
		Why:     "an NFS root has no populated /dev; the kernel must provide device nodes",
		Symptom: "\"Warning: unable to open an initial console.\" and init fails"},
	{AnyOf: nicDrivers, Menu: "Device Drivers → Network device support → Ethernet driver support → (your card)", Builtin: true,
		Why:     "the slave reaches the NFS root through its network card, before any module can load from that root",
		Symptom: "\"IP-Config: No network devices available\", then the NFS root mount panic"},
}

// MasterRequirements are the options of the guide's master kernel.
var MasterRequirements = []Requirement{
	{Option: "PACKET", Menu: netOpts + "Packet socket", Why: "the DHCP server sees broadcasts from unconfigured slaves", Symptom: "DHCP requests of booting slaves go unanswered"},
	{Option: "UNIX", Menu: netOpts + "Unix domain sockets", Why: "rpcbind and the NFS daemons talk over Unix sockets", Symptom: "rpcbind fails to start"},
	{Option: "INET", Menu: netOpts + "TCP/IP networking", Why: "DHCP, TFTP and NFS run over IP", Symptom: "no network service can start"},
	{Option: "IP_MULTICAST", Menu: netOpts + "TCP/IP networking → IP: multicasting", Why: "the guide requires it for the slaves' network", Symptom: "ifconfig shows no MULTICAST flag"},
	{Option: "NFSD", Menu: nfsMenu + "NFS server support", Why: "the master serves every slave's root over NFS", Symptom: "\"exportfs: ... Function not implemented\" and slaves hang at \"Looking up port of RPC 100003/3\""},
	{Option: "NFSD_V3", ImpliedBy: "NFSD", Menu: nfsMenu + "NFS server support → NFS server support for NFS version 3", Why: "slaves mount their roots with NFSv3", Symptom: "slaves fail with \"NFS: Unable to mount server ..., error -93\""},
}

// Status of one requirement.
const (
	StatusOK      = "ok"
	StatusModule  = "module"  // =m, fine with an initrd (a warning)
	StatusMissing = "missing" // not set, or =m where it must be built in
)

// Finding is the verdict on one requirement.
type Finding struct {
	Option  string `json:"option"`
	Value   string `json:"value"`
	Status  string `json:"status"`
	Menu    string `json:"menu"`
	Why     string `json:"why"`
	Symptom string `json:"symptom,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Report is the result of a check.
type Report struct {
	Role     string    `json:"role"` // slave or master
	Source   string    `json:"source"`
	Version  string    `json:"version,omitempty"`
	Initrd   bool      `json:"initrd"`
	Findings []Finding `json:"findings"`
	OK       bool      `json:"ok"`
}

// Check verifies cfg against the slave's (or with master, the master's)
// requirements. With initrd, =m is accepted (with a warning) since the initrd
// can load the module before the root is mounted.
func Check(cfg *Config, master, initrd bool) Report {
	reqs, role := SlaveRequirements, "slave"
	if master {
		reqs, role = MasterRequirements, "master"
		initrd = true // the master boots from its own disk: modules load normally
	}
	rep := Report{Role: role, Source: cfg.Source, Version: cfg.Version, Initrd: initrd, OK: true, Findings: []Finding{}}
	for _, r := range reqs {
		f := Finding{Option: r.Option, Menu: r.Menu, Why: r.Why}
		val := ""
		if len(r.AnyOf) > 0 {
			f.Option = "NIC driver"
			var mods []string
			for _, o := range r.AnyOf {
				switch cfg.Get(o) {
				case "y":
					if val != "y" {
						val, f.Option = "y", o
					}
				case "m":
					mods = append(mods, o)
				}
			}
			if val == "" && len(mods) > 0 {
				if len(mods) > 3 {
					mods = append(mods[:3], "...")
				}
				val, f.Option = "m", strings.Join(mods, ",")
			}
		} else {
			val = cfg.Get(r.Option)
			if val == "" && r.ImpliedBy != "" && cfg.Get(r.ImpliedBy) != "" && cfg.Get(r.ImpliedBy) != "n" {
				val = cfg.Get(r.ImpliedBy)
				f.Note = fmt.Sprintf("no separate option in this kernel: part of CONFIG_%s", r.ImpliedBy)
			}
		}
		if val == "" {
			val = "n"
		}
		f.Value = val
		switch {
		case val == "y":
			f.Status = StatusOK
		case val == "m" && (initrd || !r.Builtin):
			f.Status = StatusModule
			note := "built as a module: it must be loaded before it is needed"
			if initrd && r.Builtin && !master {
				note = "built as a module: the initrd must load it before the NFS root is mounted"
			}
			f.Note = strings.TrimPrefix(f.Note+"; "+note, "; ")
		case val == "m":
			f.Status = StatusMissing
			f.Symptom = r.Symptom
			f.Note = "built as a module, but there is no initrd to load it: build it in (=y) or boot with an initrd"
		default:
			f.Status = StatusMissing
			f.Symptom = r.Symptom
		}
		if f.Status == StatusMissing {
			rep.OK = false
		}
		rep.Findings = append(rep.Findings, f)
	}
	return rep
}
