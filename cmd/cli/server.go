package cli

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/diskless-project/diskless/cluster"
	"github.com/diskless-project/diskless/slave"
)

// NewCmdServer builds `diskless server` and its subcommands.
func NewCmdServer(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "server", Short: "Manage the boot servers besides the master (see `diskless push`)", Args: noArgs}
	cmd.AddCommand(NewCmdServerAdd(f, nil), NewCmdServerSet(f, nil), NewCmdServerList(f), NewCmdServerShow(f), NewCmdServerRm(f, nil))
	return cmd
}

// serverFields are the per-server flags of add and set.
type serverFields struct {
	SSH, Identity, Dir, Address, Subnet, Interface string
	Port                                           int
	Relays, Circuits                               []string
}

func (s *serverFields) register(fl *pflag.FlagSet) {
	fl.StringVar(&s.SSH, "ssh", "", "how push logs in: user@host")
	fl.IntVar(&s.Port, "port", 22, "SSH port")
	fl.StringVar(&s.Identity, "identity", "", "private key file on the master (besides ssh-agent)")
	fl.StringVar(&s.Dir, "dir", "", "the server's `serve --root`, as its SFTP account sees it (default: its login directory)")
	fl.StringVar(&s.Address, "address", "", "the server's IPv4 address on the slaves' side (default: the host of --ssh)")
	fl.StringVar(&s.Subnet, "subnet", "", "the server's own segment in CIDR form when it is not the master's subnet")
	fl.StringVar(&s.Interface, "interface", "", "the server's interface facing the slaves (default: the master's interface)")
	fl.StringArrayVar(&s.Relays, "relay", nil, "a DHCP relay (its giaddr) whose slaves this server answers (repeatable)")
	fl.StringArrayVar(&s.Circuits, "circuit", nil, "an option 82 circuit ID whose slaves this server answers (repeatable)")
}

// apply sets the flags the user gave on s.
func (s *serverFields) apply(fl *pflag.FlagSet, sv *slave.Server) error {
	if fl.Changed("ssh") {
		sv.SSH = s.SSH
	}
	if fl.Changed("port") {
		sv.Port = s.Port
	}
	if fl.Changed("identity") {
		sv.Identity = s.Identity
	}
	if fl.Changed("dir") {
		sv.Dir = s.Dir
	}
	if fl.Changed("interface") {
		sv.Interface = s.Interface
	}
	if fl.Changed("subnet") {
		sv.Subnet = s.Subnet
	}
	if fl.Changed("address") {
		sv.Address = s.Address
	}
	if fl.Changed("relay") {
		sv.Relays = nil
		for _, r := range s.Relays {
			if r == "" {
				continue
			}
			a, err := netip.ParseAddr(r)
			if err != nil {
				return fmt.Errorf("invalid --relay %q: expected a relay agent's IPv4 address (its giaddr)", r)
			}
			sv.Relays = append(sv.Relays, a)
		}
	}
	if fl.Changed("circuit") {
		sv.Circuits = nil
		for _, c := range s.Circuits {
			if c != "" {
				sv.Circuits = append(sv.Circuits, c)
			}
		}
	}
	return nil
}

// ServerPutOptions are `server add` and `server set`'s inputs.
type ServerPutOptions struct {
	Name    string
	Replace bool
	Fields  serverFields
	flags   *pflag.FlagSet
}

// NewCmdServerAdd builds `diskless server add`.
func NewCmdServerAdd(f *Factory, runF func(*ServerPutOptions) error) *cobra.Command {
	return newCmdServerPut(f, runF, false)
}

// NewCmdServerSet builds `diskless server set`.
func NewCmdServerSet(f *Factory, runF func(*ServerPutOptions) error) *cobra.Command {
	return newCmdServerPut(f, runF, true)
}

func newCmdServerPut(f *Factory, runF func(*ServerPutOptions) error, replace bool) *cobra.Command {
	opts := &ServerPutOptions{Replace: replace}
	cmd := &cobra.Command{
		Use:     "add NAME --ssh USER@HOST [--port N] [--identity FILE] [--relay GIADDR]...",
		Short:   "Register a boot server (it runs `diskless serve --server-id NAME`)",
		Example: "  diskless server add s2 --ssh root@10.0.0.2 --relay 10.2.0.1",
		Args:    exactArgs(1, "the server's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.flags = args[0], cmd.Flags()
			if runF != nil {
				return runF(opts)
			}
			return runServerPut(f, opts)
		},
	}
	if replace {
		cmd.Use = "set NAME [--ssh USER@HOST] [--port N] [--relay GIADDR]..."
		cmd.Short = "Change a boot server's fields (a list flag replaces the list; --relay '' empties it)"
		cmd.Example = "  diskless server set s2 --relay 10.2.0.1 --relay 10.2.1.1"
		cmd.ValidArgsFunction = completeServers(f)
	}
	opts.Fields.register(cmd.Flags())
	if !replace {
		_ = cmd.MarkFlagRequired("ssh")
	}
	return cmd
}

