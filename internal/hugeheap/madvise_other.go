//go:build !linux

package hugeheap

func madvise(start, n uintptr, huge bool) bool { return false }
