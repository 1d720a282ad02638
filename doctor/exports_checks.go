package doctor

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/diskless-project/diskless/nfs"
)

// CheckExports: each slave's root is exported read-write with no_root_squash
// to exactly its address; nothing is read-write to the world; /usr and /opt
// are read-only.
func CheckExports(e *Env) []Result {
	const area = "exports"
	c := e.Cfg
	file := "/etc/exports"
	data, err := os.ReadFile(c.On(file))
	if err != nil {
		return []Result{{Area: area, Check: "exports file", Status: Fail, Message: fmt.Sprintf("cannot read %s: %v", file, err),
			Symptom: "VFS: Unable to mount root fs via NFS", Cause: "nothing is exported", Fix: "diskless nfs exports"}}
	}
	exports, err := nfs.ParseExports(string(data))
	if err != nil {
		return []Result{{Area: area, Check: "exports file", Status: Fail, Message: fmt.Sprintf("%s: %v", file, err),
			Symptom: "exportfs refuses the file: nothing is exported", Cause: "a broken line", Fix: "edit " + file + ", then diskless nfs exports"}}
	}
	byPath := map[string][]nfs.Export{}
	var out []Result
	for _, x := range exports {
		byPath[filepath.Clean(x.Path)] = append(byPath[filepath.Clean(x.Path)], x)
		if x.RW() && (x.Client == "*" || x.Client == "0.0.0.0/0") {
			out = append(out, Result{Area: area, Check: "world-writable export", Status: Fail,
				Message: fmt.Sprintf("%s line %d exports %s read-write to every host", file, x.LineNo, x.Path),
				Cause:   "any machine that reaches the master can write it", Fix: "edit " + file + " line " + fmt.Sprint(x.LineNo) + ", then diskless nfs exports"})
		}
	}
	for _, shared := range []string{"/usr", "/opt"} {
		for _, x := range byPath[shared] {
			if x.RW() {
				out = append(out, Result{Area: area, Check: "shared " + shared, Status: Fail,
					Message: fmt.Sprintf("%s line %d exports %s read-write to %s", file, x.LineNo, shared, x.Client),
					Cause:   "one slave can change every slave's " + shared, Fix: "diskless nfs exports (exports " + shared + " read-only)"})
			}
		}
	}
	if e.Registry == nil {
		return out
	}
	good := 0
	for i := range e.Registry.Slaves {
		s := &e.Registry.Slaves[i]
		if !e.wants(s.IP) {
			continue
		}
		ip := s.IP.String()
		root := filepath.Join(c.DisklessDir, ip)
		var mine, others []nfs.Export
		for _, x := range byPath[root] {
			if x.OnlyTo(s.IP) {
				mine = append(mine, x)
			} else if x.Allows(s.IP, s.Hostname) || x.RW() {
				others = append(others, x)
			}
		}
		fail := func(check, msg, symptom, cause string) {
			out = append(out, Result{Area: area, Slave: ip, Check: check, Status: Fail, Message: msg,
				Symptom: symptom, Cause: cause, Fix: "diskless nfs exports"})
		}
		switch {
		case len(mine) == 0 && len(others) == 0:
			fail("root export", root+" is not exported", "VFS: Unable to mount root fs via NFS", "no line of "+file+" exports it to "+ip)
		case len(mine) == 0:
			fail("root export", fmt.Sprintf("%s is exported to %s, not to exactly %s", root, others[0].Client, ip),
				"VFS: Unable to mount root fs via NFS (or another slave mounts this root)", "the export's client is not this slave's address")
		case !mine[0].RW():
			fail("root export", root+" is exported read-only", "init fails: read-only file system", "the export lacks rw")
		case mine[0].RootSquash():
			fail("root export", root+" is exported with root squashed", "init fails: permission denied on root-owned files", "the export lacks no_root_squash")
		case len(others) > 0:
			fail("root export", fmt.Sprintf("%s is also exported to %s (line %d)", root, others[0].Client, others[0].LineNo),
				"another host can mount this slave's root read-write", "an extra export line")
		default:
			good++
			if len(e.Only) > 0 { // asked about particular slaves: answer each
				out = append(out, Result{Area: area, Slave: ip, Check: "root export", Status: OK, Message: root + " exported rw, no_root_squash, to " + ip + " only"})
			}
		}
	}
	if good > 0 && len(e.Only) == 0 {
		out = append(out, ok(area, "slave roots", fmt.Sprintf("%d slave roots exported rw, no_root_squash, each to its own address", good)))
	}
	return out
}
