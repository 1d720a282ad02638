package hugeheap

import "syscall"

const (
	madvHugePage   = 14 // MADV_HUGEPAGE
	madvNoHugePage = 15 // MADV_NOHUGEPAGE
)

// madvise sets or clears huge pages over [start, start+n); false when the
// kernel refuses (no transparent huge pages).
func madvise(start, n uintptr, huge bool) bool {
	advice := uintptr(madvNoHugePage)
	if huge {
		advice = madvHugePage
	}
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, start, n, advice)
	return e == 0
}
