// Package greet builds greetings in C through cgo.
package greet

/*
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greet.h"

static size_t greet_len(const char *s) { return strlen(s); }
*/
import "C"

import "unsafe"

// Hello returns "Hello, NAME!", formatted by C code.
func Hello(name string) string {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	size := C.greet_len(cname) + 16
	buf := (*C.char)(C.malloc(size))
	defer C.free(unsafe.Pointer(buf))
	C.greet_format(buf, size, cname)
	return C.GoString(buf)
}

// Checksum returns the 32-bit FNV-1a hash of s, computed in C.
func Checksum(s string) uint32 {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return uint32(C.greet_checksum(cs))
}
