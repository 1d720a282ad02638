package tftpd

import "syscall"

const syscallEADDRINUSE = syscall.EADDRINUSE
