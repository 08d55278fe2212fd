// Command linkerd-standin is a STAND-IN for Linkerd's controller binary
// (linkerd2 controller/cmd): it provides the identity controller and the
// proxy-injector webhook, reimplemented for this project's local test tier
// because Linkerd's own Go modules cannot be fetched here. See README.md.
package main

import (
	"fmt"
	"os"

	"linkerd-rotator/e2e/standins/internal/identity"
	"linkerd-rotator/e2e/standins/internal/injector"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: linkerd-standin <identity|proxy-injector> [flags]")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "identity":
		os.Exit(identity.Main(os.Args[2:]))
	case "proxy-injector":
		os.Exit(injector.Main(os.Args[2:]))
	case "-h", "--help", "help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
}
