// Package hugeheap backs the first part of a short command's Go heap with
// transparent huge pages. A one-slave change at 10,000 slaves allocates
// about 15 MiB that it never frees (commands run with a high GOGC); each
// fresh 4 KiB page costs a page fault, and on this project's VMs the
// ~3,800 faults were half of the command's CPU. Asking the kernel for
// 2 MiB pages over that range (madvise MADV_HUGEPAGE, honoured when
// /sys/kernel/mm/transparent_hugepage/enabled is "madvise" or "always")
// turns them into a handful.
//
// Trade-off: a command's resident memory grows in 2 MiB steps (a heap of
// 15 MiB stays about 16 MiB). serve, which runs for months, gives the
// range back to ordinary pages (Region.Release). GODEBUG=disablethp=1,
// Go's own switch against huge pages, turns this off too.
package hugeheap

import (
	"os"
	"runtime"
	"strings"
	"unsafe"
)

// pageSize is a transparent huge page on amd64 and arm64 with 4 KiB pages;
// elsewhere no aligned range is advised and nothing changes.
const pageSize = 2 << 20

// Region is the advised part of the heap (zero when nothing was advised).
type Region struct{ start, length uintptr }

// Advise reserves n bytes of fresh heap, advises huge pages over their
// aligned part, and frees them again (one collection of a heap that is
// still almost empty) for the allocations that follow to land there. Call
// it first thing in main, before the heap has grown.
func Advise(n int) Region {
	if n < 2*pageSize || disabled(os.Getenv("GODEBUG")) {
		return Region{}
	}
	b := make([]byte, n) // fresh from the OS: neither touched nor zeroed here
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := (p + pageSize - 1) &^ (pageSize - 1)
	end := (p + uintptr(n)) &^ (pageSize - 1)
	r := Region{}
	if end > start && madvise(start, end-start, true) {
		r = Region{start, end - start}
	}
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
	return r
}

// Release gives the region back to ordinary pages (pages already huge
// stay so); for long-running processes.
func (r Region) Release() {
	if r.length > 0 {
		madvise(r.start, r.length, false)
	}
}

// Len is the advised length in bytes (0: nothing advised).
func (r Region) Len() int { return int(r.length) }

// Contains says whether address p is in the region.
func (r Region) Contains(p uintptr) bool { return p >= r.start && p < r.start+r.length }

// disabled reads Go's disablethp setting from a GODEBUG value.
func disabled(godebug string) bool {
	on := false
	for kv := range strings.SplitSeq(godebug, ",") {
		if k, v, _ := strings.Cut(strings.TrimSpace(kv), "="); k == "disablethp" {
			on = v != "0" // the last setting wins, as in the runtime
		}
	}
	return on
}
