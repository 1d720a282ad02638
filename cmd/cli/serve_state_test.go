package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeBootStatusSurvivesRestart (issue 20.10): the boot stages serve
// saw are saved atomically in <state_dir>/boot-status.json when it stops
// and restored when it starts, so `diskless status` after a restart still
// shows them; a slave never seen shows "never" (JSON: "at": null).
func TestServeBootStatusSurvivesRestart(t *testing.T) {
	root := t.TempDir()
	dlIn(t, root, "init", "--master", "127.0.0.1", "--subnet", "127.0.0.0/8")
	dlIn(t, root, "slave", "add", "127.0.0.21", "--mac", "00:02:a5:04:3b:66", "--kernel", "6.1.0")
	dlIn(t, root, "slave", "add", "127.0.0.22", "--mac", "00:02:a5:04:3b:67", "--kernel", "6.1.0")
	_, hport := freePorts(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hport)
	args := []string{"serve", "--no-dhcp", "--no-tftp", "--http-addr", "127.0.0.1", "--http-port", fmt.Sprint(hport)}

	srv := startServe(t, root, nil, args...)
	srv.waitHTTP(t, base)
	resp, err := http.Get(base + "/pxelinux.cfg/7F000015") // 127.0.0.21's config
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("config fetch: %v %v", resp, err)
	}
	resp.Body.Close()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-srv.exited:
		if err != nil {
			t.Fatalf("serve exit: %v\n%s", err, srv.log())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", srv.log())
	}
	state := filepath.Join(root, "var/lib/diskless/boot-status.json")
	data, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(data), `"stage": "config-fetched"`) {
		t.Fatalf("boot status file after stop: %v\n%s\nserve log:\n%s", err, data, srv.log())
	}

	srv = startServe(t, root, nil, args...)
	srv.waitHTTP(t, base)
	srv.mustLog(t, 5*time.Second, `msg="boot status restored" file=/var/lib/diskless/boot-status.json slaves=1`)
	out := dlIn(t, root, "status", "--server", base)
	for _, want := range []string{"127.0.0.21  00:02:a5:04:3b:66  slave21   config-fetched", "127.0.0.22  00:02:a5:04:3b:67  slave22   none            never"} {
		if !strings.Contains(out, want) {
			t.Errorf("status after restart lacks %q:\n%s", want, out)
		}
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(dlIn(t, root, "status", "--server", base, "-o", "json")), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("status -o json: %v %v", rows, err)
	}
	if at, ok := rows[1]["at"]; !ok || at != nil {
		t.Errorf("never-seen slave: \"at\" is %v, want null", at)
	}
	if at, _ := rows[0]["at"].(string); !strings.HasPrefix(at, time.Now().Format("2006")) {
		t.Errorf("restored slave: \"at\" is %q, want this year's time", at)
	}

	// A junk state file is named and ignored: serve starts all the same.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.exited
	os.WriteFile(state, []byte("{junk"), 0o644)
	srv = startServe(t, root, nil, args...)
	srv.waitHTTP(t, base)
	srv.mustLog(t, 5*time.Second, `msg="boot status not restored"`)
}
