// Package textutil is the pure-Go half of the example.
package textutil

import "strings"

// Banner frames s in a box of '*' characters.
func Banner(s string) string {
	line := strings.Repeat("*", len(s)+4)
	return line + "\n* " + s + " *\n" + line
}
