/** Default bound of GuestFS.readFile, as the interface documents. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Bound for a small configuration file (release files, fstab, grub.cfg…), as libguestfs's. */
export const SMALL_FILE_BYTES = 2 * 1000 * 1000;

/** Bound for a package database (rpmdb, dpkg status) read whole into memory. */
export const PACKAGE_DB_BYTES = 256 * 1024 * 1024;
