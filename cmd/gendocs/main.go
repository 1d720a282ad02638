// Command gendocs writes diskless's man pages: `gendocs man DIR`.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/diskless-project/diskless/cmd/cli"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "man" {
		fmt.Fprintln(os.Stderr, "usage: gendocs man DIR")
		os.Exit(2)
	}
	if err := run(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := cli.NewRootCmd(&cli.Factory{IO: cli.NewIOStreams(os.Stdin, os.Stdout, os.Stderr)})
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	// A fixed date (SOURCE_DATE_EPOCH, set by the Makefile to the last change
	// of the commands) keeps regenerated pages identical to committed ones.
	date := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: expected seconds since 1970", s)
		}
		date = time.Unix(sec, 0).UTC()
	}
	hdr := &doc.GenManHeader{Title: "DISKLESS", Section: "1", Source: "diskless " + cli.Version, Manual: "diskless manual", Date: &date}
	return doc.GenManTree(root, hdr, dir)
}
