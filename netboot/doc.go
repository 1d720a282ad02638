// Package netboot holds what the boot service and the boot configs share:
// the kinds of network-boot clients, the boot file each is handed, and the
// per-slave boot-stage tracker that /status and `diskless status` show.
// The servers live in subpackages (dhcpd, tftpd, httpd).
package netboot
