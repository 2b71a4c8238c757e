// cgoalloc — a Go program whose C code allocates through malloc (cgo), for
// tests/e2e/cgo.sh. Go's runtime ends the process by the exit_group system call and runs
// no exit handler, so a profiler that publishes at exit would lose what it had not
// published yet (preload/shim.c, go_program).
//
//	cgoalloc small N  8 goroutines, each N C blocks of 64..163 bytes made (c_small) and
//	                  freed; prints the sum of their first bytes and returns from main
//	cgoalloc big N    N C blocks of 4 MiB made (c_big) and kept; prints N and returns
//	                  from main at once
package main

/*
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) static void *c_small(int n) { char *p = malloc(n); memset(p, 1, n); return p; }
__attribute__((noinline)) static void *c_big(int n) { char *p = malloc(n); memset(p, 1, 64); return p; }
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"unsafe"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: cgoalloc small|big N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "small":
		var wg sync.WaitGroup
		var mu sync.Mutex
		sum := 0
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					p := C.c_small(C.int(64 + i%100))
					b := *(*byte)(unsafe.Pointer(p))
					C.free(p)
					mu.Lock()
					sum += int(b)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		fmt.Println("sum", sum)
	case "big":
		keep := make([]unsafe.Pointer, 0, n)
		for i := 0; i < n; i++ {
			keep = append(keep, C.c_big(4<<20))
		}
		fmt.Println("kept", len(keep))
	default:
		os.Exit(2)
	}
}
