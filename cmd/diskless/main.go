// Command diskless turns a Linux master into the boot server of diskless slaves.
package main

import (
	"os"

	"github.com/diskless-project/diskless/cmd/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
