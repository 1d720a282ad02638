// Package charttest renders and lints the diskless Helm chart with Helm's
// own Go module (pinned in go.mod), and checks the objects it renders. It
// is a module of its own so the main module does not build Kubernetes.
package charttest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

const chartDir = "../diskless"

// render renders the chart with values over its defaults and returns the
// objects of the DaemonSet template.
func render(t *testing.T, values map[string]any) map[string]any {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "boot", Namespace: "diskless", IsInstall: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	var ds map[string]any
	dec := yaml.NewDecoder(strings.NewReader(out["diskless/templates/daemonset.yaml"]))
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("rendered daemonset.yaml does not parse: %v\n%s", err, out["diskless/templates/daemonset.yaml"])
		}
		if obj["kind"] == "DaemonSet" {
			ds = obj
		}
	}
	if ds == nil {
		t.Fatalf("no DaemonSet rendered:\n%v", out)
	}
	return ds
}

// at walks a rendered object: keys for maps, "0" for a list's first item.
func at(t *testing.T, obj any, path ...string) any {
	t.Helper()
	for _, p := range path {
		switch o := obj.(type) {
		case map[string]any:
			obj = o[p]
		case []any:
			if len(o) == 0 {
				t.Fatalf("%v: empty list at %s", path, p)
			}
			obj = o[0]
		default:
			t.Fatalf("%v: no %s in %T", path, p, obj)
		}
	}
	return obj
}

func TestLint(t *testing.T) {
	for _, values := range []map[string]any{nil, {"state": map[string]any{"existingClaim": "diskless-state"}}} {
		l := lint.RunAll(chartDir, values, "diskless")
		for _, m := range l.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("helm lint (values %v): %v", values, m)
			}
		}
	}
}

// TestBadValues: values.schema.json refuses what serve could not run with.
func TestBadValues(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]any{
		{"httpPort": "4080x"}, {"httpPort": 70000}, {"serverId": "S 2"}, {"interface": "eth0; reboot"}, {"stat": map[string]any{}},
	} {
		if _, err := util.ToRenderValues(ch, bad, common.ReleaseOptions{Name: "boot", Namespace: "diskless"}, nil); err == nil {
			t.Errorf("values %v accepted", bad)
		}
	}
}

func TestDefaults(t *testing.T) {
	ds := render(t, nil)
	spec := at(t, ds, "spec", "template", "spec")
	if at(t, spec, "hostNetwork") != true {
		t.Error("not on the host's network: DHCP and TFTP would not reach the boot LAN")
	}
	if got := at(t, spec, "nodeSelector", "diskless.io/boot-server"); got != "true" {
		t.Errorf("nodeSelector %v, want the diskless.io/boot-server label", got)
	}
	c := at(t, spec, "containers", "0")
	var args []string
	for _, a := range at(t, c, "args").([]any) {
		args = append(args, a.(string))
	}
	if got := strings.Join(args, " "); got != "--root /state serve --server-id $(SERVER_ID) --http-port 4080" {
		t.Errorf("args %q", got)
	}
	if got := at(t, c, "env", "0", "valueFrom", "fieldRef", "fieldPath"); got != "spec.nodeName" {
		t.Errorf("SERVER_ID from %v, want the node's name", got)
	}
	if got := at(t, c, "image"); got != "ghcr.io/diskless-project/diskless:0.1.0" {
		t.Errorf("image %v", got)
	}
	if got := at(t, spec, "volumes", "0", "hostPath", "path"); got != "/var/lib/diskless-server" {
		t.Errorf("state volume %v", got)
	}
	if at(t, c, "volumeMounts", "0", "readOnly") != true {
		t.Error("the state is mounted writable: serve never writes it")
	}
}

func TestSharedStateAndServerID(t *testing.T) {
	ds := render(t, map[string]any{
		"serverId": "s2", "interface": "eth1", "extraArgs": []any{"--no-dhcp"},
		"state": map[string]any{"existingClaim": "diskless-state"},
	})
	spec := at(t, ds, "spec", "template", "spec")
	if got := at(t, spec, "volumes", "0", "persistentVolumeClaim", "claimName"); got != "diskless-state" {
		t.Errorf("claim %v", got)
	}
	c := at(t, spec, "containers", "0")
	if got := at(t, c, "env", "0", "value"); got != "s2" {
		t.Errorf("SERVER_ID %v, want s2", got)
	}
	var b bytes.Buffer
	for _, a := range at(t, c, "args").([]any) {
		b.WriteString(a.(string) + " ")
	}
	if got := b.String(); !strings.Contains(got, "--interface eth1 ") || !strings.HasSuffix(got, "--no-dhcp ") {
		t.Errorf("args %q", got)
	}
}
