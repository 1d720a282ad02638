package dhcpd

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portHeldError says which process already holds UDP port on this host
// (in this network namespace), so the admin knows what to stop.
func portHeldError(ifName string, port int) error {
	holders := udpPortHolders(port)
	who := "another process"
	if len(holders) > 0 {
		who = strings.Join(holders, ", ")
	}
	return fmt.Errorf("dhcp: UDP port %d on %s is already held by %s: another DHCP server is running there; stop it (or serve another interface) before starting diskless serve", port, ifName, who)
}

// udpPortHolders finds the sockets bound to port in /proc/net/udp of the
// calling thread's network namespace, then the processes owning them.
func udpPortHolders(port int) []string {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/thread-self/net/udp", "/proc/self/net/udp"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port && fs[9] != "0" {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
		fh.Close()
		if len(inodes) > 0 {
			break
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	var out []string
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range pids {
		pid := filepath.Base(dir)
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(dir + "/fd/" + fd.Name())
			if err == nil && inodes[link] {
				comm, _ := os.ReadFile(dir + "/comm")
				out = append(out, fmt.Sprintf("%s (pid %s)", strings.TrimSpace(string(comm)), pid))
				break
			}
		}
	}
	if len(out) == 0 {
		for range inodes {
			out = append(out, "a socket of a process we cannot see")
			break
		}
	}
	return out
}
