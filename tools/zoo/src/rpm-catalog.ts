// The packages the RPM-based zoo guests have installed: real names, epochs, versions, releases,
// arches and summaries of the distributions' own packages (built here as tiny stand-ins).
import type { RpmPackageSpec } from "./rpm-build.js";

const gpl2 = "GPLv2";

export const el6Packages: RpmPackageSpec[] = [
  { name: "centos-release", epoch: 0, version: "6", release: "10.el6.centos.12.3", arch: "noarch", summary: "CentOS release file", license: gpl2, files: ["/etc/centos-release"] },
  { name: "initscripts", epoch: 0, version: "9.03.61", release: "1.el6.centos", arch: "x86_64", summary: "The inittab file and the /etc/init.d scripts", license: gpl2, files: ["/etc/rc.d/init.d/network"] },
  { name: "kernel", epoch: 0, version: "2.6.32", release: "754.35.1.el6", arch: "x86_64", summary: "The Linux kernel", license: gpl2 },
  { name: "kernel-xen", epoch: 0, version: "2.6.18", release: "419.el5", arch: "x86_64", summary: "The Linux kernel compiled for Xen VM operations", license: gpl2 },
  { name: "httpd", epoch: 0, version: "2.2.15", release: "69.el6.centos", arch: "x86_64", summary: "Apache HTTP Server", license: "ASL 2.0", files: ["/usr/sbin/httpd"] },
  { name: "php", epoch: 0, version: "5.3.3", release: "50.el6_10", arch: "x86_64", summary: "PHP scripting language for creating dynamic web sites", license: "PHP" },
  { name: "mysql-server", epoch: 0, version: "5.1.73", release: "8.el6_8", arch: "x86_64", summary: "The MySQL server and related files", license: "GPLv2 with exceptions" },
  { name: "openssh-server", epoch: 0, version: "5.3p1", release: "124.el6_10", arch: "x86_64", summary: "An open source SSH server daemon", license: "BSD" },
  { name: "cronie", epoch: 0, version: "1.4.4", release: "16.el6_8.2", arch: "x86_64", summary: "Cron daemon for executing programs at set times", license: "MIT and BSD and ISC and GPLv2" },
  { name: "dhclient", epoch: 12, version: "4.1.1", release: "63.P1.el6.centos", arch: "x86_64", summary: "Provides the dhclient ISC DHCP client daemon and dhclient-script", license: "ISC" },
  { name: "tzdata", epoch: 0, version: "2020a", release: "1.el6", arch: "noarch", summary: "Timezone data", license: "Public Domain" },
];

export const el7Packages: RpmPackageSpec[] = [
  { name: "centos-release", epoch: 0, version: "7", release: "9.2009.1.el7.centos", arch: "x86_64", summary: "CentOS Linux release file", license: gpl2, files: ["/etc/centos-release"] },
  { name: "systemd", epoch: 0, version: "219", release: "78.el7_9.9", arch: "x86_64", summary: "A System and Service Manager", license: "LGPLv2+ and MIT and GPLv2+" },
  { name: "kernel", epoch: 0, version: "3.10.0", release: "1127.el7", arch: "x86_64", summary: "The Linux kernel", license: gpl2 },
  { name: "kernel", epoch: 0, version: "3.10.0", release: "1160.el7", arch: "x86_64", summary: "The Linux kernel", license: gpl2 },
  { name: "grub2", epoch: 1, version: "2.02", release: "0.87.el7.centos.7", arch: "x86_64", summary: "Bootloader with support for Linux, Multiboot and more", license: "GPLv3+" },
  { name: "open-vm-tools", epoch: 0, version: "11.0.5", release: "3.el7_9.9", arch: "x86_64", summary: "Open Virtual Machine Tools for virtual machines hosted on VMware", license: "GPLv2", files: ["/usr/bin/vmtoolsd", "/usr/lib/systemd/system/vmtoolsd.service"] },
  { name: "httpd", epoch: 0, version: "2.4.6", release: "97.el7.centos.5", arch: "x86_64", summary: "Apache HTTP Server", license: "ASL 2.0", files: ["/usr/sbin/httpd"] },
  { name: "mariadb-server", epoch: 1, version: "5.5.68", release: "1.el7", arch: "x86_64", summary: "The MariaDB server and related files", license: "GPLv2 with exceptions and LGPLv2 and BSD" },
  { name: "openssh-server", epoch: 0, version: "7.4p1", release: "23.el7_9", arch: "x86_64", summary: "An open source SSH server daemon", license: "BSD" },
  { name: "xfsprogs", epoch: 0, version: "4.5.0", release: "22.el7", arch: "x86_64", summary: "Utilities for managing the XFS filesystem", license: "GPL+ and LGPLv2+" },
  { name: "lvm2", epoch: 7, version: "2.02.187", release: "6.el7_9.5", arch: "x86_64", summary: "Userland logical volume management tools", license: "GPLv2" },
];

export const el9Packages: RpmPackageSpec[] = [
  { name: "rocky-release", epoch: 0, version: "9.4", release: "1.7.el9", arch: "noarch", summary: "Rocky Linux release files", license: "BSD-3-Clause", files: ["/etc/rocky-release"] },
  { name: "systemd", epoch: 0, version: "252", release: "32.el9_4", arch: "x86_64", summary: "System and Service Manager", license: "LGPLv2+ and MIT and GPLv2+" },
  { name: "kernel-core", epoch: 0, version: "5.14.0", release: "362.24.1.el9_3", arch: "x86_64", summary: "The Linux kernel", license: "GPL-2.0-only" },
  { name: "kernel-core", epoch: 0, version: "5.14.0", release: "427.13.1.el9_4", arch: "x86_64", summary: "The Linux kernel", license: "GPL-2.0-only" },
  { name: "grub2-efi-x64", epoch: 1, version: "2.06", release: "77.el9.rocky.0.1", arch: "x86_64", summary: "GRUB for EFI systems", license: "GPLv3+" },
  { name: "shim-x64", epoch: 0, version: "15.8", release: "3.el9", arch: "x86_64", summary: "First-stage UEFI bootloader", license: "BSD" },
  { name: "NetworkManager", epoch: 1, version: "1.46.0", release: "4.el9_4", arch: "x86_64", summary: "Network connection manager and user applications", license: "GPL-2.0-or-later AND LGPL-2.1-or-later" },
  { name: "openssh-server", epoch: 0, version: "8.7p1", release: "38.el9", arch: "x86_64", summary: "An open source SSH server daemon", license: "BSD" },
  { name: "nginx", epoch: 1, version: "1.20.1", release: "14.el9_2.1", arch: "x86_64", summary: "A high performance web server and reverse proxy server", license: "BSD" },
  { name: "qemu-guest-agent", epoch: 17, version: "8.2.0", release: "11.el9_4", arch: "x86_64", summary: "QEMU guest agent", license: "GPLv2 and GPLv2+ and CC-BY" },
  { name: "dnf", epoch: 0, version: "4.14.0", release: "9.el9", arch: "noarch", summary: "Package manager", license: "GPL-2.0-or-later AND GPL-1.0-only" },
];

/** Every package the zoo builds: one rpmbuild run makes them all. */
export const allRpmPackages: RpmPackageSpec[] = [...el6Packages, ...el7Packages, ...el9Packages];
