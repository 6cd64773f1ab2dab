// Command hello prints a greeting built in C and framed in Go.
package main

import (
	"fmt"
	"os"

	"example.com/hello/greet"
	"example.com/hello/textutil"
)

func main() {
	name := "world"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	msg := greet.Hello(name)
	fmt.Println(textutil.Banner(msg))
	fmt.Printf("checksum %08x\n", greet.Checksum(msg))
}