func runServerPut(f *Factory, o *ServerPutOptions) error {
	sv := slave.Server{Name: o.Name}
	c, reg, err := f.Registry()
	if err != nil {
		return err
	}
	if cur, ok := reg.FindServer(o.Name); ok && o.Replace {
		sv = *cur
	}
	if err := o.Fields.apply(o.flags, &sv); err != nil {
		return err
	}
	got, err := c.PutServer(sv, o.Replace)
	if err != nil {
		return err
	}
	switch {
	case f.DryRun:
	case !f.humanOutput():
		return f.print(got, nil)
	default:
		verb := "added"
		if o.Replace {
			verb = "changed"
		}
		fmt.Fprintf(f.IO.Out, "%s server %s %s\n", verb, got.Name, got.SSH)
	}
	return nil
}

// NewCmdServerList builds `diskless server list`.
func NewCmdServerList(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the boot servers and how many slaves each answers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, reg, err := f.Registry()
			if err != nil {
				return err
			}
			t := &Table{Header: []string{"NAME", "SSH", "PORT", "ADDRESS", "RELAYS", "SLAVES"}}
			out := []serverRow{}
			for _, s := range reg.Servers {
				n := assigned(reg, s.Name)
				t.Add(s.Name, s.SSH, strconv.Itoa(s.SSHPort()), dash(addrString(s.BootAddress())), dash(relayList(s)), strconv.Itoa(n))
				out = append(out, serverRow{Server: s, Slaves: n})
			}
			return f.print(out, t)
		},
	}
}

// serverRow is a server with the count of slaves assigned to it by name.
type serverRow struct {
	slave.Server `yaml:",inline"`
	Slaves       int `json:"slaves" yaml:"slaves"`
}

func assigned(reg *slave.Registry, name string) int {
	n := 0
	for _, s := range reg.Slaves {
		if s.BootServer == name {
			n++
		}
	}
	return n
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func relayList(s slave.Server) string {
	var out []string
	for _, r := range s.Relays {
		out = append(out, r.String())
	}
	for _, c := range s.Circuits {
		out = append(out, "circuit:"+c)
	}
	return strings.Join(out, ",")
}

// NewCmdServerShow builds `diskless server show`.
func NewCmdServerShow(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "show NAME",
		Short:             "Show one boot server",
		Args:              exactArgs(1, "a server's name"),
		ValidArgsFunction: completeServers(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, reg, err := f.Registry()
			if err != nil {
				return err
			}
			s, ok := reg.FindServer(args[0])
			if !ok {
				return cluster.NoServer(args[0])
			}
			t := &Table{Header: []string{"FIELD", "VALUE"}}
			t.Add("name", s.Name)
			t.Add("ssh", s.SSH)
			t.Add("port", strconv.Itoa(s.SSHPort()))
			t.Add("identity", dash(s.Identity))
			t.Add("dir", dash(s.Dir))
			t.Add("address", dash(addrString(s.BootAddress())))
			t.Add("subnet", dash(s.Subnet))
			t.Add("interface", dash(s.Interface))
			t.Add("relays", dash(relayList(*s)))
			n := assigned(reg, s.Name)
			t.Add("slaves", strconv.Itoa(n))
			return f.print(serverRow{Server: *s, Slaves: n}, t)
		},
	}
}

// ServerRmOptions are `server rm`'s inputs.
type ServerRmOptions struct{ Name string }

// NewCmdServerRm builds `diskless server rm`.
func NewCmdServerRm(f *Factory, runF func(*ServerRmOptions) error) *cobra.Command {
	opts := &ServerRmOptions{}
	return &cobra.Command{
		Use:               "rm NAME",
		Short:             "Unregister a boot server (refused while slaves are assigned to it)",
		Args:              exactArgs(1, "a server's name"),
		ValidArgsFunction: completeServers(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			c, err := f.Cluster()
			if err != nil {
				return err
			}
			s, err := c.RemoveServer(opts.Name)
			if err != nil {
				return err
			}
			switch {
			case f.DryRun:
			case !f.humanOutput():
				return f.print(s, nil)
			default:
				fmt.Fprintf(f.IO.Out, "removed server %s\n", s.Name)
			}
			return nil
		},
	}
}

// completeServers completes a registered server's name.
func completeServers(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		_, reg, err := f.Registry()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, s := range reg.Servers {
			names = append(names, s.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
