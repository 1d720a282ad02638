package doctor

import (
	"fmt"
	"os"
	"strings"

	"github.com/diskless-project/diskless/config"
)

// CheckConfig: the master address is on a local interface that is up with
// MULTICAST, the subnet matches it, and the directories exist.
func CheckConfig(e *Env) []Result {
	c := e.Cfg
	const area = "config"
	if err := c.Validate(); err != nil {
		return []Result{{Area: area, Check: "master/subnet", Status: Fail, Message: err.Error(),
			Symptom: "nothing can boot: no DHCP answers", Cause: "no master address or subnet configured",
			Fix: "diskless init --master IP --subnet CIDR"}}
	}
	out := []Result{ok(area, "master/subnet", fmt.Sprintf("master %s in %s", c.Master, c.Subnet))}
	out = append(out, checkInterface(e)...)
	for _, d := range []struct{ key, path, what string }{
		{"tftp_root", c.TFTPRoot, "PXE-E32: TFTP open time-out / file not found"},
		{"diskless_dir", c.DisklessDir, "VFS: Unable to mount root fs via NFS"},
	} {
		fi, err := os.Stat(c.On(d.path))
		if err != nil || !fi.IsDir() {
			out = append(out, Result{Area: area, Check: d.key, Status: Fail,
				Message: fmt.Sprintf("%s %s does not exist", d.key, d.path), Symptom: d.what,
				Cause: "the directory tree was never created", Fix: "diskless init"})
			continue
		}
		out = append(out, ok(area, d.key, d.path+" exists"))
	}
	return out
}

func checkInterface(e *Env) []Result {
	c := e.Cfg
	const area = "config"
	ifs, err := e.Host.Interfaces()
	if err != nil {
		return []Result{{Area: area, Check: "interface", Status: Warn, Message: "cannot list interfaces: " + err.Error()}}
	}
	for _, i := range ifs {
		for _, p := range i.Prefixes {
			if p.Addr() != c.Master {
				continue
			}
			var out []Result
			if i.Name != c.Interface {
				out = append(out, Result{Area: area, Check: "interface", Status: Warn,
					Message: fmt.Sprintf("master %s is on %s but interface is set to %s", c.Master, i.Name, c.Interface),
					Cause:   "the configured interface differs from the one holding the master address",
					Fix:     config.EnvName("interface") + "=" + i.Name + " or set interface: " + i.Name + " in " + c.File})
			} else {
				out = append(out, ok(area, "interface", fmt.Sprintf("master %s on %s", c.Master, i.Name)))
			}
			if !i.Up {
				out = append(out, Result{Area: area, Check: "interface up", Status: Fail,
					Message: i.Name + " is down", Symptom: "PXE-E51: No DHCP or proxyDHCP offers were received",
					Cause: "the interface facing the slaves is down", Fix: "ip link set " + i.Name + " up"})
			}
			if !i.Multicast {
				out = append(out, Result{Area: area, Check: "multicast", Status: Fail,
					Message: i.Name + " lacks MULTICAST", Symptom: "PXE clients get no DHCP offers",
					Cause: "the guide requires MULTICAST on the slaves' interface", Fix: "ip link set " + i.Name + " multicast on"})
			} else {
				out = append(out, ok(area, "multicast", i.Name+" has MULTICAST"))
			}
			if p.Masked() != c.Subnet {
				out = append(out, Result{Area: area, Check: "subnet", Status: Fail,
					Message: fmt.Sprintf("subnet %s does not match %s's %s", c.Subnet, i.Name, p.Masked()),
					Symptom: "slaves get addresses the network cannot route",
					Cause:   "the configured subnet is not the interface's", Fix: fmt.Sprintf("set subnet: %s in %s", p.Masked(), c.File)})
			} else {
				out = append(out, ok(area, "subnet", fmt.Sprintf("%s matches %s", c.Subnet, i.Name)))
			}
			return out
		}
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return []Result{{Area: area, Check: "interface", Status: Fail,
		Message: fmt.Sprintf("master %s is not an address of any local interface (%s)", c.Master, strings.Join(names, ", ")),
		Symptom: "PXE-E51: No DHCP or proxyDHCP offers were received",
		Cause:   "no interface holds the master address, so nothing answers the slaves",
		Fix:     fmt.Sprintf("ip addr add %s/%d dev %s", c.Master, c.Subnet.Bits(), c.Interface)}}
}
